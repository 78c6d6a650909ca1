//! What CentOS 7's rpm 4.11.3 and glibc 2.17 accept (../shared/EL7.md), as checks on a
//! package's headers and on each ELF in its payload.

use std::cmp::Ordering;

use rpm::{Dependency, DependencyFlags, IndexSignatureTag, IndexTag};

use super::read::RpmFile;
use super::report::{Report, Status};
use crate::elf::{EL7_INTERPRETER, EL7_LIMITS, ElfInfo};

/// The rpmlib() features rpm 4.11.3 provides, with their versions.
pub const RPMLIB_PROVIDES: [(&str, &str); 16] = [
    ("BuiltinLuaScripts", "4.2.2-1"),
    ("CompressedFileNames", "3.0.4-1"),
    ("ConcurrentAccess", "4.1-1"),
    ("ExplicitPackageProvide", "4.0-1"),
    ("FileCaps", "4.6.1-1"),
    ("FileDigests", "4.6.0-1"),
    ("HeaderLoadSortsTags", "4.0.1-1"),
    ("PartialHardlinkSets", "4.0.4-1"),
    ("PayloadFilesHavePrefix", "4.0-1"),
    ("PayloadIsBzip2", "3.0.5-1"),
    ("PayloadIsLzma", "4.4.2-1"),
    ("PayloadIsXz", "5.2-1"),
    ("ScriptletExpansion", "4.9.0-1"),
    ("ScriptletInterpreterArgs", "4.0.3-1"),
    ("TildeInVersions", "4.10.0-1"),
    ("VersionedDependencies", "3.0.3-1"),
];

/// Payload compressors rpm 4.11 can read.
pub const COMPRESSORS: [&str; 4] = ["gzip", "bzip2", "xz", "lzma"];

/// File digest algorithms rpm 4.11.3 computes (rpm's numbers): MD5, SHA1, MD2, SHA256, SHA384,
/// SHA512, SHA224, the ones rpmio/digest_nss.c getHashType maps (CentOS 7's rpm uses NSS, the
/// default of rpm 4.11.3's configure.ac; beecrypt is opt-in).
pub const FILE_DIGESTS: [u32; 7] = [1, 2, 5, 8, 9, 10, 11];

/// The package architectures rpm 4.11 installs on x86_64: what rpmrc.in's arch_compat lines
/// reach from x86_64 (x86_64: amd64 em64t athlon noarch; athlon: i686; i686: i586; …;
/// i386: noarch fat), compared without case (lib/rpmrc.c machEquivSearch).
pub const X86_64_ARCHES: [&str; 10] = [
    "x86_64", "amd64", "em64t", "athlon", "noarch", "i686", "i586", "i486", "i386", "fat",
];

/// Header checks: architecture, compressor, rpmlib() needs, rich dependencies, 64-bit size
/// tags and the file digest algorithm. `decoded`: the payload read to its cpio trailer the
/// way rpm 4.11 reads it.
pub fn rules(rpm: &RpmFile, decoded: bool, report: &mut Report) {
    arch(rpm, report);
    compressor(rpm, decoded, report);
    rpmlib(rpm, report);
    rich_deps(rpm, report);
    size_tags(rpm, report);
    file_digests(rpm, report);
}

/// lib/transaction.c checkProblems refuses a package whose arch or OS the machine does not
/// list as compatible (RPMPROB_BADARCH, RPMPROB_BADOS); rpmrc.in has no os_compat for Linux.
fn arch(rpm: &RpmFile, report: &mut Report) {
    let arch = rpm.string(IndexTag::RPMTAG_ARCH).unwrap_or("");
    let os = rpm.string(IndexTag::RPMTAG_OS).unwrap_or("");
    let arch_ok = X86_64_ARCHES.iter().any(|a| a.eq_ignore_ascii_case(arch));
    if !arch_ok {
        report.fail(
            "el7-arch",
            format!(
                "package architecture {arch:?}: rpm 4.11 on x86_64 CentOS 7 installs only {}",
                X86_64_ARCHES.join(", ")
            ),
        );
    } else if !os.eq_ignore_ascii_case("linux") {
        report.fail(
            "el7-arch",
            format!("package OS {os:?}: rpm 4.11 on CentOS 7 installs only linux packages"),
        );
    } else {
        report.pass("el7-arch", format!("{arch} package for {os}"));
    }
}

