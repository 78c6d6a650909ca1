//! `proxy-rpm image --push REGISTRY/NAME`: the builder image on a registry a build farm pulls
//! from, and a record of what was pushed, so that remote execution can run actions in exactly
//! that image (by digest) and refuse when the local image is no longer the one pushed.
//!
//! The record is `CACHE_DIR/pushed-images.json` (the cache dir `compile` and `build` use,
//! `~/.cache/proxy-rpm` by default), one entry per local tag: the local image ID at push time
//! and the pushed `REGISTRY/NAME@sha256:…`. A registry digest cannot live in the image's labels
//! (a label changes the image, and so its digest), and the engine's own `RepoDigests` differ
//! between docker (set on push) and podman (set on pull only).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{Engine, EngineKind};
use crate::error::IoContext;
use crate::preflight::Version;
use crate::{Error, Reporter, Result};

/// The record's file name in the cache dir.
pub const RECORD_FILE: &str = "pushed-images.json";

/// One pushed image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushedImage {
    /// The local tag that was pushed, e.g. `proxy-rpm-builder:centos7-0123456789ab`.
    pub local: String,
    /// The local image ID (`image inspect {{.Id}}`) at push time.
    pub id: String,
    /// Where it went, by digest: `REGISTRY/NAME@sha256:<64 hex>`.
    pub reference: String,
}

impl PushedImage {
    /// The REAPI platform value farms pull: `docker://REGISTRY/NAME@sha256:…`.
    pub fn container_image(&self) -> String {
        format!("docker://{}", self.reference)
    }

    /// `sha256:…`, the manifest digest.
    pub fn digest(&self) -> &str {
        self.reference
            .rsplit_once('@')
            .map_or("", |(_, digest)| digest)
    }
}

#[derive(Default, Serialize, Deserialize)]
struct Record {
    images: BTreeMap<String, PushedImage>,
}

/// `CACHE_DIR/pushed-images.json`.
pub fn record_path(cache_dir: &Path) -> PathBuf {
    cache_dir.join(RECORD_FILE)
}

fn load(cache_dir: &Path) -> Result<Record> {
    let path = record_path(cache_dir);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            Error::input(format!(
                "{}: not a push record ({e}); remove it and push again with `proxy-rpm image --push`",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Record::default()),
        Err(e) => Err(e).at(&path),
    }
}

/// What was pushed from the local tag `local`, if anything.
pub fn pushed(cache_dir: &Path, local: &str) -> Result<Option<PushedImage>> {
    Ok(load(cache_dir)?.images.remove(local))
}

fn save(cache_dir: &Path, image: &PushedImage) -> Result<()> {
    let mut record = load(cache_dir)?;
    record.images.insert(image.local.clone(), image.clone());
    let mut text = serde_json::to_string_pretty(&record).expect("the record serializes");
    text.push('\n');
    crate::atomic::write(&record_path(cache_dir), text.as_bytes(), 0o644)?;
    Ok(())
}

/// The tag to push `local` as: `target` when it names a tag, else `target:<local's tag>`.
pub fn remote_tag(local: &str, target: &str) -> Result<String> {
    let name_part = target.rsplit('/').next().unwrap_or(target);
    let ok = !target.is_empty()
        && target.contains('/')
        && !target.contains('@')
        && !target.contains("://")
        && !target.chars().any(char::is_whitespace);
    if !ok {
        return Err(Error::input(format!(
            "--push {target}: expected REGISTRY/NAME (e.g. registry.example.com:5000/proxy-rpm-builder), \
             without a scheme or a digest"
        )));
    }
    if name_part.contains(':') {
        return Ok(target.to_string());
    }
    let tag = local
        .rsplit('/')
        .next()
        .and_then(|last| last.split_once(':'))
        .map_or("latest", |(_, tag)| tag);
    Ok(format!("{target}:{tag}"))
}

/// The digest in docker's push output: `TAG: digest: sha256:<hex> size: N`
/// (moby/moby distribution/push_v2.go, `progress.Messagef(… "%s: digest: %s size: %d" …)`).
pub fn digest_in_push_output(line: &str) -> Option<String> {
    let at = line.find("digest: sha256:")?;
    let hex: String = line[at + "digest: ".len() + "sha256:".len()..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    (hex.len() == 64).then(|| format!("sha256:{hex}"))
}

fn valid_digest(digest: &str) -> bool {
    digest
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()))
}

/// The local image's ID, or the "no such image" error.
pub fn image_id(engine: &Engine, image: &str, reporter: &Reporter) -> Result<String> {
    engine
        .image_inspect(image, "{{.Id}}")
        .read(reporter)
        .map(|id| {
            let id = id.trim();
            // docker answers `sha256:<hex>`, podman the bare hex.
            if id.starts_with("sha256:") {
                id.to_string()
            } else {
                format!("sha256:{id}")
            }
        })
        .map_err(|_| super::missing_image(image))
}

