//! Request headers for a build farm (API keys, bearer tokens), which must never show in a plan,
//! a log, an error or a command line.
//!
//! Bazel 2.2.0 takes them only as `--remote_header=NAME=VALUE` (present in Bazel 2.1.0's
//! `bazel help build`, bazelbuild/bazel#10015), and its rc files expand no environment
//! variables. A value on Bazel's command line would show in `ps`, in our logs and in the plan;
//! so the headers go into `WORKDIR/bazel/remote-headers.bazelrc`, mode 0600, written just
//! before Bazel starts and removed when it ends, which the generated rc `try-import`s.
//!
//! Bazel's server still writes every option it receives, rc options included, into `java.log`
//! in the output base (seen with Bazel 2.1.0 and 4.2.3: `--default_override=…:build=
//! --remote_header=…`), and Bazel 2.1.0 prints every rc option ("Reading rc options for
//! 'build' from …") when the farm fails its first call. So the compile log is made 0600 for the
//! run, and after it the values are overwritten in place, byte for byte, in the compile log and
//! in `java.log*` (which leaves the logs usable while Bazel's server keeps appending), and in
//! the last lines an error carries ([`scrub`]).

use std::fmt;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::error::IoContext;
use crate::{Error, Result};

/// The environment variable holding one `NAME=VALUE` header, e.g. an API key.
pub const HEADER_ENV: &str = "PROXY_RPM_REMOTE_HEADER";
/// The 0600 rc file in `WORKDIR/bazel/` that exists only while Bazel runs.
pub const FILE_NAME: &str = "remote-headers.bazelrc";

/// A value that prints as `<hidden>`, so no `{:?}` of options can leak it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<hidden>")
    }
}

/// One header and where it came from (for messages, which name the source, never the value).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub name: String,
    pub value: Secret,
    pub source: String,
}

/// The headers of `$PROXY_RPM_REMOTE_HEADER` (one) and `--remote-header-file` (one per line,
/// `#` comments and blank lines allowed).
pub fn headers(file: Option<&Path>) -> Result<Vec<Header>> {
    let mut out = Vec::new();
    if let Some(value) = std::env::var_os(HEADER_ENV) {
        let text = value.into_string().map_err(|_| {
            Error::input(format!(
                "${HEADER_ENV} is not UTF-8 (the value is not shown)"
            ))
        })?;
        out.push(parse(&text, &format!("${HEADER_ENV}"))?);
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).at(path)?;
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(parse(line, &format!("{}:{}", path.display(), n + 1))?);
        }
    }
    Ok(out)
}

/// `NAME=VALUE`, checked so that neither Bazel's rc parser nor gRPC can choke on it and echo
/// it back: a gRPC metadata name, and a value of printable ASCII without quotes or backslashes
/// (the rc line quotes it in single quotes, so `#` and spaces stay inside).
fn parse(text: &str, source: &str) -> Result<Header> {
    let bad = || {
        Error::input(format!(
            "{source}: expected NAME=VALUE, NAME of letters, digits, '-', '_' or '.', VALUE of \
             printable ASCII without quotes or backslashes (the value is not shown)"
        ))
    };
    let (name, value) = text.split_once('=').ok_or_else(bad)?;
    let name_ok = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let value_ok = !value.is_empty()
        && value
            .chars()
            .all(|c| (' '..='~').contains(&c) && !matches!(c, '\'' | '"' | '\\'));
    if !name_ok || !value_ok {
        return Err(bad());
    }
    Ok(Header {
        name: name.to_ascii_lowercase(),
        value: Secret(value.to_string()),
        source: source.to_string(),
    })
}

/// `WORKDIR/bazel/remote-headers.bazelrc`.
pub fn path(workdir: &Path) -> PathBuf {
    workdir.join("bazel").join(FILE_NAME)
}

/// The headers' rc text: `build '--remote_header=NAME=VALUE'` per header.
fn contents(headers: &[Header]) -> String {
    let mut text =
        String::from("# Written by proxy-rpm compile for one Bazel run, then removed.\n");
    for h in headers {
        text.push_str(&format!(
            "build '--remote_header={}={}'\n",
            h.name,
            h.value.expose()
        ));
    }
    text
}

/// While alive, the headers' rc file exists (mode 0600 from its creation); when dropped, the
/// file is removed and the values are overwritten in Bazel's server logs under `output_base`.
pub struct HeaderFile {
    path: PathBuf,
    output_base: PathBuf,
    log: PathBuf,
    values: Vec<Secret>,
}

