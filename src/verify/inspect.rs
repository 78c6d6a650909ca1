//! `inspect`: what a package holds, from its headers alone (the payload is not read), in the
//! shape of `rpm -qpi`, `--requires`/`--provides`/`--conflicts`, `--scripts` and `--dump`.

use std::fmt;
use std::path::{Path, PathBuf};

use rpm::{IndexSignatureTag, IndexTag};

use super::el7::show_dep;
use super::hash::{algo_name, hex_len};
use super::read::{FILE_CONFIG, FILE_DOC, HeaderFile, RpmFile};
use super::signature::{header_signatures, parse_packet};
use crate::{Error, Result};

/// How many lines of each scriptlet are shown.
const SCRIPT_LINES: usize = 5;

#[derive(Clone, Debug)]
pub struct Scriptlet {
    /// `%pre`, `%post`…
    pub name: &'static str,
    pub interpreter: Option<String>,
    pub first_lines: Vec<String>,
    pub total_lines: usize,
}

/// Everything `inspect` shows, for callers that want the values rather than the text.
#[derive(Clone, Debug)]
pub struct Inspection {
    pub path: PathBuf,
    pub nevra: String,
    /// (label, value) pairs in `rpm -qpi` order; absent tags are left out.
    pub info: Vec<(&'static str, String)>,
    pub description: String,
    pub requires: Vec<String>,
    pub provides: Vec<String>,
    pub conflicts: Vec<String>,
    pub obsoletes: Vec<String>,
    pub scriptlets: Vec<Scriptlet>,
    pub file_digest_algo: u32,
    pub files: Vec<HeaderFile>,
}

/// Read a package's headers for display. Not an RPM → [`Error::Unreadable`].
pub fn inspect_file(path: &Path) -> Result<Inspection> {
    let rpm = RpmFile::open(path)?;
    let m = &rpm.metadata;
    let nevra = m
        .get_nevra()
        .map(|n| n.to_string())
        .map_err(|e| Error::Unreadable {
            path: path.to_path_buf(),
            message: format!("no name, version, release or arch: {e}"),
        })?;
    let text = |tag| rpm.string(tag).map(str::to_string);
    let mut info: Vec<(&'static str, String)> = Vec::new();
    let mut add = |label, value: Option<String>| {
        if let Some(v) = value {
            info.push((label, v));
        }
    };
    add("Name", text(IndexTag::RPMTAG_NAME));
    add(
        "Epoch",
        rpm.u32(IndexTag::RPMTAG_EPOCH).map(|e| e.to_string()),
    );
    add("Version", text(IndexTag::RPMTAG_VERSION));
    add("Release", text(IndexTag::RPMTAG_RELEASE));
    add("Architecture", text(IndexTag::RPMTAG_ARCH));
    add("NEVRA", Some(nevra.clone()));
    add("Summary", text(IndexTag::RPMTAG_SUMMARY));
    add("License", text(IndexTag::RPMTAG_LICENSE));
    add("Group", text(IndexTag::RPMTAG_GROUP));
    add("URL", text(IndexTag::RPMTAG_URL));
    add("Vendor", text(IndexTag::RPMTAG_VENDOR));
    add("Packager", text(IndexTag::RPMTAG_PACKAGER));
    add("Build Date", m.get_build_time().ok().map(show_time));
    add("Build Host", text(IndexTag::RPMTAG_BUILDHOST));
    add("Source RPM", text(IndexTag::RPMTAG_SOURCERPM));
    add(
        "Size",
        m.get_installed_size()
            .ok()
            .map(|s| format!("{s} (installed)")),
    );
    add("Package size", Some(rpm.file_size.to_string()));
    add("Payload", Some(payload(&rpm)));
    add("Digests", Some(digests(&rpm)));
    add("File digests", Some(algo_name(rpm.file_digest_algo())));
    add("Signature", Some(signatures(&rpm)));

    let dep_list = |got: std::result::Result<Vec<rpm::Dependency>, rpm::Error>| {
        got.map(|deps| deps.iter().map(show_dep).collect())
            .unwrap_or_default()
    };
    let files = rpm.files().map_err(|e| Error::Unreadable {
        path: path.to_path_buf(),
        message: e,
    })?;
    Ok(Inspection {
        path: path.to_path_buf(),
        nevra,
        info,
        description: text(IndexTag::RPMTAG_DESCRIPTION).unwrap_or_default(),
        requires: dep_list(m.get_requires()),
        provides: dep_list(m.get_provides()),
        conflicts: dep_list(m.get_conflicts()),
        obsoletes: dep_list(m.get_obsoletes()),
        scriptlets: scriptlets(&rpm),
        file_digest_algo: rpm.file_digest_algo(),
        files,
    })
}

fn show_time(secs: u64) -> String {
    match rpm::chrono::DateTime::from_timestamp(secs as i64, 0) {
        Some(t) => format!("{} ({secs})", t.format("%Y-%m-%d %H:%M:%S UTC")),
        None => secs.to_string(),
    }
}

fn payload(rpm: &RpmFile) -> String {
    let format = rpm.string(IndexTag::RPMTAG_PAYLOADFORMAT).unwrap_or("cpio");
    let mut out = format!("{format}, {}-compressed", rpm.compressor());
    if let Some(flags) = rpm.string(IndexTag::RPMTAG_PAYLOADFLAGS) {
        out.push_str(&format!(", level {flags}"));
    }
    out
}

/// The digests and sizes the package declares, by tag.
fn digests(rpm: &RpmFile) -> String {
    let mut found = Vec::new();
    for (tag, name) in [
        (IndexSignatureTag::RPMSIGTAG_SIZE, "SIZE"),
        (IndexSignatureTag::RPMSIGTAG_LONGSIZE, "LONGSIZE"),
        (IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE, "PAYLOADSIZE"),
        (IndexSignatureTag::RPMSIGTAG_MD5, "MD5 (header+payload)"),
        (IndexSignatureTag::RPMSIGTAG_SHA1, "SHA1 (header)"),
        (IndexSignatureTag::RPMSIGTAG_SHA256, "SHA256 (header)"),
    ] {
        if rpm.has_sig(tag) {
            found.push(name.to_string());
        }
    }
    let algo = algo_name(rpm.u32(IndexTag::RPMTAG_PAYLOADSHA256ALGO).unwrap_or(8));
    if rpm.has(IndexTag::RPMTAG_PAYLOADSHA256) {
        found.push(format!("{algo} (payload)"));
    }
    if rpm.has(IndexTag::RPMTAG_PAYLOADSHA256ALT) {
        found.push(format!("{algo} (uncompressed payload)"));
    }
    if found.is_empty() {
        "(none)".into()
    } else {
        found.join(", ")
    }
}

fn signatures(rpm: &RpmFile) -> String {
    let mut shown: Vec<String> = header_signatures(rpm)
        .into_iter()
        .map(|(tag, bytes)| match parse_packet(bytes) {
            Ok(p) => format!("{p} (header, {tag} tag)"),
            Err(e) => format!("unreadable {tag} signature: {e}"),
        })
        .collect();
    for (tag, name) in [
        (IndexSignatureTag::RPMSIGTAG_PGP, "PGP"),
        (IndexSignatureTag::RPMSIGTAG_GPG, "GPG"),
    ] {
        if let Some(bytes) = rpm.sig_binary(tag) {
            shown.push(match parse_packet(bytes) {
                Ok(p) => format!("{p} (header+payload, {name} tag)"),
                Err(e) => format!("unreadable {name} signature: {e}"),
            });
        }
    }
    if rpm.has_sig(IndexSignatureTag::RPMSIGTAG_OPENPGP) {
        shown.push("rpm 6 OPENPGP signature (ignored by rpm 4.11)".into());
    }
    if shown.is_empty() {
        "(none)".into()
    } else {
        shown.join("; ")
    }
}

fn scriptlets(rpm: &RpmFile) -> Vec<Scriptlet> {
    let kinds = [
        (
            "%pretrans",
            IndexTag::RPMTAG_PRETRANS,
            IndexTag::RPMTAG_PRETRANSPROG,
        ),
        ("%pre", IndexTag::RPMTAG_PREIN, IndexTag::RPMTAG_PREINPROG),
        (
            "%post",
            IndexTag::RPMTAG_POSTIN,
            IndexTag::RPMTAG_POSTINPROG,
        ),
        ("%preun", IndexTag::RPMTAG_PREUN, IndexTag::RPMTAG_PREUNPROG),
        (
            "%postun",
            IndexTag::RPMTAG_POSTUN,
            IndexTag::RPMTAG_POSTUNPROG,
        ),
        (
            "%posttrans",
            IndexTag::RPMTAG_POSTTRANS,
            IndexTag::RPMTAG_POSTTRANSPROG,
        ),
        (
            "%verifyscript",
            IndexTag::RPMTAG_VERIFYSCRIPT,
            IndexTag::RPMTAG_VERIFYSCRIPTPROG,
        ),
    ];
    let mut out = Vec::new();
    for (name, body, prog) in kinds {
        let script = rpm.string(body);
        // The interpreter is a string in old packages and a string array (with arguments) since.
        let interpreter = match rpm.strings(prog) {
            v if !v.is_empty() => Some(v.join(" ")),
            _ => rpm.string(prog).map(str::to_string),
        };
        if script.is_none() && interpreter.is_none() {
            continue;
        }
        let lines: Vec<&str> = script.map(|s| s.lines().collect()).unwrap_or_default();
        out.push(Scriptlet {
            name,
            interpreter,
            first_lines: lines
                .iter()
                .take(SCRIPT_LINES)
                .map(|l| l.to_string())
                .collect(),
            total_lines: lines.len(),
        });
    }
    out
}

/// One file as `rpm -qp --dump` prints it: path size mtime digest mode owner group isconfig
/// isdoc rdev symlink.
pub fn dump_line(file: &HeaderFile, algo: u32) -> String {
    let digest = if file.digest.is_empty() {
        "0".repeat(hex_len(algo))
    } else {
        file.digest.clone()
    };
    let link = if file.linkto.is_empty() {
        "X"
    } else {
        &file.linkto
    };
    format!(
        "{} {} {} {} 0{:o} {} {} {} {} {} {}",
        file.path,
        file.size,
        file.mtime,
        digest,
        file.mode,
        file.user,
        file.group,
        u8::from(file.flags & FILE_CONFIG != 0),
        u8::from(file.flags & FILE_DOC != 0),
        file.rdev,
        link
    )
}

impl fmt::Display for Inspection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (label, value) in &self.info {
            writeln!(f, "{label:<12}: {value}")?;
        }
        writeln!(f, "Description :")?;
        for line in self.description.lines() {
            writeln!(f, "  {line}")?;
        }
        for (title, deps) in [
            ("Requires", &self.requires),
            ("Provides", &self.provides),
            ("Conflicts", &self.conflicts),
            ("Obsoletes", &self.obsoletes),
        ] {
            writeln!(f, "{title}:")?;
            if deps.is_empty() {
                writeln!(f, "  (none)")?;
            }
            for dep in deps {
                writeln!(f, "  {dep}")?;
            }
        }
        writeln!(f, "Scriptlets:")?;
        if self.scriptlets.is_empty() {
            writeln!(f, "  (none)")?;
        }
        for s in &self.scriptlets {
            let interp = s.interpreter.as_deref().unwrap_or("/bin/sh");
            writeln!(f, "  {} ({interp}), {} lines:", s.name, s.total_lines)?;
            for line in &s.first_lines {
                writeln!(f, "    {line}")?;
            }
            if s.total_lines > s.first_lines.len() {
                writeln!(
                    f,
                    "    ... {} more lines",
                    s.total_lines - s.first_lines.len()
                )?;
            }
        }
        writeln!(
            f,
            "Files ({}; path size mtime digest mode owner group isconfig isdoc rdev symlink):",
            self.files.len()
        )?;
        for file in &self.files {
            writeln!(f, "  {}", dump_line(file, self.file_digest_algo))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dump_lines_look_like_rpms() {
        let dir = HeaderFile {
            path: "/usr/share/demo".into(),
            mode: 0o40755,
            size: 0,
            user: "root".into(),
            group: "root".into(),
            digest: String::new(),
            linkto: String::new(),
            flags: 0,
            mtime: 7,
            inode: 1,
            rdev: 0,
        };
        assert_eq!(
            dump_line(&dir, 1),
            format!(
                "/usr/share/demo 0 7 {} 040755 root root 0 0 0 X",
                "0".repeat(32)
            )
        );
        let conf = HeaderFile {
            path: "/etc/x".into(),
            mode: 0o100644,
            size: 5,
            digest: "ab".into(),
            flags: FILE_CONFIG,
            ..dir
        };
        assert_eq!(
            dump_line(&conf, 8),
            "/etc/x 5 7 ab 0100644 root root 1 0 0 X"
        );
    }
}
