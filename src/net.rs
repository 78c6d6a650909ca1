//! TCP reachability, shared by `doctor`'s host checks and compile's probe of a build farm.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// Open a TCP connection to `host:port` within `timeout`, trying each resolved address in
/// turn. The error says, in a few words, why the last address failed.
pub fn connect(
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr), String> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?;
    let mut last = format!("{host} has no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, timeout) {
            Ok(stream) => return Ok((stream, addr)),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = format!("{addr}: no answer within {}s", timeout.as_secs());
            }
            Err(e) => last = format!("{addr}: {e}"),
        }
    }
    Err(last)
}
