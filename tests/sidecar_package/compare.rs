//! Our istio-sidecar against Debian's rpmbuild 4.18 on the same spec (written here from the
//! built-in one) and the same inputs: the same header tags but for a listed few, and the same
//! values, types included, for everything that describes the package: dependencies with
//! their scriptlet flags, scriptlets and interpreters, every file's mode, owner, flags,
//! verify flags, size and digest.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use proxy_rpm::spec::{Config, ScriptWhen, Spec};
use rpm::{IndexData, IndexTag};

use crate::support::{AS_INSTALLED, ONLY_RPMBUILD_HEADER, have, rpmbuild_bb};
use crate::support_sidecar::Inputs;

/// Tags whose values must be equal, type included.
const SAME_VALUE: &[IndexTag] = &[
    IndexTag::RPMTAG_NAME,
    IndexTag::RPMTAG_VERSION,
    IndexTag::RPMTAG_RELEASE,
    IndexTag::RPMTAG_SUMMARY,
    IndexTag::RPMTAG_DESCRIPTION,
    IndexTag::RPMTAG_SIZE,
    IndexTag::RPMTAG_LICENSE,
    IndexTag::RPMTAG_GROUP,
    IndexTag::RPMTAG_URL,
    IndexTag::RPMTAG_PACKAGER,
    IndexTag::RPMTAG_ARCH,
    IndexTag::RPMTAG_OS,
    IndexTag::RPMTAG_SOURCERPM,
    IndexTag::RPMTAG_REQUIRENAME,
    IndexTag::RPMTAG_REQUIREFLAGS,
    IndexTag::RPMTAG_REQUIREVERSION,
    IndexTag::RPMTAG_PROVIDENAME,
    IndexTag::RPMTAG_PROVIDEFLAGS,
    IndexTag::RPMTAG_PROVIDEVERSION,
    IndexTag::RPMTAG_PREIN,
    IndexTag::RPMTAG_POSTIN,
    IndexTag::RPMTAG_PREUN,
    IndexTag::RPMTAG_POSTUN,
    IndexTag::RPMTAG_PREINPROG,
    IndexTag::RPMTAG_POSTINPROG,
    IndexTag::RPMTAG_PREUNPROG,
    IndexTag::RPMTAG_POSTUNPROG,
    IndexTag::RPMTAG_CHANGELOGTIME,
    IndexTag::RPMTAG_CHANGELOGNAME,
    IndexTag::RPMTAG_CHANGELOGTEXT,
    IndexTag::RPMTAG_BASENAMES,
    IndexTag::RPMTAG_DIRNAMES,
    IndexTag::RPMTAG_DIRINDEXES,
    IndexTag::RPMTAG_FILESIZES,
    IndexTag::RPMTAG_FILEMODES,
    IndexTag::RPMTAG_FILERDEVS,
    IndexTag::RPMTAG_FILEDIGESTS,
    IndexTag::RPMTAG_FILELINKTOS,
    IndexTag::RPMTAG_FILEFLAGS,
    IndexTag::RPMTAG_FILEUSERNAME,
    IndexTag::RPMTAG_FILEGROUPNAME,
    IndexTag::RPMTAG_FILEVERIFYFLAGS,
    IndexTag::RPMTAG_FILEDEVICES,
    IndexTag::RPMTAG_FILEINODES,
    IndexTag::RPMTAG_FILELANGS,
    IndexTag::RPMTAG_FILECOLORS,
    IndexTag::RPMTAG_FILEDIGESTALGO,
];