/// Tag `local` for `target`, push it with the engine, and record the digest. Podman writes the
/// digest to `--digestfile`; docker prints it (see [`digest_in_push_output`]). Credentials are
/// the engine's own (`docker login` / `podman login`).
pub fn push(
    engine: &Engine,
    local: &str,
    target: &str,
    cache_dir: &Path,
    reporter: &Reporter,
) -> Result<PushedImage> {
    if engine.kind() == EngineKind::Podman
        && let Some(needed) = engine.older_than(Version(0, 0, 0), super::PODMAN_DIGESTFILE)
    {
        return Err(Error::input(format!(
            "--push: podman {} cannot report the pushed digest (`push --digestfile` came with \
             podman {needed}); install a newer podman, or push with --engine docker",
            engine.show(engine.version().unwrap_or(needed))
        )));
    }
    let id = image_id(engine, local, reporter)?;
    let tag = remote_tag(local, target)?;
    engine.cmd().arg("tag").arg(local).arg(&tag).run(reporter)?;
    let scratch = tempfile::tempdir().at(std::env::temp_dir())?;
    let digest_file = scratch.path().join("digest");
    let mut printed = None;
    let cmd = match engine.kind() {
        EngineKind::Podman => engine
            .cmd()
            .arg("push")
            .arg("--digestfile")
            .arg(&digest_file)
            .arg(&tag),
        EngineKind::Docker => engine.cmd().arg("push").arg(&tag),
    };
    let step = reporter.step(&format!("push {tag}"));
    let result = cmd.run_lines(reporter, |line| {
        if let Some(d) = digest_in_push_output(line) {
            printed = Some(d);
        }
    });
    step.finish(if result.is_ok() { "pushed" } else { "failed" });
    result?;
    let digest = match engine.kind() {
        EngineKind::Podman => std::fs::read_to_string(&digest_file)
            .at(&digest_file)?
            .trim()
            .to_string(),
        EngineKind::Docker => printed.unwrap_or_default(),
    };
    if !valid_digest(&digest) {
        return Err(Error::failed(format!(
            "{} push {tag} succeeded but reported no sha256 digest (got `{digest}`); push again",
            engine.name()
        )));
    }
    let repository = tag.rsplit_once(':').map_or(tag.as_str(), |(repo, t)| {
        if t.contains('/') { tag.as_str() } else { repo }
    });
    let image = PushedImage {
        local: local.to_string(),
        id,
        reference: format!("{repository}@{digest}"),
    };
    save(cache_dir, &image)?;
    Ok(image)
}

/// Is `reference` (`REGISTRY/NAME@sha256:…`) on its registry? Asked with the engine's
/// `manifest inspect`, which fetches the manifest. Podman 4.3.1 fetches it, then fails on a
/// single-image manifest with "Treating single images as manifest lists is not implemented"
/// (an absent digest fails with "manifest unknown" instead): that failure means present.
pub fn on_registry(engine: &Engine, reference: &str, reporter: &Reporter) -> Result<(), String> {
    let cmd = engine.cmd().args(["manifest", "inspect"]).arg(reference);
    match cmd.read(reporter) {
        Ok(_) => Ok(()),
        Err(e)
            if e.tail
                .iter()
                .any(|l| l.contains("Treating single images as manifest lists")) =>
        {
            Ok(())
        }
        Err(e) => Err(e
            .tail
            .last()
            .cloned()
            .unwrap_or_else(|| format!("`{}` failed", e.command))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_podman_without_digestfile_is_refused_before_anything_runs() {
        // The program does not exist: a refusal that ran anything would fail differently.
        let old = Engine::new(EngineKind::Podman, "/nonexistent/podman", false)
            .with_version(Some(Version(1, 5, 1)));
        let dir = tempfile::tempdir().unwrap();
        let err = push(&old, "b:1", "reg:5000/b", dir.path(), &Reporter::silent())
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("--push: podman 1.5.1 cannot report"),
            "{err}"
        );
        assert!(err.contains("podman 1.6.0"), "{err}");
        assert!(!record_path(dir.path()).exists());
    }

    #[test]
    fn the_remote_tag_keeps_the_local_tag_unless_one_is_given() {
        let local = "proxy-rpm-builder:centos7-0123456789ab";
        assert_eq!(
            remote_tag(local, "127.0.0.1:5000/builder").unwrap(),
            "127.0.0.1:5000/builder:centos7-0123456789ab"
        );
        assert_eq!(
            remote_tag(local, "reg.example:5000/team/builder:v1").unwrap(),
            "reg.example:5000/team/builder:v1"
        );
        assert_eq!(
            remote_tag("localhost/x", "reg/builder").unwrap(),
            "reg/builder:latest"
        );
        for bad in ["builder", "docker://reg/b", "reg/b@sha256:00", ""] {
            assert!(remote_tag(local, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn docker_push_output_names_the_digest() {
        let hex = "a".repeat(64);
        let line = format!("centos7-0123: digest: sha256:{hex} size: 1234");
        assert_eq!(digest_in_push_output(&line), Some(format!("sha256:{hex}")));
        assert_eq!(digest_in_push_output("digest: sha256:abc size: 1"), None);
        assert_eq!(digest_in_push_output("Pushed"), None);
    }

    #[test]
    fn the_record_keeps_one_entry_per_local_tag() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(pushed(dir.path(), "a:1").unwrap(), None);
        let first = PushedImage {
            local: "a:1".into(),
            id: "sha256:11".into(),
            reference: format!("reg/a@sha256:{}", "1".repeat(64)),
        };
        save(dir.path(), &first).unwrap();
        let second = PushedImage {
            id: "sha256:22".into(),
            ..first.clone()
        };
        save(dir.path(), &second).unwrap();
        assert_eq!(pushed(dir.path(), "a:1").unwrap(), Some(second.clone()));
        assert_eq!(second.digest(), format!("sha256:{}", "1".repeat(64)));
        assert_eq!(
            second.container_image(),
            format!("docker://reg/a@sha256:{}", "1".repeat(64))
        );
    }
}
