//! Can this host reach what the build downloads (see `downloads`)? Each host is tried with a
//! TCP connect, or through `HTTPS_PROXY`/`HTTP_PROXY` when set (a `CONNECT` for https, a
//! `HEAD` for http), since that is the way the build's downloads will go.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::downloads::Endpoint;
use super::{Check, Status};

/// A host and port to reach, with the scheme that decides how (and whether a proxy applies).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

/// The host of a URL a downloader would use: `scheme://[user@]host[:port]/…`, or git's
/// `user@host:path`. `None` for local paths and `file://` (nothing to reach).
pub fn target(url: &str) -> Option<Target> {
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
        None if !url.starts_with('/') && url.contains('@') && url.contains(':') => {
            ("ssh".to_string(), url)
        }
        None => return None,
    };
    let default_port = match scheme.as_str() {
        "https" => 443,
        "http" => 80,
        "ssh" => 22,
        "git" => 9418,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let port = |p: Option<&str>| match p {
        Some(p) => p.parse().ok(),
        None => Some(default_port),
    };
    let (host, port) = if !url.contains("://") {
        // scp-like `git@host:org/repo`: what follows ':' is a path, not a port.
        (authority.split(':').next()?, default_port)
    } else if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, port(after.strip_prefix(':'))?)
    } else {
        match authority.split_once(':') {
            Some((host, p)) => (host, port(Some(p))?),
            None => (authority, default_port),
        }
    };
    (!host.is_empty()).then(|| Target {
        scheme,
        host: host.to_ascii_lowercase(),
        port,
    })
}

/// A proxy from the environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Proxy {
    /// As given, without credentials (for messages).
    pub shown: String,
    pub target: Target,
    /// `user:password`, percent-decoded.
    pub credentials: Option<String>,
}

/// The proxy a download of `target` goes through, per the usual variables (lower case first,
/// as curl reads them) and `NO_PROXY`.
pub fn proxy_for(to: &Target, env: &dyn Fn(&str) -> Option<String>) -> Option<Proxy> {
    let names: &[&str] = match to.scheme.as_str() {
        "https" => &["https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"],
        "http" => &["http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"],
        _ => return None,
    };
    let value = names
        .iter()
        .find_map(|n| env(n).filter(|v| !v.trim().is_empty()))?;
    let no_proxy = env("no_proxy")
        .or_else(|| env("NO_PROXY"))
        .unwrap_or_default();
    let excluded = no_proxy.split(',').map(str::trim).any(|entry| {
        let entry = entry.trim_start_matches('.').to_ascii_lowercase();
        !entry.is_empty()
            && (entry == "*" || to.host == entry || to.host.ends_with(&format!(".{entry}")))
    });
    if excluded {
        return None;
    }
    let value = value.trim();
    let url = if value.contains("://") {
        value.to_string()
    } else {
        format!("http://{value}")
    };
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split('/').next()?;
    let (credentials, hostpart) = match authority.rsplit_once('@') {
        Some((user, host)) => (Some(percent_decode(user)), host),
        None => (None, authority),
    };
    let scheme = scheme.to_ascii_lowercase();
    // Parsed as if http (for host and port); the scheme says how to talk to it.
    let mut proxy = target(&format!("http://{hostpart}/"))?;
    proxy.scheme = scheme.clone();
    // Without a port, curl (and so git) assumes 1080 for an http proxy, 443 for https.
    let has_port = match hostpart.strip_prefix('[') {
        Some(v6) => v6.contains("]:"),
        None => hostpart.contains(':'),
    };
    if !has_port {
        proxy.port = if scheme == "https" { 443 } else { 1080 };
    }
    Some(Proxy {
        shown: format!("{scheme}://{hostpart}"),
        target: proxy,
        credentials,
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match (
            bytes[i],
            s.get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok()),
        ) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn base64(input: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Open a TCP connection to `t` within `timeout` (each resolved address in turn).
fn connect(t: &Target, timeout: Duration) -> Result<TcpStream, String> {
    crate::net::connect(&t.host, t.port, timeout).map(|(stream, _)| stream)
}

/// Ask `proxy` to reach `t`: `CONNECT host:port` (https and others) or `HEAD url` (http).
/// Returns the status code the proxy answered.
fn through_proxy(t: &Target, proxy: &Proxy, timeout: Duration) -> Result<u16, String> {
    let mut stream = connect(&proxy.target, timeout)
        .map_err(|e| format!("proxy {} not reachable ({e})", proxy.shown))?;
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| e.to_string())?;
    let authority = format!("{}:{}", t.host, t.port);
    let mut request = if t.scheme == "http" {
        format!("HEAD http://{authority}/ HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n")
    } else {
        format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n")
    };
    if let Some(credentials) = &proxy.credentials {
        request += &format!(
            "Proxy-Authorization: Basic {}\r\n",
            base64(credentials.as_bytes())
        );
    }
    request += "\r\n";
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("proxy {}: {e}", proxy.shown))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 512];
    while !head.windows(2).any(|w| w == b"\r\n") && head.len() < 8192 {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("proxy {} did not answer: {e}", proxy.shown)),
        }
    }
    let line = String::from_utf8_lossy(&head);
    let line = line.lines().next().unwrap_or("");
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("proxy {} answered {line:?}", proxy.shown))
}

