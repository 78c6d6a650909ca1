//! Requires and Provides, as rpmbuild would compute them for these files: the rpmlib()
//! features the package format uses (only ones rpm 4.11 has), the ELF dependencies elfdeps
//! finds and script interpreters script.req finds, the spec's explicit Requires, the
//! scriptlets' interpreters, the package's own name and ISA provides, and `config(name)` for
//! config files.

use rpm::DependencyFlags;

use super::FileRecord;
use super::payload::Compression;
use crate::spec::Spec;

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Dependency {
    pub name: String,
    pub flags: u32,
    pub version: String,
}

impl Dependency {
    fn plain(name: impl Into<String>, flags: DependencyFlags) -> Self {
        Dependency {
            name: name.into(),
            flags: flags.bits(),
            version: String::new(),
        }
    }

    fn versioned(name: impl Into<String>, flags: DependencyFlags, version: &str) -> Self {
        Dependency {
            name: name.into(),
            flags: flags.bits(),
            version: version.to_string(),
        }
    }

    /// `name`, or `name OP version` as `rpm -q --requires` prints it.
    pub fn display(&self) -> String {
        if self.version.is_empty() {
            return self.name.clone();
        }
        let f = DependencyFlags::from_bits_truncate(self.flags);
        let op = match (
            f.contains(DependencyFlags::LESS),
            f.contains(DependencyFlags::GREATER),
            f.contains(DependencyFlags::EQUAL),
        ) {
            (true, false, true) => "<=",
            (true, false, false) => "<",
            (false, true, true) => ">=",
            (false, true, false) => ">",
            _ => "=",
        };
        format!("{} {op} {}", self.name, self.version)
    }
}

/// The rpmlib() features this writer's packages use, with the versions rpm 4.11.3 provides.
fn rpmlib_requires(compression: Compression) -> Vec<Dependency> {
    let rpmlib = DependencyFlags::RPMLIB | DependencyFlags::LESS | DependencyFlags::EQUAL;
    let mut deps = vec![
        Dependency::versioned("rpmlib(CompressedFileNames)", rpmlib, "3.0.4-1"),
        Dependency::versioned("rpmlib(FileDigests)", rpmlib, "4.6.0-1"),
        Dependency::versioned("rpmlib(PayloadFilesHavePrefix)", rpmlib, "4.0-1"),
    ];
    if compression == Compression::Xz {
        deps.push(Dependency::versioned(
            "rpmlib(PayloadIsXz)",
            rpmlib,
            "5.2-1",
        ));
    }
    deps
}

/// All requires of the package, sorted by name, version and flags as rpmbuild's dependency
/// sets keep them (lib/rpmds.c rpmdsMerge): automatic ones from the files, `config(name)`,
/// the spec's, one interpreter per scriptlet (`Requires(pre): /bin/sh`, flagged
/// `RPMSENSE_INTERP`), and rpmlib().
pub fn requires(
    spec: &Spec,
    version: &str,
    release: &str,
    files: &[FileRecord],
    compression: Compression,
) -> Vec<Dependency> {
    let evr = format!("{version}-{release}");
    let mut auto: Vec<String> = files.iter().flat_map(|f| f.requires.clone()).collect();
    auto.sort();
    auto.dedup();
    // A package that provides a library it also needs does not require it from elsewhere.
    let provided: Vec<String> = files.iter().flat_map(|f| f.provides.clone()).collect();
    auto.retain(|r| !provided.contains(r));
    let mut deps: Vec<Dependency> = auto
        .into_iter()
        .map(|n| Dependency::plain(n, DependencyFlags::FIND_REQUIRES))
        .collect();
    if files.iter().any(|f| f.is_config()) {
        deps.push(Dependency::versioned(
            format!("config({})", spec.name),
            DependencyFlags::CONFIG | DependencyFlags::EQUAL,
            &evr,
        ));
    }
    for r in &spec.requires {
        deps.push(Dependency {
            name: r.name.clone(),
            flags: r.sense(),
            version: r.version_for(version, release),
        });
    }
    for s in &spec.scripts {
        deps.push(Dependency {
            name: s.interpreter.clone(),
            flags: DependencyFlags::INTERP.bits() | s.when.sense(),
            version: String::new(),
        });
    }
    deps.extend(rpmlib_requires(compression));
    deps.sort_by(|a, b| (&a.name, &a.version, a.flags).cmp(&(&b.name, &b.version, b.flags)));
    deps.dedup();
    deps
}

/// All provides: the package itself, its ISA-qualified name, `config(name)`, and what its
/// shared objects provide.
pub fn provides(name: &str, evr: &str, arch: &str, files: &[FileRecord]) -> Vec<Dependency> {
    let mut deps = Vec::new();
    if files.iter().any(|f| f.is_config()) {
        deps.push(Dependency::versioned(
            format!("config({name})"),
            DependencyFlags::CONFIG | DependencyFlags::EQUAL,
            evr,
        ));
    }
    let mut auto: Vec<String> = files.iter().flat_map(|f| f.provides.clone()).collect();
    auto.sort();
    auto.dedup();
    deps.extend(
        auto.into_iter()
            .map(|n| Dependency::plain(n, DependencyFlags::FIND_PROVIDES)),
    );
    deps.push(Dependency::versioned(name, DependencyFlags::EQUAL, evr));
    if let Some(isa) = isa_name(arch) {
        deps.push(Dependency::versioned(
            format!("{name}({isa})"),
            DependencyFlags::EQUAL,
            evr,
        ));
    }
    deps
}

/// The `%{_isa}` spelling of an architecture, as EL7 rpm's macros define it.
fn isa_name(arch: &str) -> Option<&'static str> {
    match arch {
        "x86_64" => Some("x86-64"),
        "aarch64" => Some("aarch-64"),
        "ppc64le" => Some("ppc-64"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rpmlib_features_are_ones_el7_has() {
        let names: Vec<String> = rpmlib_requires(Compression::Xz)
            .into_iter()
            .map(|d| d.display())
            .collect();
        assert_eq!(
            names,
            [
                "rpmlib(CompressedFileNames) <= 3.0.4-1",
                "rpmlib(FileDigests) <= 4.6.0-1",
                "rpmlib(PayloadFilesHavePrefix) <= 4.0-1",
                "rpmlib(PayloadIsXz) <= 5.2-1",
            ]
        );
        assert!(
            rpmlib_requires(Compression::Gzip)
                .iter()
                .all(|d| d.name != "rpmlib(PayloadIsXz)")
        );
    }
}