/// rpm 4.11 refuses a payload format other than cpio (lib/depends.c headerCheckPayloadFormat;
/// no tag is fine), and reads a compressor it has no reader for as plain cpio (rpmio/rpmio.c
/// Fdopen returns the descriptor for a name it does not match).
fn compressor(rpm: &RpmFile, decoded: bool, report: &mut Report) {
    let name = rpm.compressor();
    let format = rpm.string(IndexTag::RPMTAG_PAYLOADFORMAT).unwrap_or("cpio");
    if format != "cpio" {
        report.fail(
            "el7-compressor",
            format!("payload format {format}: rpm 4.11 installs only cpio payloads"),
        );
    } else if COMPRESSORS.contains(&name) {
        report.pass(
            "el7-compressor",
            format!("{name}-compressed cpio, which rpm 4.11 reads"),
        );
    } else if decoded {
        report.warn(
            "el7-compressor",
            format!(
                "rpm 4.11 has no {name} reader and reads the payload as plain cpio, which it \
                 is; name gzip, xz, bzip2 or lzma, or no compressor"
            ),
        );
    } else {
        let hint = if name == "zstd" {
            " (it lacks rpmlib(PayloadIsZstd))"
        } else {
            ""
        };
        report.fail(
            "el7-compressor",
            format!(
                "{name} payload: rpm 4.11 cannot read it{hint}; it reads gzip, bzip2, xz and \
                 lzma, and anything else as plain cpio, which this is not; use xz or gzip"
            ),
        );
    }
}

fn deps(
    report: &mut Report,
    check: &str,
    what: &str,
    got: Result<Vec<Dependency>, rpm::Error>,
) -> Vec<Dependency> {
    match got {
        Ok(deps) => deps,
        Err(rpm::Error::TagNotFound(_)) => Vec::new(),
        Err(e) => {
            report.fail(check, format!("{what} cannot be read: {e}"));
            Vec::new()
        }
    }
}

/// rpmlib() requirements are checked against what this rpm provides (lib/depends.c
/// unsatisfiedDepends, RPMSENSE_RPMLIB); one it lacks stops the install.
fn rpmlib(rpm: &RpmFile, report: &mut Report) {
    let requires = deps(
        report,
        "el7-rpmlib",
        "Requires",
        rpm.metadata.get_requires(),
    );
    let mut needed = Vec::new();
    let mut problems = Vec::new();
    for dep in requires.iter().filter(|d| d.name.starts_with("rpmlib(")) {
        let shown = show_dep(dep);
        needed.push(shown.clone());
        let feature = &dep.name["rpmlib(".len()..dep.name.len().saturating_sub(1)];
        match RPMLIB_PROVIDES.iter().find(|(f, _)| *f == feature) {
            None => problems.push(format!("{shown}: rpm 4.11.3 does not provide it")),
            Some((_, have)) if !satisfies(have, dep.flags, &dep.version) => problems.push(format!(
                "{shown}: rpm 4.11.3 provides rpmlib({feature}) = {have}"
            )),
            Some(_) => {}
        }
    }
    if !problems.is_empty() {
        report.fail("el7-rpmlib", problems.join("; "));
    } else if needed.is_empty() {
        report.pass("el7-rpmlib", "no rpmlib() requirements");
    } else {
        report.pass(
            "el7-rpmlib",
            format!("rpm 4.11.3 provides all of {}", needed.join(", ")),
        );
    }
}

/// rpm 4.11 has no rich dependencies: it takes "(a or b)" for a plain name. As a requirement
/// nothing provides it, so the install stops on it (lib/depends.c unsatisfiedDepends); as a
/// provide, conflict or obsolete it matches nothing, and the weak kinds it does not read at
/// all, so the relation is silently lost.
fn rich_deps(rpm: &RpmFile, report: &mut Report) {
    let m = &rpm.metadata;
    let kinds = [
        ("Requires", m.get_requires()),
        ("Provides", m.get_provides()),
        ("Conflicts", m.get_conflicts()),
        ("Obsoletes", m.get_obsoletes()),
        ("Recommends", m.get_recommends()),
        ("Suggests", m.get_suggests()),
        ("Supplements", m.get_supplements()),
        ("Enhances", m.get_enhances()),
    ];
    let mut rich = Vec::new();
    let mut required = false;
    for (kind, got) in kinds {
        for dep in deps(report, "el7-rich-deps", kind, got) {
            if dep.name.starts_with('(') {
                required |= kind == "Requires";
                rich.push(format!("{kind}: {}", show_dep(&dep)));
            }
        }
    }
    if rich.is_empty() {
        report.pass("el7-rich-deps", "no rich (boolean) dependencies");
    } else if required {
        report.fail(
            "el7-rich-deps",
            format!(
                "rich (boolean) dependencies, which rpm 4.11 takes for package names nothing \
                 provides (rpmlib(RichDependencies)): {}",
                rich.join("; ")
            ),
        );
    } else {
        report.warn(
            "el7-rich-deps",
            format!(
                "rich (boolean) dependencies, which rpm 4.11 takes for plain names that match \
                 nothing, so they have no effect there: {}",
                rich.join("; ")
            ),
        );
    }
}