impl HeaderFile {
    /// Write the rc file and make `log` (the compile log) private for the run.
    pub fn write(
        workdir: &Path,
        output_base: &Path,
        log: &Path,
        headers: &[Header],
    ) -> Result<HeaderFile> {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(log)
            .at(log)?;
        std::fs::set_permissions(log, std::fs::Permissions::from_mode(0o600)).at(log)?;
        let path = path(workdir);
        let _ = std::fs::remove_file(&path);
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .at(&path)?;
        file.write_all(contents(headers).as_bytes()).at(&path)?;
        Ok(HeaderFile {
            path,
            output_base: output_base.to_path_buf(),
            log: log.to_path_buf(),
            values: headers.iter().map(|h| h.value.clone()).collect(),
        })
    }
}

impl Drop for HeaderFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let values: Vec<&str> = self.values.iter().map(Secret::expose).collect();
        redact_server_logs(&self.output_base, &values);
        let _ = redact_file(&self.log, &values);
    }
}

/// The error with every header value in its command and last lines replaced by `<hidden>`.
pub fn scrub(error: Error, headers: &[Header]) -> Error {
    let Error::Command(mut failed) = error else {
        return error;
    };
    let hide = |text: &mut String| {
        for h in headers {
            *text = text.replace(h.value.expose(), "<hidden>");
        }
    };
    hide(&mut failed.command);
    failed.tail.iter_mut().for_each(hide);
    Error::Command(failed)
}

/// Overwrite every occurrence of `values` with `x` in the `java.log*` files of an output base,
/// in place and at the same length.
pub fn redact_server_logs(output_base: &Path, values: &[&str]) {
    let Ok(entries) = std::fs::read_dir(output_base) else {
        return;
    };
    for entry in entries.flatten() {
        let is_log = entry.file_name().to_string_lossy().starts_with("java.log");
        if is_log && entry.file_type().is_ok_and(|t| t.is_file()) {
            let _ = redact_file(&entry.path(), values);
        }
    }
}

fn redact_file(path: &Path, values: &[&str]) -> std::io::Result<()> {
    let bytes = std::fs::read(path)?;
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    for value in values.iter().filter(|v| !v.is_empty()) {
        let needle = value.as_bytes();
        let mut at = 0;
        while let Some(found) = find(&bytes[at..], needle) {
            file.seek(SeekFrom::Start((at + found) as u64))?;
            file.write_all(&vec![b'x'; needle.len()])?;
            at += found + needle.len();
        }
    }
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_lose_the_values() {
        let h = parse("x-api-key=topsecret", "test").unwrap();
        let err = Error::from(crate::run::CommandError {
            command: "bazel build".into(),
            status: Some(1),
            start_error: None,
            log: None,
            tail: vec!["'build' options: --remote_header=x-api-key=topsecret".into()],
        });
        let shown = scrub(err, &[h]).to_string();
        assert!(shown.contains("x-api-key=<hidden>"), "{shown}");
        assert!(!shown.contains("topsecret"), "{shown}");
    }

    #[test]
    fn messages_name_the_source_never_the_value() {
        let err = parse("x-api-key=sek'ret", "$PROXY_RPM_REMOTE_HEADER")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("$PROXY_RPM_REMOTE_HEADER: expected NAME=VALUE"),
            "{err}"
        );
        assert!(!err.contains("sek"), "{err}");
        assert!(parse("novalue", "f:1").is_err());
        assert!(parse("bad name=v", "f:1").is_err());
        let h = parse("Authorization=Bearer a.b#c", "f:2").unwrap();
        assert_eq!(h.name, "authorization");
        assert!(!format!("{h:?}").contains("Bearer"));
        assert_eq!(
            contents(&[h]).lines().last().unwrap(),
            "build '--remote_header=authorization=Bearer a.b#c'"
        );
    }

    #[test]
    fn the_file_is_private_and_gone_after_the_run_and_logs_are_redacted() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let workdir = dir.path().join("w");
        std::fs::create_dir_all(workdir.join("bazel")).unwrap();
        let base = dir.path().join("ob");
        std::fs::create_dir_all(&base).unwrap();
        let log = base.join("java.log.host.root.log.java.1");
        let h = parse("x-api-key=topsecret", "test").unwrap();
        let compile_log = workdir.join("compile.log");
        {
            let file =
                HeaderFile::write(&workdir, &base, &compile_log, std::slice::from_ref(&h)).unwrap();
            let meta = std::fs::metadata(&file.path).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            let meta = std::fs::metadata(&compile_log).unwrap();
            assert_eq!(meta.permissions().mode() & 0o777, 0o600);
            std::fs::write(&log, "args [--remote_header=x-api-key=topsecret, b]\n").unwrap();
            std::fs::write(
                &compile_log,
                "'build' options: --remote_header=x-api-key=topsecret\n",
            )
            .unwrap();
        }
        assert!(!path(&workdir).exists());
        assert_eq!(
            std::fs::read_to_string(&compile_log).unwrap(),
            "'build' options: --remote_header=x-api-key=xxxxxxxxx\n"
        );
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "args [--remote_header=x-api-key=xxxxxxxxx, b]\n"
        );
    }
}
