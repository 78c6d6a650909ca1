//! Does a build farm answer? Bazel 2.2.0 reports a farm it cannot reach only as "Failed to
//! query remote execution capabilities: UNAVAILABLE: io exception" (seen with Bazel 2.1.0), not
//! naming the URL, and with a long `--remote_timeout` a farm that drops packets holds the build
//! for that long. So before Bazel starts, compile (and doctor) connect to the farm's address with
//! a short timeout and, for plain `grpc://`, exchange the HTTP/2 connection preface gRPC runs on
//! (RFC 9113 section 3.4: the client's preface, then each side's SETTINGS frame). A `grpcs://`
//! farm is checked to the TCP connect: the TLS handshake is Bazel's.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How long a farm may take to answer before it counts as down.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// The client connection preface of HTTP/2 (RFC 9113 section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
/// An empty SETTINGS frame: length 0, type 0x4, no flags, stream 0 (RFC 9113 section 6.5).
const EMPTY_SETTINGS: [u8; 9] = [0, 0, 0, 4, 0, 0, 0, 0, 0];

/// Where a farm URL points and whether TLS is Bazel's to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub tls: bool,
    pub host: String,
    pub port: u16,
}

/// `grpc://HOST:PORT`, `grpcs://HOST[:PORT]` or `HOST[:PORT]` (Bazel's default: grpcs, port
/// 443), the schemes Bazel 2.1.0's `--remote_executor` help names.
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    let (tls, rest) = match url.split_once("://") {
        Some(("grpc", rest)) => (false, rest),
        Some(("grpcs", rest)) => (true, rest),
        Some((scheme, _)) => {
            return Err(format!(
                "scheme {scheme}:// is not one Bazel reaches a farm with (grpc:// or grpcs://)"
            ));
        }
        None => (true, url),
    };
    let authority = rest.split('/').next().unwrap_or("");
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed [ in the host")?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().map_err(|_| format!("`{p}` is not a port"))?,
        None if tls => 443,
        None => return Err("grpc:// needs a port (grpc://HOST:PORT)".into()),
    };
    if host.is_empty() {
        return Err("no host".into());
    }
    Ok(Endpoint {
        tls,
        host: host.to_string(),
        port,
    })
}

/// Connect to the farm and, without TLS, check that it speaks HTTP/2. `Ok` says what answered
/// and how fast; `Err` says why not, in a few words.
pub fn probe(url: &str, timeout: Duration) -> Result<String, String> {
    let end = endpoint(url)?;
    let started = Instant::now();
    let (stream, addr) = crate::net::connect(&end.host, end.port, timeout)?;
    if end.tls {
        return Ok(format!(
            "{addr} accepts connections ({} ms; TLS is left to Bazel)",
            started.elapsed().as_millis()
        ));
    }
    speaks_http2(stream, timeout).map(|()| {
        format!(
            "{addr} answers HTTP/2, as gRPC runs on ({} ms)",
            started.elapsed().as_millis()
        )
    })
}

fn speaks_http2(mut stream: TcpStream, timeout: Duration) -> Result<(), String> {
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => format!(
            "connected, but no HTTP/2 answer within {}s",
            timeout.as_secs()
        ),
        _ => format!("connected, then {e}"),
    };
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    stream.write_all(PREFACE).map_err(io)?;
    stream.write_all(&EMPTY_SETTINGS).map_err(io)?;
    let mut header = [0u8; 9];
    stream.read_exact(&mut header).map_err(io)?;
    if header[3] == 4 {
        Ok(())
    } else {
        Err("connected, but the answer is not HTTP/2: is this the farm's gRPC port?".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    #[test]
    fn urls_as_bazel_reads_them() {
        let e = |tls, host: &str, port| Endpoint {
            tls,
            host: host.into(),
            port,
        };
        assert_eq!(
            endpoint("grpc://127.0.0.1:8980"),
            Ok(e(false, "127.0.0.1", 8980))
        );
        assert_eq!(
            endpoint("grpcs://farm.example"),
            Ok(e(true, "farm.example", 443))
        );
        assert_eq!(
            endpoint("farm.example:8980"),
            Ok(e(true, "farm.example", 8980))
        );
        assert_eq!(endpoint("grpc://[::1]:9"), Ok(e(false, "::1", 9)));
        assert!(endpoint("http://farm:80").is_err());
        assert!(endpoint("grpc://farm").is_err());
        assert!(endpoint("grpc://farm:x").is_err());
    }

    #[test]
    fn a_closed_port_and_a_server_that_is_not_http2_are_told_apart() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 33];
            let _ = s.read_exact(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        let err = probe(&format!("grpc://127.0.0.1:{port}"), TIMEOUT).unwrap_err();
        assert!(err.contains("not HTTP/2"), "{err}");
        server.join().unwrap();
        // Nothing listens there any more.
        let err = probe(&format!("grpc://127.0.0.1:{port}"), TIMEOUT).unwrap_err();
        assert!(err.contains("refused"), "{err}");
    }

    #[test]
    fn an_http2_server_passes() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 33];
            s.read_exact(&mut buf).unwrap();
            s.write_all(&EMPTY_SETTINGS).unwrap();
        });
        let ok = probe(&format!("grpc://127.0.0.1:{port}"), TIMEOUT).unwrap();
        assert!(ok.contains("answers HTTP/2"), "{ok}");
        server.join().unwrap();
    }
}
