//! Our package against Debian's rpmbuild on the same three files: the same header tags but for
//! a listed, justified few, and the same automatic dependencies.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use support::{Fixture, ONLY_RPMBUILD_HEADER, have, run};

fn tags(path: &Path) -> (BTreeSet<u32>, BTreeSet<u32>) {
    let meta = rpm::PackageMetadata::open(path).unwrap();
    let header = meta.header.get_all_entries().unwrap();
    let signature = meta.signature.get_all_entries().unwrap();
    (
        header.into_iter().map(|(t, _)| t).collect(),
        signature.into_iter().map(|(t, _)| t).collect(),
    )
}

/// Tags we write and Debian's rpmbuild does not.
const ONLY_OURS_HEADER: &[(u32, &str)] = &[];

/// Signature tags only one side writes.
const ONLY_RPMBUILD_SIGNATURE: &[(u32, &str)] = &[(
    1008,
    "RESERVEDSPACE: room for signing in place; `proxy-rpm sign` rewrites the file instead",
)];
const ONLY_OURS_SIGNATURE: &[(u32, &str)] = &[];

fn listed(set: &BTreeSet<u32>, allowed: &[(u32, &str)]) -> Vec<u32> {
    set.iter()
        .copied()
        .filter(|t| !allowed.iter().any(|(a, _)| a == t))
        .collect()
}

#[test]
fn header_tags_match_rpmbuild_but_for_listed_ones() {
    if !have("rpmbuild") {
        return;
    }
    let fx = Fixture::new();
    let ours = fx.package(&[]);
    let theirs = fx.rpmbuild("w2.xzdio");
    let (our_header, our_sig) = tags(&ours);
    let (their_header, their_sig) = tags(&theirs);

    let only_theirs: BTreeSet<u32> = their_header.difference(&our_header).copied().collect();
    let only_ours: BTreeSet<u32> = our_header.difference(&their_header).copied().collect();
    assert_eq!(
        listed(&only_theirs, ONLY_RPMBUILD_HEADER),
        Vec::<u32>::new(),
        "unlisted tags only rpmbuild writes"
    );
    assert_eq!(
        listed(&only_ours, ONLY_OURS_HEADER),
        Vec::<u32>::new(),
        "unlisted tags only we write"
    );

    // The lists stay true: every listed difference is a real one.
    for (tag, why) in ONLY_RPMBUILD_HEADER {
        assert!(
            only_theirs.contains(tag),
            "listed but not a difference: {tag} {why}"
        );
    }

    let only_theirs: BTreeSet<u32> = their_sig.difference(&our_sig).copied().collect();
    let only_ours: BTreeSet<u32> = our_sig.difference(&their_sig).copied().collect();
    assert_eq!(
        listed(&only_theirs, ONLY_RPMBUILD_SIGNATURE),
        Vec::<u32>::new(),
        "signature tags only rpmbuild writes"
    );
    assert_eq!(
        listed(&only_ours, ONLY_OURS_SIGNATURE),
        Vec::<u32>::new(),
        "signature tags only we write"
    );

    // EL7's `rpm -K` checks exactly these two; both sides must carry them.
    for tag in [269, 1004] {
        assert!(
            our_sig.contains(&tag) && their_sig.contains(&tag),
            "signature tag {tag}"
        );
    }
}

fn query(rpm: &Path, what: &str) -> BTreeSet<String> {
    run(Command::new("rpm").args(["-qp", what]).arg(rpm))
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn dependencies_match_rpmbuild() {
    if !have("rpmbuild") {
        return;
    }
    let fx = Fixture::new();
    let ours = fx.package(&[]);
    let theirs = fx.rpmbuild("w2.xzdio");
    assert_eq!(query(&ours, "--requires"), query(&theirs, "--requires"));
    assert_eq!(query(&ours, "--provides"), query(&theirs, "--provides"));
    let requires = query(&ours, "--requires");
    for dep in [
        "libc.so.6()(64bit)",
        "libc.so.6(GLIBC_2.2.5)(64bit)",
        "rtld(GNU_HASH)",
    ] {
        assert!(requires.contains(dep), "{dep} in {requires:?}");
    }
}

/// Our ELF reading against rpm's own `elfdeps` on real files: executables, PIE, and shared
/// objects with sonames and version definitions (provides).
#[test]
fn elf_dependencies_match_rpms_elfdeps() {
    let elfdeps = Path::new("/usr/lib/rpm/elfdeps");
    if !elfdeps.exists() {
        eprintln!("SKIP: /usr/lib/rpm/elfdeps missing (Debian's rpm package ships it)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let lib_src = dir.path().join("v.map");
    std::fs::write(
        &lib_src,
        "FIX_1.0 { global: f; local: *; };\nFIX_2.0 { global: g; } FIX_1.0;\n",
    )
    .unwrap();
    let lib = support::compile(
        dir.path(),
        "libfix.so.1",
        "int f(void){return 1;} int g(void){return 2;}",
        &[
            "-shared",
            "-fPIC",
            "-Wl,-soname,libfix.so.1",
            &format!("-Wl,--version-script={}", lib_src.display()),
        ],
    );
    let files = [
        support::old_glibc_elf(dir.path()),
        support::new_glibc_elf(dir.path()),
        lib,
        std::path::PathBuf::from("/bin/busybox"),
        std::path::PathBuf::from("/usr/lib/x86_64-linux-gnu/libc.so.6"),
    ];
    for file in files.iter().filter(|f| f.exists()) {
        let info = proxy_rpm::elf::ElfInfo::read(file).unwrap().unwrap();
        let theirs = |flag: &str| -> BTreeSet<String> {
            run(Command::new(elfdeps).arg(flag).arg(file))
                .lines()
                .map(str::to_string)
                .collect()
        };
        let ours_req: BTreeSet<String> = info.rpm_requires(true).into_iter().collect();
        let ours_prov: BTreeSet<String> = info.rpm_provides().into_iter().collect();
        assert_eq!(
            ours_req,
            theirs("--requires"),
            "requires of {}",
            file.display()
        );
        assert_eq!(
            ours_prov,
            theirs("--provides"),
            "provides of {}",
            file.display()
        );
    }
}
