//! `inspect`: what a package holds, from its headers alone (the payload is not read), in the
//! shape of `rpm -qpi`, `--requires`/`--provides`/`--conflicts`, `--scripts` and `--dump`;
//! requirements carry the scriptlets they are for (`[pre]`, `[post,interp]`, rpm's `deptype`
//! words) and %ghost files are listed apart.

use std::fmt;
use std::path::{Path, PathBuf};

use rpm::{IndexSignatureTag, IndexTag};

use super::el7::show_dep;
use super::hash::{algo_name, hex_len};
use super::packet::parse_packet;
use super::read::{FILE_CONFIG, FILE_DOC, HeaderFile, RpmFile};
use super::scripts::{Scriptlet, contexts, scriptlets};
use super::signature::signatures as signature_tags;
use crate::{Error, Result};

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
    // Requirements with the scriptlets they must be installed for, as rpm's `deptype` words.
    let requires = m
        .get_requires()
        .map(|deps| {
            deps.iter()
                .map(|d| match contexts(d.flags) {
                    c if c.is_empty() => show_dep(d),
                    c => format!("{} [{}]", show_dep(d), c.join(",")),
                })
                .collect()
        })
        .unwrap_or_default();
    let files = rpm.files().map_err(|e| Error::Unreadable {
        path: path.to_path_buf(),
        message: e,
    })?;
    Ok(Inspection {
        path: path.to_path_buf(),
        nevra,
        info,
        description: text(IndexTag::RPMTAG_DESCRIPTION).unwrap_or_default(),
        requires,
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
    // rpm opens a payload without PAYLOADCOMPRESSOR as gzip (rpm 4.11.3 lib/rpmte.c
    // rpmtePayload), which reads plain data unchanged.
    let mut out = match rpm.string(IndexTag::RPMTAG_PAYLOADCOMPRESSOR) {
        Some(name) => format!("{format}, {name}-compressed"),
        None => format!("{format}, no compressor named (read as gzip)"),
    };
    if let Some(flags) = rpm
        .string(IndexTag::RPMTAG_PAYLOADFLAGS)
        .filter(|f| !f.is_empty())
    {
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
    let mut shown: Vec<String> = signature_tags(rpm)
        .into_iter()
        .map(|sig| {
            let covers = if sig.with_payload {
                "header+payload"
            } else {
                "header"
            };
            match parse_packet(sig.bytes) {
                Ok(p) => format!("{p} ({covers}, {} tag)", sig.tag),
                Err(e) => format!("unreadable {} signature: {e}", sig.tag),
            }
        })
        .collect();
    if rpm.has_sig(IndexSignatureTag::RPMSIGTAG_OPENPGP) {
        shown.push("rpm 6 OPENPGP signature (ignored by rpm 4.11)".into());
    }
    if shown.is_empty() {
        "(none)".into()
    } else {
        shown.join("; ")
    }
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
            let interp = s.interpreter();
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
        // `--dump` does not mark them: a %ghost is listed and owned but not in the payload.
        let ghosts: Vec<&HeaderFile> = self.files.iter().filter(|f| f.is_ghost()).collect();
        writeln!(f, "Ghost files ({}; path mode owner group):", ghosts.len())?;
        for g in ghosts {
            writeln!(f, "  {} 0{:o} {} {}", g.path, g.mode, g.user, g.group)?;
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
