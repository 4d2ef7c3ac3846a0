//! A bare HTTP/1.1 request, for answers an HTTP client cannot read.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{Answer, Host};

impl Host {
    /// Posts like [`Host::post`] over a bare TCP connection that reads the
    /// answer even when the host closes the connection before reading the
    /// whole body, as it may when it refuses a body by its size (reqwest then
    /// reports only a broken pipe, though the answer was sent).
    pub fn post_raw(&self, app: &str, token: Option<&str>, body: &str) -> Answer {
        let url = self.url("");
        let addr = url.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("the host accepts");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        stream
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let token = token
            .map(|t| format!("x-keruj-app-token: {t}\r\n"))
            .unwrap_or_default();
        let head = format!(
            "POST /apps/{app}/events HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\
             content-type: application/json\r\n{token}content-length: {}\r\n\r\n",
            body.len()
        );
        // The host may stop reading at any point: what matters is its answer.
        let _ = stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(body.as_bytes()));
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw);
        let raw = String::from_utf8_lossy(&raw);
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no answer: {raw:?}"));
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok());
        let header = |name: &str| {
            head.lines()
                .filter_map(|line| line.split_once(':'))
                .find(|(key, _)| key.eq_ignore_ascii_case(name))
                .map(|(_, value)| value.trim().to_owned())
        };
        assert!(
            header("transfer-encoding").is_none(),
            "chunked answer: {raw:?}"
        );
        let length = header("content-length")
            .and_then(|l| l.parse().ok())
            .unwrap_or(body.len());
        Answer {
            status: status.unwrap_or_else(|| panic!("no status: {head:?}")),
            content_type: header("content-type").unwrap_or_default(),
            body: body.get(..length).unwrap_or(body).to_owned(),
        }
    }
}