/// The `.spec` rpmbuild reads for the built-in sidecar spec and these inputs.
fn rpmbuild_spec(spec: &Spec, inputs: &Inputs) -> String {
    let escape = |s: &str| s.replace('%', "%%");
    let mut t = format!(
        "Name: {}\nVersion: {}\nRelease: {}.{}\nSummary: {}\nLicense: {}\nGroup: {}\nURL: {}\n",
        spec.name,
        inputs.version,
        spec.release,
        spec.dist,
        spec.summary,
        spec.license,
        spec.group,
        spec.url
    );
    t += &format!("Packager: {}\n", spec.packager.as_deref().unwrap());
    for r in &spec.requires {
        let when: Vec<&str> = r.when.iter().map(|w| &w.section()[1..]).collect();
        let tag = if when.is_empty() {
            "Requires".to_string()
        } else {
            format!("Requires({})", when.join(","))
        };
        let version = if r.version.is_empty() {
            String::new()
        } else {
            let op = match r.op.unwrap() {
                proxy_rpm::spec::Op::Equal => "=",
                other => panic!("no {other:?} in the built-in spec"),
            };
            format!(" {op} {}", r.version)
        };
        t += &format!("{tag}: {}{version}\n", r.name);
    }
    t += &format!("\n%description\n{}\n\n%install\n", spec.description);
    for d in &spec.dirs {
        t += &format!("mkdir -p %{{buildroot}}{}\n", d.path);
    }
    for f in spec.files.iter().filter(|f| !f.ghost) {
        let input: PathBuf = match f.source.as_deref().unwrap() {
            "pilot-agent" => inputs.pilot_agent.clone(),
            "istio-start" => inputs.istio_start.clone(),
            "istio-service" => inputs.istio_service.clone(),
            other => panic!("unknown input {other}"),
        };
        t += &format!(
            "install -D -m {:o} {} %{{buildroot}}{}\n",
            f.mode,
            input.display(),
            f.path
        );
    }
    for s in &spec.scripts {
        assert_eq!(s.interpreter, "/bin/sh");
        t += &format!("\n{}\n{}\n", s.when.section(), escape(&s.body));
    }
    t += "\n%files\n";
    for d in &spec.dirs {
        t += &format!(
            "%dir %attr({:o},{},{}) {}\n",
            d.mode, d.user, d.group, d.path
        );
    }
    for f in &spec.files {
        assert_eq!(f.config, Config::No);
        let ghost = if f.ghost { "%ghost " } else { "" };
        t += &format!(
            "{ghost}%attr({:o},{},{}) {}\n",
            f.mode, f.user, f.group, f.path
        );
    }
    // The one changelog entry: 2026-11-30 was a Monday.
    let c = &spec.changelog[0];
    assert_eq!(
        c.time, 1_796_040_000,
        "the entry's date changed: fix the weekday below"
    );
    t += &format!("\n%changelog\n* Mon Nov 30 2026 {}\n{}\n", c.author, c.text);
    t
}

/// Debian's rpmbuild on that `.spec`, the payload compressed as ours is.
fn rpmbuild(dir: &Path, text: &str) -> PathBuf {
    let defines = [&AS_INSTALLED[..], &["_binary_payload w2.xzdio"]].concat();
    let rpms = rpmbuild_bb(
        &dir.join("rpmbuild"),
        &dir.join("istio-sidecar.spec"),
        text,
        &defines,
    );
    rpms.join("x86_64/istio-sidecar-1.6.14-1.el7.x86_64.rpm")
}

fn entries(path: &Path) -> Vec<(u32, IndexData)> {
    rpm::PackageMetadata::open(path)
        .unwrap()
        .header
        .get_all_entries()
        .unwrap()
}

#[test]
fn header_matches_rpmbuild_on_the_same_spec() {
    if !have("rpmbuild") {
        return;
    }
    let inputs = Inputs::new("1.6.14");
    let spec = Spec::builtin_sidecar();
    assert_eq!(spec.scripts.len(), ScriptWhen::ALL.len());
    let ours = inputs.sidecar(&[]);
    let theirs = rpmbuild(inputs.dir.path(), &rpmbuild_spec(&spec, &inputs));
    let (ours, theirs) = (entries(&ours), entries(&theirs));
    let tags = |e: &[(u32, IndexData)]| e.iter().map(|(t, _)| *t).collect::<BTreeSet<u32>>();
    let only_theirs: Vec<u32> = tags(&theirs).difference(&tags(&ours)).copied().collect();
    let only_ours: Vec<u32> = tags(&ours).difference(&tags(&theirs)).copied().collect();
    let listed: Vec<u32> = ONLY_RPMBUILD_HEADER.iter().map(|(t, _)| *t).collect();
    assert_eq!(only_theirs, listed, "tags only rpmbuild writes");
    assert_eq!(only_ours, Vec::<u32>::new(), "tags only we write");

    let value = |e: &[(u32, IndexData)], tag: IndexTag| {
        e.iter()
            .find(|(t, _)| *t == tag as u32)
            .map(|(_, d)| d.clone())
    };
    for tag in SAME_VALUE {
        let (a, b) = (value(&ours, *tag), value(&theirs, *tag));
        assert!(a.is_some(), "{tag:?} missing");
        assert_eq!(a, b, "{tag:?}: ours, then rpmbuild's");
    }
}
