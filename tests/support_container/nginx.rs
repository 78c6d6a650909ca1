//! Debian's nginx as a Bazel HTTP cache (WebDAV PUT), on 127.0.0.1, under a prefix of ours.

use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{output, runs, text};

pub struct Nginx {
    _prefix: tempfile::TempDir,
    prefix: PathBuf,
    conf: PathBuf,
    pub port: u16,
}

impl Nginx {
    /// Start nginx as a daemon: when the command returns, the socket is listening.
    pub fn start() -> Result<Nginx, String> {
        if !runs("nginx", &["-v"]) && !Path::new("/usr/sbin/nginx").exists() {
            return Err("nginx is not installed (apt-get install nginx)".into());
        }
        let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let prefix = std::fs::canonicalize(temp.path()).map_err(|e| e.to_string())?;
        for dir in ["cache", "tmp", "logs"] {
            std::fs::create_dir_all(prefix.join(dir)).map_err(|e| e.to_string())?;
        }
        let root = std::fs::metadata("/proc/self")
            .map(|m| m.uid() == 0)
            .unwrap_or(false);
        let mut last = String::new();
        // A port that was free a moment ago may be taken by now: try a few.
        for _ in 0..5 {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map_err(|e| e.to_string())?
                .port();
            let conf = prefix.join("nginx.conf");
            std::fs::write(&conf, config(&prefix, port, root)).map_err(|e| e.to_string())?;
            let out = output(
                Command::new(nginx())
                    .arg("-c")
                    .arg(&conf)
                    .arg("-p")
                    .arg(&prefix)
                    .arg("-e")
                    .arg(prefix.join("logs/error.log")),
            );
            if out.status.success() {
                return Ok(Nginx {
                    _prefix: temp,
                    prefix,
                    conf,
                    port,
                });
            }
            last = text(&out.stderr);
        }
        Err(format!("nginx did not start: {last}"))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.prefix.join("logs/access.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new(nginx())
            .arg("-c")
            .arg(&self.conf)
            .arg("-p")
            .arg(&self.prefix)
            .arg("-e")
            .arg(self.prefix.join("logs/error.log"))
            .args(["-s", "stop"])
            .output();
    }
}

fn nginx() -> &'static str {
    if Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

fn config(prefix: &Path, port: u16, root: bool) -> String {
    let p = prefix.display();
    format!(
        "{user}worker_processes 1;\n\
         pid {p}/nginx.pid;\n\
         error_log {p}/logs/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n\
           access_log {p}/logs/access.log;\n\
           client_body_temp_path {p}/tmp/body;\n\
           proxy_temp_path {p}/tmp/proxy;\n\
           fastcgi_temp_path {p}/tmp/fastcgi;\n\
           uwsgi_temp_path {p}/tmp/uwsgi;\n\
           scgi_temp_path {p}/tmp/scgi;\n\
           server {{\n\
             listen 127.0.0.1:{port};\n\
             root {p}/cache;\n\
             dav_methods PUT;\n\
             create_full_put_path on;\n\
             client_max_body_size 0;\n\
           }}\n\
         }}\n",
        user = if root { "user root;\n" } else { "" },
    )
}
