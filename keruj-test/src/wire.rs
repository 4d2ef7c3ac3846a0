//! HTTP/1.1 over loopback, both ways, on `std::net` alone: the calls to the
//! dev host's `/_dev/api`, and the little server that answers the app's
//! outbound calls for the test.
//!
//! Both ends are known (hyper on the host's side, this file on ours, one
//! request per connection), so this is all an app's test build needs; an
//! HTTP client and server crate would add their compile time to every
//! app's first `cargo test`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long one call to the dev host may take: an event's own time limit
/// is shorter, so this only ends a test whose host hangs.
const CALL_TIMEOUT: Duration = Duration::from_secs(120);

/// A response: status and body.
pub struct Response {
    pub status: u16,
    pub body: Vec<u8>,
}

/// One request to `addr`, on its own connection.
pub fn call(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, String> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(10))
        .map_err(|error| format!("cannot connect to the keruj-host at {addr}: {error}"))?;
    stream.set_read_timeout(Some(CALL_TIMEOUT)).ok();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream
        .write_all(head.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|error| format!("cannot send {method} {target}: {error}"))?;
    let mut reader = BufReader::new(stream);
    let (start, headers) = read_head(&mut reader)?;
    let status = start
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("not an HTTP response: {start:?}"))?;
    let body = read_body(&mut reader, &headers)?;
    Ok(Response { status, body })
}

/// The start line and headers of a message.
fn read_head(reader: &mut impl BufRead) -> Result<(String, Vec<(String, String)>), String> {
    let mut start = String::new();
    reader
        .read_line(&mut start)
        .map_err(|error| format!("reading the answer failed: {error}"))?;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        let read = reader
            .read_line(&mut line)
            .map_err(|error| format!("reading the headers failed: {error}"))?;
        let line = line.trim_end();
        if read == 0 || line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    Ok((start.trim_end().to_owned(), headers))
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    let found = headers.iter().find(|(n, _)| n == name);
    found.map(|(_, value)| value.as_str())
}

/// The body after `headers`: by its length, chunked, or up to the close.
fn read_body(reader: &mut impl BufRead, headers: &[(String, String)]) -> Result<Vec<u8>, String> {
    let failed = |error: std::io::Error| format!("reading the body failed: {error}");
    let mut body = Vec::new();
    if let Some(length) = header(headers, "content-length") {
        let length: u64 = length.parse().map_err(|_| "a bad content-length")?;
        reader.take(length).read_to_end(&mut body).map_err(failed)?;
    } else if header(headers, "transfer-encoding").is_some_and(|te| te.contains("chunked")) {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).map_err(failed)?;
            let size = size.trim().split(';').next().unwrap_or_default();
            let size = usize::from_str_radix(size, 16).map_err(|_| "a bad chunk size")?;
            let mut chunk = vec![0; size + 2];
            reader.read_exact(&mut chunk).map_err(failed)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    } else {
        reader.read_to_end(&mut body).map_err(failed)?;
    }
    Ok(body)
}

/// A server on `127.0.0.1:0` answering each request with `answer(body)`
/// (a JSON body in, `(status, JSON body)` out), one thread a connection.
/// Stops accepting when dropped.
pub struct Server {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

/// What the server does with one request's body: its status and body.
pub type Answer = dyn Fn(&[u8]) -> (u16, Vec<u8>) + Send + Sync;

impl Server {
    pub fn start(answer: Arc<Answer>) -> std::io::Result<Server> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::Builder::new()
            .name("keruj-test-outbound".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let answer = answer.clone();
                    std::thread::spawn(move || serve_one(stream, &*answer));
                }
            })?;
        Ok(Server { addr, stop })
    }

    /// `http://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
    }
}

fn serve_one(stream: TcpStream, answer: &Answer) {
    stream.set_read_timeout(Some(CALL_TIMEOUT)).ok();
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let (status, body) = match read_head(&mut reader) {
        Ok((_, headers)) => match read_body(&mut reader, &headers) {
            Ok(body) => answer(&body),
            Err(why) => (400, why.into_bytes()),
        },
        Err(why) => (400, why.into_bytes()),
    };
    let mut writer = writer;
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = writer
        .write_all(head.as_bytes())
        .and_then(|()| writer.write_all(&body));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_reaches_the_server_and_reads_its_answer() {
        let server = Server::start(Arc::new(|body: &[u8]| {
            let mut echoed = b"seen ".to_vec();
            echoed.extend_from_slice(body);
            (201, echoed)
        }))
        .unwrap();
        let addr = server.addr;
        let response = call(addr, "POST", "/x", &[("x-a", "1")], b"hello").unwrap();
        assert_eq!(response.status, 201);
        assert_eq!(response.body, b"seen hello");
    }

    #[test]
    fn chunked_bodies_are_joined() {
        let text = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
        let headers = [("transfer-encoding".to_owned(), "chunked".to_owned())];
        let body = read_body(&mut &text[..], &headers).unwrap();
        assert_eq!(body, b"hello world");
    }
}
