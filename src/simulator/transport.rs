//! The simulator's HTTP side: one HTTP/1.1 request per connection, bounded
//! reads, `Connection: close`. It knows nothing of the service; it hands each
//! parsed request to [`super::service::handle`].

use std::{
    io::{self, Read, Write},
    net::{Shutdown, TcpStream},
    sync::Mutex,
    time::Duration as StdDuration,
};

use http::{Method, Request, Response, StatusCode};

use super::service::{State, handle, lock, text};

/// Largest request head (request line and headers) the simulator reads.
pub const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// Largest request body the simulator accepts (256 KiB: an assignment of
/// 1,000 serials is about 20 KiB).
pub const MAX_REQUEST_BODY: usize = 256 * 1024;

/// Why a request could not be read.
enum ReadError {
    TooLarge,
    Bad,
    Io,
}

/// Reads one HTTP/1.1 request: head up to [`MAX_REQUEST_HEAD`], body up to
/// [`MAX_REQUEST_BODY`] (by `Content-Length`; chunked bodies are refused).
fn read_request(stream: &mut TcpStream) -> Result<Request<Vec<u8>>, ReadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    let head_end = loop {
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos;
        }
        if buf.len() > MAX_REQUEST_HEAD {
            return Err(ReadError::TooLarge);
        }
        let n = stream.read(&mut chunk).map_err(|_| ReadError::Io)?;
        if n == 0 {
            return Err(ReadError::Io);
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    if head_end > MAX_REQUEST_HEAD {
        return Err(ReadError::TooLarge);
    }
    let head = core::str::from_utf8(&buf[..head_end]).map_err(|_| ReadError::Bad)?;
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().ok_or(ReadError::Bad)?.split(' ');
    let (Some(method), Some(target), Some(version), None) = (
        request_line.next(),
        request_line.next(),
        request_line.next(),
        request_line.next(),
    ) else {
        return Err(ReadError::Bad);
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(ReadError::Bad);
    }
    let mut builder = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).map_err(|_| ReadError::Bad)?)
        .uri(target);
    let mut content_length = 0usize;
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(ReadError::Bad)?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            content_length = value.parse().map_err(|_| ReadError::Bad)?;
        }
        if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(ReadError::Bad);
        }
        builder = builder.header(name, value);
    }
    if content_length > MAX_REQUEST_BODY {
        return Err(ReadError::TooLarge);
    }
    let mut body = buf[head_end + 4..].to_vec();
    if body.len() > content_length {
        return Err(ReadError::Bad);
    }
    let mut rest = vec![0u8; content_length - body.len()];
    stream.read_exact(&mut rest).map_err(|_| ReadError::Io)?;
    body.extend_from_slice(&rest);
    builder.body(body).map_err(|_| ReadError::Bad)
}

fn write_response(stream: &mut TcpStream, response: &Response<Vec<u8>>) -> io::Result<()> {
    let status = response.status();
    let mut out = format!(
        "HTTP/1.1 {} {}\r\nContent-Length: {}\r\nConnection: close\r\nServer: mdmlink-simulator\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        response.body().len()
    )
    .into_bytes();
    for (name, value) in response.headers() {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(response.body());
    stream.write_all(&out)?;
    stream.flush()
}

pub(crate) fn serve_one(mut stream: TcpStream, state: &Mutex<State>) {
    let timeout = Some(StdDuration::from_secs(5));
    if stream.set_read_timeout(timeout).is_err() || stream.set_write_timeout(timeout).is_err() {
        return;
    }
    let response = match read_request(&mut stream) {
        Ok(request) => handle(&mut lock(state), &request),
        Err(ReadError::TooLarge) => text(StatusCode::PAYLOAD_TOO_LARGE, "REQUEST_TOO_LARGE"),
        Err(ReadError::Bad) => text(StatusCode::BAD_REQUEST, "MALFORMED_REQUEST"),
        Err(ReadError::Io) => return,
    };
    let _ = write_response(&mut stream, &response);
    let _ = stream.shutdown(Shutdown::Both);
}