/// Try one endpoint and say how it went.
pub fn check(e: &Endpoint, proxy: Option<&Proxy>, timeout: Duration) -> Check {
    let t = &e.target;
    let name = format!("network {}:{}", t.host, t.port);
    let uses = format!("for {}", e.uses.join(", "));
    let (status, how) = match proxy {
        None => match connect(t, timeout) {
            Ok(_) => (Status::Ok, "reachable".to_string()),
            Err(err) => (Status::Fail, err),
        },
        Some(p) if p.target.scheme != "http" => match connect(&p.target, timeout) {
            // Speaking TLS or SOCKS to the proxy is more than a preflight should carry.
            Ok(_) => (
                Status::Warn,
                format!("proxy {} reachable; host behind it not checked", p.shown),
            ),
            Err(err) => (
                Status::Fail,
                format!("proxy {} not reachable ({err})", p.shown),
            ),
        },
        Some(p) => match through_proxy(t, p, timeout) {
            Ok(code) if (200..300).contains(&code) => {
                (Status::Ok, format!("reachable through proxy {}", p.shown))
            }
            Ok(407) => (
                Status::Warn,
                format!("proxy {} wants credentials (put them in its URL)", p.shown),
            ),
            Ok(code) if t.scheme == "http" && !(502..=504).contains(&code) => {
                (Status::Ok, format!("reachable through proxy {}", p.shown))
            }
            Ok(code) => (
                Status::Fail,
                format!("proxy {} could not reach it (HTTP {code})", p.shown),
            ),
            Err(err) => (Status::Fail, err),
        },
    };
    Check::new(status, name, format!("{how} ({uses})"))
}

/// Check every endpoint at once (a slow host costs one timeout, not one each), in order.
pub fn check_all(
    endpoints: &[Endpoint],
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    timeout: Duration,
) -> Vec<Check> {
    std::thread::scope(|s| {
        let handles: Vec<_> = endpoints
            .iter()
            .map(|e| {
                s.spawn(move || {
                    let proxy = proxy_for(&e.target, env);
                    check(e, proxy.as_ref(), timeout)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a network check panicked"))
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(scheme: &str, host: &str, port: u16) -> Target {
        Target {
            scheme: scheme.into(),
            host: host.into(),
            port,
        }
    }

    #[test]
    fn targets_of_urls() {
        assert_eq!(
            target("https://github.com/istio/proxy"),
            Some(t("https", "github.com", 443))
        );
        assert_eq!(
            target("http://127.0.0.1:8080/git/"),
            Some(t("http", "127.0.0.1", 8080))
        );
        assert_eq!(
            target("https://u:p@mirror.example:8443"),
            Some(t("https", "mirror.example", 8443))
        );
        assert_eq!(
            target("git@github.com:istio/proxy.git"),
            Some(t("ssh", "github.com", 22))
        );
        assert_eq!(target("http://[::1]:3128/"), Some(t("http", "::1", 3128)));
        assert_eq!(target("file:///srv/istio"), None);
        assert_eq!(target("/srv/istio"), None);
    }

    #[test]
    fn proxies_follow_scheme_and_no_proxy() {
        let env = |name: &str| match name {
            "HTTPS_PROXY" => Some("http://user:p%40ss@127.0.0.1:3128".to_string()),
            "NO_PROXY" => Some("localhost,.internal".to_string()),
            _ => None,
        };
        let p = proxy_for(&t("https", "github.com", 443), &env).unwrap();
        assert_eq!(p.target, t("http", "127.0.0.1", 3128));
        assert_eq!(p.credentials.as_deref(), Some("user:p@ss"));
        assert_eq!(p.shown, "http://127.0.0.1:3128");
        assert_eq!(proxy_for(&t("http", "github.com", 80), &env), None);
        assert_eq!(proxy_for(&t("https", "git.internal", 443), &env), None);
        assert_eq!(proxy_for(&t("ssh", "github.com", 22), &env), None);
        let socks = |name: &str| (name == "ALL_PROXY").then(|| "socks5://10.1.1.1".to_string());
        let p = proxy_for(&t("https", "github.com", 443), &socks).unwrap();
        assert_eq!(p.target, t("socks5", "10.1.1.1", 1080));
    }

    #[test]
    fn base64_of_credentials() {
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"a"), "YQ==");
    }
}
