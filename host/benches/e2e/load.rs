//! The load generator: `wrk` when it is installed (scripts/bench installs
//! it), else a small closed-loop generator built in (one thread and one
//! keep-alive connection per client), so that a smoke run works anywhere.
//!
//! Both keep `connections` requests in flight for `duration` and report
//! requests/s and latency percentiles. Requests rotate over the given
//! (path, body) pairs: apps and companies in the scale runs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What one point measured.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub rps: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    /// Answers other than 2xx, and socket errors.
    pub errors: u64,
    /// The server's CPU time per request, in µs, when measured
    /// ([`Server::measure`](crate::servers::Server::measure)).
    pub cpu_us: Option<f64>,
}

/// One request the generator sends: path, body and headers of its own
/// (the token header is added to every request).
#[derive(Clone, Default)]
pub struct Req {
    pub path: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

pub struct Generator {
    wrk: bool,
}

impl Generator {
    pub fn detect() -> Generator {
        let wrk = Command::new("wrk")
            .arg("--version")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("wrk"));
        Generator { wrk }
    }

    pub fn name(&self) -> &'static str {
        match self.wrk {
            true => "wrk",
            false => "built-in (wrk not installed)",
        }
    }

    pub fn run(
        &self,
        addr: &str,
        token: &str,
        reqs: &[Req],
        connections: usize,
        duration: Duration,
    ) -> Stats {
        match self.wrk {
            true => wrk(addr, token, reqs, connections, duration),
            false => builtin(addr, token, reqs, connections, duration),
        }
    }
}

fn lua_string(s: &str) -> String {
    format!("{s:?}") // Rust's escapes are valid Lua for these ASCII strings
}

fn wrk(addr: &str, token: &str, reqs: &[Req], connections: usize, duration: Duration) -> Stats {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("bench.lua");
    let mut lua = String::from("local reqs = {\n");
    for req in reqs {
        let headers: String = req
            .headers
            .iter()
            .map(|(name, value)| format!("[{}] = {}, ", lua_string(name), lua_string(value)))
            .collect();
        lua += &format!(
            "  {{{}, {}, {{{headers}}}}},\n",
            lua_string(&req.path),
            lua_string(&req.body)
        );
    }
    lua += &format!(
        r#"}}
wrk.method = "POST"
wrk.headers["x-keruj-app-token"] = {token}
wrk.headers["content-type"] = "application/json"
local i = 0
request = function()
  i = i + 1
  local r = reqs[(i % #reqs) + 1]
  local headers = {{}}
  for name, value in pairs(wrk.headers) do headers[name] = value end
  for name, value in pairs(r[3]) do headers[name] = value end
  return wrk.format(nil, r[1], headers, r[2])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %f %f %d\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout))
end
"#,
        token = lua_string(token)
    );
    std::fs::write(&script, lua).unwrap();
    let threads = connections.clamp(1, 2);
    let out = Command::new("wrk")
        .arg(format!("-t{threads}"))
        .arg(format!("-c{connections}"))
        .arg(format!("-d{}s", duration.as_secs().max(1)))
        .arg("--timeout")
        .arg("10s")
        .arg("-s")
        .arg(&script)
        .arg(format!("http://{addr}"))
        .output()
        .expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "wrk said:\n{text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let f: Vec<f64> = line.split(' ').map(|x| x.parse().unwrap()).collect();
    Stats {
        rps: f[0] / (f[1] / 1e6),
        p50_us: f[2],
        p99_us: f[3],
        errors: f[4] as u64,
        cpu_us: None,
    }
}

fn builtin(addr: &str, token: &str, reqs: &[Req], connections: usize, duration: Duration) -> Stats {
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let results: Vec<(Vec<u32>, u64)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..connections)
            .map(|n| {
                let stop = &stop;
                scope.spawn(move || {
                    let mut latencies = Vec::new();
                    let mut errors = 0;
                    let mut conn = Conn::open(addr);
                    let mut i = n;
                    while !stop.load(Ordering::Relaxed) {
                        let req = &reqs[i % reqs.len()];
                        i += 1;
                        let sent = Instant::now();
                        match conn.as_mut().map(|c| {
                            c.request_with(&req.path, token, &req.headers, &req.body)
                                .map(|(status, _)| status)
                        }) {
                            Some(Ok(200..=299)) => {
                                latencies.push(sent.elapsed().as_micros() as u32)
                            }
                            Some(Ok(_)) => errors += 1,
                            _ => {
                                errors += 1;
                                conn = Conn::open(addr);
                            }
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let elapsed = started.elapsed().as_secs_f64();
    let errors = results.iter().map(|r| r.1).sum();
    let mut all: Vec<u32> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort_unstable();
    let pct = |p: f64| match all.len() {
        0 => 0.0,
        n => all[((n as f64 * p) as usize).min(n - 1)] as f64,
    };
    Stats {
        rps: all.len() as f64 / elapsed,
        p50_us: pct(0.50),
        p99_us: pct(0.99),
        errors,
        cpu_us: None,
    }
}

/// One HTTP/1.1 keep-alive connection, enough for these servers' answers.
pub struct Conn {
    reader: BufReader<TcpStream>,
}

impl Conn {
    pub fn open(addr: &str) -> Option<Conn> {
        let stream = TcpStream::connect(addr).ok()?;
        stream.set_nodelay(true).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .ok()?;
        Some(Conn {
            reader: BufReader::new(stream),
        })
    }

    /// Posts `body`; the status code.
    pub fn post(&mut self, path: &str, token: &str, body: &str) -> std::io::Result<u16> {
        self.request(path, token, body).map(|(status, _)| status)
    }

    /// Posts `body`; the status code and the answer's body.
    pub fn request(
        &mut self,
        path: &str,
        token: &str,
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        self.request_with(path, token, &[], body)
    }

    /// [`Conn::request`] with headers of its own.
    pub fn request_with(
        &mut self,
        path: &str,
        token: &str,
        headers: &[(String, String)],
        body: &str,
    ) -> std::io::Result<(u16, String)> {
        let extra: String = headers
            .iter()
            .map(|(name, value)| format!("{name}: {value}\r\n"))
            .collect();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: bench\r\nx-keruj-app-token: {token}\r\n\
             content-type: application/json\r\n{extra}content-length: {}\r\n\r\n",
            body.len()
        );
        let stream = self.reader.get_mut();
        stream.write_all(head.as_bytes())?;
        stream.write_all(body.as_bytes())?;
        let mut line = String::new();
        self.reader.read_line(&mut line)?;
        let status = line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let (mut length, mut chunked) = (0, false);
        loop {
            line.clear();
            self.reader.read_line(&mut line)?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("transfer-encoding")
            {
                chunked = value.trim().eq_ignore_ascii_case("chunked");
            }
        }
        let mut answer = Vec::new();
        if !chunked {
            answer.resize(length, 0);
            self.reader.read_exact(&mut answer)?;
        }
        while chunked {
            line.clear();
            self.reader.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim(), 16).map_err(std::io::Error::other)?;
            let start = answer.len();
            answer.resize(start + size + 2, 0); // the chunk and its CRLF
            self.reader.read_exact(&mut answer[start..])?;
            answer.truncate(start + size);
            chunked = size > 0;
        }
        Ok((status, String::from_utf8_lossy(&answer).into_owned()))
    }
}
