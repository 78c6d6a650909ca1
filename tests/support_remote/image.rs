//! The image the farm runs actions in, for a Bazel client on this host (`--engine none`): the
//! toolchain stand-in image (so that `proxy-rpm image --image … --push` passes its toolchain
//! check) plus this host's own g++ with everything it depends on, copied from the installed
//! Debian packages into the same paths. Bazel autoconfigures `/usr/bin/gcc` here, and the
//! worker runs exactly that path in the image: same compiler, same headers, same libraries.
//! Built once per set of package versions (the tag is their hash).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use crate::support_container::toolchain::stand_in_image;
use crate::support_container::{content_tag, output, podman, scratch, text};

/// `localhost/proxy-rpm-test-farm:<hash>`, built if missing.
pub fn farm_image() -> Result<String, String> {
    static IMAGE: OnceLock<Result<String, String>> = OnceLock::new();
    IMAGE.get_or_init(build).clone()
}

fn build() -> Result<String, String> {
    let base = stand_in_image()?;
    let packages = closure("g++")?;
    let mut h = Sha256::new();
    h.update(base.as_bytes());
    for (name, version) in &packages {
        h.update(format!("\0{name}={version}").as_bytes());
    }
    let (tag, exists) = content_tag("localhost/proxy-rpm-test-farm", h);
    if exists {
        return Ok(tag);
    }
    let dir = tempfile::tempdir_in(scratch()).map_err(|e| e.to_string())?;
    let tar = dir.path().join("gcc.tar");
    let list = dir.path().join("files");
    std::fs::write(&list, files(packages.keys())?.join("\n") + "\n").map_err(|e| e.to_string())?;
    let out = output(
        Command::new("tar")
            .args(["-C", "/", "--no-recursion", "-cf"])
            .arg(&tar)
            .arg("-T")
            .arg(&list),
    );
    if !out.status.success() {
        return Err(format!("tar: {}", text(&out.stderr)));
    }
    // Merged /usr: the loader is /lib64/ld-linux-x86-64.so.2 (busybox's /bin stays as it is).
    let links = dir.path().join("links");
    std::fs::create_dir_all(&links).unwrap();
    for name in ["lib", "lib64", "sbin"] {
        std::os::unix::fs::symlink(format!("usr/{name}"), links.join(name)).unwrap();
    }
    let out = output(
        Command::new("tar")
            .arg("-C")
            .arg(&links)
            .arg("-rf")
            .arg(&tar)
            .args(["lib", "lib64", "sbin"]),
    );
    if !out.status.success() {
        return Err(format!("tar: {}", text(&out.stderr)));
    }
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {base}\nADD gcc.tar /\n"),
    )
    .unwrap();
    let out = output(podman().args(["build", "-t", &tag]).arg(dir.path()));
    if !out.status.success() {
        return Err(format!(
            "podman build of the farm image: {}",
            text(&out.stderr)
        ));
    }
    Ok(tag)
}

/// The installed packages `root` needs (Depends and Pre-Depends, alternatives and virtual
/// packages resolved among what is installed), with their versions.
fn closure(root: &str) -> Result<BTreeMap<String, String>, String> {
    let out = output(Command::new("dpkg-query").args([
        "-W",
        "-f",
        "${Package}\t${db:Status-Abbrev}\t${Version}\t${Depends}, ${Pre-Depends}\t${Provides}\n",
    ]));
    if !out.status.success() {
        return Err(format!("dpkg-query: {}", text(&out.stderr)));
    }
    let mut deps: BTreeMap<String, (String, String)> = BTreeMap::new();
    let mut provides: BTreeMap<String, String> = BTreeMap::new();
    for line in text(&out.stdout).lines() {
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 5 || !f[1].starts_with("ii") {
            continue;
        }
        deps.insert(f[0].to_string(), (f[2].to_string(), f[3].to_string()));
        for p in f[4].split(',') {
            if let Some(name) = p.split_whitespace().next() {
                provides.entry(name.to_string()).or_insert(f[0].to_string());
            }
        }
    }
    let resolve = |alternatives: &str| -> Option<String> {
        alternatives.split('|').find_map(|alt| {
            let name = alt.split_whitespace().next()?.split(':').next()?;
            if deps.contains_key(name) {
                Some(name.to_string())
            } else {
                provides.get(name).cloned()
            }
        })
    };
    if !deps.contains_key(root) {
        return Err(format!("{root} is not installed (apt-get install {root})"));
    }
    let mut seen = BTreeMap::new();
    let mut todo = vec![root.to_string()];
    while let Some(name) = todo.pop() {
        if seen.contains_key(&name) {
            continue;
        }
        let (version, depends) = deps[&name].clone();
        seen.insert(name, version);
        todo.extend(depends.split(',').filter_map(&resolve));
    }
    Ok(seen)
}

/// The files of `packages`, at their real paths (merged /usr), relative to `/`, without docs.
fn files<'a>(packages: impl Iterator<Item = &'a String>) -> Result<Vec<String>, String> {
    let names: Vec<&String> = packages.collect();
    let out = output(Command::new("dpkg").arg("-L").args(&names));
    if !out.status.success() {
        return Err(format!("dpkg -L: {}", text(&out.stderr)));
    }
    let mut files = BTreeSet::new();
    for line in text(&out.stdout).lines() {
        let path = Path::new(line.trim());
        let skip = [
            "/usr/share/doc",
            "/usr/share/man",
            "/usr/share/info",
            "/usr/share/locale",
        ]
        .iter()
        .any(|p| path.starts_with(p));
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            continue;
        };
        if skip || parent == Path::new("/") {
            continue;
        }
        let Ok(real_parent) = std::fs::canonicalize(parent) else {
            continue;
        };
        let real = real_parent.join(name);
        let Ok(meta) = std::fs::symlink_metadata(&real) else {
            continue;
        };
        if !meta.is_dir() {
            files.insert(real.to_string_lossy().trim_start_matches('/').to_string());
        }
    }
    Ok(files.into_iter().collect())
}