/// rpm 4.11.3 knows the 64-bit size tags (lib/rpmtag.h; lib/tagexts.c get64 reads either
/// width), but its file info reads file sizes from FILESIZES only (lib/rpmfi.c rpmfiPopulate).
fn size_tags(rpm: &RpmFile, report: &mut Report) {
    let mut found = Vec::new();
    if rpm.has_sig(IndexSignatureTag::RPMSIGTAG_LONGSIZE) {
        found.push("signature LONGSIZE (270)");
    }
    if rpm.has_sig(IndexSignatureTag::RPMSIGTAG_LONGARCHIVESIZE) {
        found.push("signature LONGARCHIVESIZE (271)");
    }
    if rpm.has(IndexTag::RPMTAG_LONGFILESIZES) {
        found.push("LONGFILESIZES (5008)");
    }
    if rpm.has(IndexTag::RPMTAG_LONGSIZE) {
        found.push("LONGSIZE (5009)");
    }
    if rpm.has(IndexTag::RPMTAG_LONGFILESIZES) && !rpm.has(IndexTag::RPMTAG_FILESIZES) {
        report.warn(
            "el7-size-tags",
            "file sizes only in LONGFILESIZES: rpm 4.11 reads FILESIZES, so its disk space \
             check counts every file as empty",
        );
    } else if found.is_empty() {
        report.pass("el7-size-tags", "32-bit size tags only");
    } else {
        report.pass(
            "el7-size-tags",
            format!("64-bit size tags rpm 4.11.3 knows: {}", found.join(", ")),
        );
    }
}

/// An algorithm rpm 4.11 does not know falls back to MD5 (lib/rpmfi.c rpmfiPopulate), so
/// every file with data fails its digest on install (lib/fsm.c expandRegular).
fn file_digests(rpm: &RpmFile, report: &mut Report) {
    let algo = rpm.file_digest_algo();
    let name = super::hash::algo_name(algo);
    if FILE_DIGESTS.contains(&algo) {
        report.pass("el7-file-digests", format!("{name} file digests"));
    } else {
        report.fail(
            "el7-file-digests",
            format!(
                "{name} file digests: rpm 4.11 does not know the algorithm, reads them as MD5 \
                 and fails every file with data; use SHA256"
            ),
        );
    }
}

/// The verdict on one ELF: x86_64, EL7's loader, and symbol versions CentOS 7 provides.
pub fn elf_verdict(info: &ElfInfo) -> (Status, String) {
    let mut problems = Vec::new();
    if !info.is_x86_64() {
        problems.push(format!("a {}, not x86_64", info.describe()));
    }
    if let Some(interp) = &info.interpreter
        && interp != EL7_INTERPRETER
    {
        problems.push(format!(
            "interpreter {interp}, CentOS 7's is {EL7_INTERPRETER}"
        ));
    }
    let libstdcxx = info.needs_shared_libstdcxx();
    for newer in info.newer_than_el7() {
        let cxx = newer.version.starts_with("GLIBCXX_") || newer.version.starts_with("CXXABI_");
        if !cxx || libstdcxx {
            problems.push(format!("needs {newer}"));
        }
    }
    if problems.is_empty() {
        let mut what = info.describe();
        if let Some(interp) = &info.interpreter {
            what.push_str(&format!(", interpreter {interp}"));
        }
        let limit = |prefix: &str| {
            EL7_LIMITS
                .iter()
                .find(|(p, _)| *p == prefix)
                .map_or("?", |(_, version)| *version)
        };
        what.push_str(&format!(
            ", no symbol version newer than glibc {}",
            limit("GLIBC_")
        ));
        if libstdcxx {
            what.push_str(&format!(
                " / GLIBCXX {} / CXXABI {}",
                limit("GLIBCXX_"),
                limit("CXXABI_")
            ));
        }
        (Status::Pass, what)
    } else {
        (Status::Fail, problems.join("; "))
    }
}

/// "name <= version" as rpm shows a dependency.
pub fn show_dep(dep: &Dependency) -> String {
    let op = dep.flags.comparator_str();
    if op.is_empty() || dep.version.is_empty() {
        dep.name.clone()
    } else {
        format!("{} {op} {}", dep.name, dep.version)
    }
}

/// Whether a provide "= have" satisfies a requirement "flags version" (rpm's range overlap).
pub fn satisfies(have: &str, flags: DependencyFlags, want: &str) -> bool {
    let sense = flags & (DependencyFlags::LESS | DependencyFlags::GREATER | DependencyFlags::EQUAL);
    if sense.is_empty() || want.is_empty() {
        return true;
    }
    match compare_evr(have, want) {
        // have < want: a requirement "< want" or "<= want" holds; and so on.
        Ordering::Less => sense.contains(DependencyFlags::LESS),
        Ordering::Equal => sense.contains(DependencyFlags::EQUAL),
        Ordering::Greater => sense.contains(DependencyFlags::GREATER),
    }
}

