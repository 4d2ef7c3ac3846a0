//! The background lane: scheduled runs and webhook deliveries run on
//! threads of their own, at a lower CPU priority than the threads serving
//! Keruj's requests. Their permits (the [`Budget`](super::Budget)) bound how
//! many run at once; the lane bounds what they take from Keruj when the
//! cores are busy: the kernel gives the CPU to Keruj's requests first, and
//! the runs take what is left. Wasm code yields at every epoch tick, so a
//! long run never holds a core against a request either.

use std::future::Future;

/// How much lower than the rest of the host the lane's threads run
/// (`nice` +10: about a tenth of the CPU of a normal thread when both want it).
const NICENESS: i32 = 10;

/// A runtime of its own for background events.
pub struct Lane {
    /// `None` if it could not be built: background events then run on the
    /// caller's runtime, at normal priority (logged once).
    runtime: Option<tokio::runtime::Runtime>,
}

impl Lane {
    /// Half the cores (at least one thread), at [`NICENESS`].
    pub fn new() -> Lane {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let built = tokio::runtime::Builder::new_multi_thread()
            .worker_threads((cores / 2).max(1))
            .thread_name("keruj-background")
            .on_thread_start(lower_priority)
            .enable_all()
            .build();
        match built {
            Ok(runtime) => Lane {
                runtime: Some(runtime),
            },
            Err(error) => {
                tracing::warn!(%error, "no background lane: scheduled runs and webhook deliveries share Keruj's threads");
                Lane { runtime: None }
            }
        }
    }

    /// Starts `work` on the lane (the caller's runtime if there is none).
    pub fn spawn<F>(&self, work: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match &self.runtime {
            Some(runtime) => runtime.spawn(work),
            None => tokio::spawn(work),
        }
    }

    /// Runs `work` on the lane and waits for it. `None` if the lane was
    /// shut down meanwhile (the host is stopping). A panic in `work` goes on
    /// in the caller.
    pub async fn run<F>(&self, work: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let Some(runtime) = &self.runtime else {
            return Some(work.await);
        };
        match runtime.spawn(work).await {
            Ok(output) => Some(output),
            Err(error) if error.is_panic() => std::panic::resume_unwind(error.into_panic()),
            Err(_cancelled) => None,
        }
    }
}

impl Drop for Lane {
    /// A runtime must not be dropped (and wait for its tasks) inside another
    /// runtime, which is where the host stops: let its threads go instead.
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// Lowers the calling thread's priority (Linux: per thread).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority only read their arguments; a failure
    // leaves the thread at its priority, which is still correct.
    unsafe {
        let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, thread, NICENESS);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_a_lower_priority_thread() {
        let lane = Lane::new();
        let caller = tokio::runtime::Runtime::new().unwrap();
        let (name, nice) = caller
            .block_on(lane.run(async {
                let name = std::thread::current().name().map(str::to_owned);
                // SAFETY: reads the calling thread's own priority.
                let nice = unsafe {
                    let thread = libc::syscall(libc::SYS_gettid) as libc::id_t;
                    libc::getpriority(libc::PRIO_PROCESS, thread)
                };
                (name, nice)
            }))
            .expect("the lane runs");
        assert_eq!(name.as_deref(), Some("keruj-background"));
        assert!(nice >= NICENESS, "nice {nice}");
        drop(lane);
        // Dropped inside a runtime, it does not panic.
        caller.block_on(async { drop(Lane::new()) });
    }
}