/// Compare "[epoch:]version[-release]" the way rpm compares dependency ranges: the release
/// counts only when both sides have one.
pub fn compare_evr(a: &str, b: &str) -> Ordering {
    let (ea, va, ra) = split_evr(a);
    let (eb, vb, rb) = split_evr(b);
    ea.cmp(&eb)
        .then_with(|| rpmvercmp(va, vb))
        .then_with(|| match (ra, rb) {
            (Some(ra), Some(rb)) => rpmvercmp(ra, rb),
            _ => Ordering::Equal,
        })
}

fn split_evr(s: &str) -> (u64, &str, Option<&str>) {
    let (epoch, rest) = match s.split_once(':') {
        Some((e, rest)) if e.chars().all(|c| c.is_ascii_digit()) => (e.parse().unwrap_or(0), rest),
        _ => (0, s),
    };
    match rest.rsplit_once('-') {
        Some((v, r)) => (epoch, v, Some(r)),
        None => (epoch, rest, None),
    }
}

/// rpm 4.11's rpmvercmp: alternating numeric and alphabetic segments, `~` sorting first.
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (mut one, mut two) = (a.as_bytes(), b.as_bytes());
    let skip = |s: &[u8]| {
        s.iter()
            .take_while(|&&c| !c.is_ascii_alphanumeric() && c != b'~')
            .count()
    };
    while !one.is_empty() || !two.is_empty() {
        one = &one[skip(one)..];
        two = &two[skip(two)..];
        let tilde = (one.first() == Some(&b'~'), two.first() == Some(&b'~'));
        match tilde {
            (true, true) => {
                one = &one[1..];
                two = &two[1..];
                continue;
            }
            (true, false) => return Ordering::Less,
            (false, true) => return Ordering::Greater,
            _ => {}
        }
        if one.is_empty() || two.is_empty() {
            break;
        }
        let numeric = one[0].is_ascii_digit();
        let take = |s: &[u8]| {
            s.iter()
                .take_while(|c| {
                    if numeric {
                        c.is_ascii_digit()
                    } else {
                        c.is_ascii_alphabetic()
                    }
                })
                .count()
        };
        let (n1, n2) = (take(one), take(two));
        let (mut seg1, mut seg2) = (&one[..n1], &two[..n2]);
        one = &one[n1..];
        two = &two[n2..];
        if seg2.is_empty() {
            return if numeric {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        if numeric {
            seg1 = &seg1[seg1.iter().take_while(|&&c| c == b'0').count()..];
            seg2 = &seg2[seg2.iter().take_while(|&&c| c == b'0').count()..];
            match seg1.len().cmp(&seg2.len()) {
                Ordering::Equal => {}
                other => return other,
            }
        }
        match seg1.cmp(seg2) {
            Ordering::Equal => {}
            other => return other,
        }
    }
    match (one.is_empty(), two.is_empty()) {
        (true, true) => Ordering::Equal,
        (false, _) => Ordering::Greater,
        (true, false) => Ordering::Less,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpmvercmp_orders_like_rpm() {
        use Ordering::*;
        for (a, b, want) in [
            ("1.0", "1.0", Equal),
            ("1.0", "2.0", Less),
            ("2.0.1", "2.0", Greater),
            ("5.2", "5.4.18", Less),
            ("4.4.2", "4.4.6", Less),
            ("1.010", "1.9", Greater),
            ("1.0a", "1.0", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0~rc1", "1.0~rc2", Less),
            ("a", "1", Less),
            ("1.05", "1.5", Equal),
        ] {
            assert_eq!(rpmvercmp(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn rpmlib_ranges_overlap_like_rpm() {
        let le = DependencyFlags::LESS | DependencyFlags::EQUAL;
        // rpm 4.18's lzma payloads ask for <= 4.4.6-1; 4.11 provides = 4.4.2-1.
        assert!(satisfies("4.4.2-1", le, "4.4.6-1"));
        assert!(satisfies("5.2-1", le, "5.2-1"));
        assert!(!satisfies("5.2-1", DependencyFlags::GE, "5.4-1"));
        assert!(!satisfies("3.0.4-1", DependencyFlags::LESS, "3.0.4-1"));
        assert!(satisfies("3.0.4-1", DependencyFlags::ANY, ""));
        assert_eq!(compare_evr("1:1.0", "2.0"), Ordering::Greater);
        assert_eq!(compare_evr("1.0-1", "1.0"), Ordering::Equal);
    }
}
