//! The CentOS 7 builder image: `proxy-rpm image`. The default tag carries a hash of the
//! Dockerfile, the files it copies in (the toolchain check) and the build arguments that change
//! the image, so an edited Dockerfile gets a new image and an unchanged one is reused without
//! running the engine's build at all. `proxy-rpm image --image X` checks an existing image.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sha2::{Digest, Sha256};

use super::toolchain::{self, TOOLCHAIN_CHECK, TOOLCHAIN_CHECK_FILE};
use super::variant::{self, Variant};
use super::{Engine, EngineChoice};
use crate::error::IoContext;
use crate::run::{Cmd, CommandError};
use crate::{Error, Reporter, Result};

/// The Dockerfile of this repository, built in so that an installed binary can build it.
pub const BUILTIN_DOCKERFILE: &str = include_str!("../../containers/centos7/Dockerfile");

/// The repository part of our image tags.
pub const IMAGE_REPOSITORY: &str = "proxy-rpm-builder";
/// The label recording which Dockerfile (and arguments) an image was built from.
pub const HASH_LABEL: &str = "io.proxy-rpm.dockerfile-sha256";

/// Where the built-in Dockerfile is written for a build; shown as is in plans.
const BUILTIN_PLACEHOLDER: &str = "$TMPDIR/proxy-rpm-image";

pub use super::args::PROXY_ENV;

/// What the engine says when the base image's registry cannot be reached (podman's
/// "initializing source docker://…: pinging container registry …: dial tcp …", docker's
/// "failed to resolve source metadata …: no such host" and the like), lower case.
const REGISTRY_ERRORS: &[&str] = &[
    "pinging container registry",
    "initializing source docker://",
    "failed to resolve source metadata",
    "error pulling image configuration",
    "dial tcp",
    "no such host",
    "tls handshake timeout",
    "i/o timeout",
    "manifest unknown",
    "toomanyrequests",
    "pull access denied",
];

/// The way out when the base image cannot be pulled.
const REGISTRY_HINT: &str = "the base image's registry cannot be reached: pull CentOS 7 from a \
    registry mirror you can reach with `proxy-rpm image --build-arg BASE_IMAGE=<mirror>/centos:7`, \
    or give `proxy-rpm build --image` an existing builder image";

#[derive(clap::Args, Debug)]
pub struct ImageArgs {
    /// Container engine (default: $PROXY_RPM_ENGINE, else docker if installed, else podman).
    #[arg(long, value_enum)]
    pub engine: Option<EngineChoice>,
    /// Image tag (default: proxy-rpm-builder:centos7-<hash of the Dockerfile>).
    #[arg(long)]
    pub tag: Option<String>,
    /// Build this Dockerfile instead of the built-in CentOS 7 one.
    #[arg(long)]
    pub dockerfile: Option<PathBuf>,
    /// Build context (default: the Dockerfile's directory).
    #[arg(long, requires = "dockerfile")]
    pub context: Option<PathBuf>,
    /// A build argument, e.g. BASE_IMAGE=centos@sha256:… or a download mirror (repeatable).
    #[arg(long = "build-arg", value_name = "KEY=VALUE", value_parser = parse_build_arg)]
    pub build_args: Vec<(String, String)>,
    /// Append the engine's output to this file instead of printing it.
    #[arg(long)]
    pub log: Option<PathBuf>,
    /// Check this existing image's toolchain instead of building one.
    #[arg(long, conflicts_with_all = ["tag", "dockerfile", "context", "build_args", "log"])]
    pub image: Option<String>,
    /// Then push the image to REGISTRY/NAME (tagged as the local tag unless NAME has one) and
    /// record its digest in the cache dir: remote execution runs in exactly that image.
    #[arg(long, value_name = "REGISTRY/NAME")]
    pub push: Option<String>,
    /// Where the push record goes (default: ~/.cache/proxy-rpm, as for `compile`).
    #[arg(long, value_name = "DIR", requires = "push")]
    pub cache_dir: Option<PathBuf>,
    /// Build this variant FROM the base image (built first; --tag then names the variant), or
    /// with --image check for what it adds: the builder a release line needs
    /// (profiles/releases.toml; centos7-python3-gn adds python3 and gn for Istio 1.7's Envoy).
    #[arg(long, value_name = "NAME", value_parser = clap::builder::PossibleValuesParser::new(variant::NAMES))]
    pub variant: Option<String>,
}

impl ImageArgs {
    pub fn run(self, reporter: &Reporter) -> Result<ExitCode> {
        let engine = Engine::detect(self.engine)?;
        let variant = self
            .variant
            .as_deref()
            .map(variant::named)
            .transpose()?
            .flatten();
        if let Some(image) = &self.image {
            let extra = variant.map_or(&[][..], |v| v.needs);
            toolchain::check(&engine, image, extra, reporter)?;
            return finish(self.push, self.cache_dir, &engine, image, reporter);
        }
        let options = ImageOptions {
            engine,
            tag: self.tag,
            dockerfile: self.dockerfile,
            context: self.context,
            build_args: self.build_args,
            log: self.log,
            variant: None,
        };
        let image = match variant {
            Some(v) => variant::build(&options, v, reporter)?.1,
            None => build_image(&options, reporter)?,
        };
        finish(
            self.push,
            self.cache_dir,
            &options.engine,
            &image.tag,
            reporter,
        )
    }
}

/// Print the image (or, with `--push`, push it and print `REGISTRY/NAME@sha256:…`).
fn finish(
    push: Option<String>,
    cache_dir: Option<PathBuf>,
    engine: &Engine,
    image: &str,
    reporter: &Reporter,
) -> Result<ExitCode> {
    let Some(target) = push else {
        println!("{image}");
        return Ok(ExitCode::SUCCESS);
    };
    let cache_dir = match cache_dir {
        Some(dir) => dir,
        None => crate::bazel::default_cache_dir()?,
    };
    let pushed = super::push::push(engine, image, &target, &cache_dir, reporter)?;
    reporter.info(format!(
        "pushed {image} as {} (recorded in {})",
        pushed.reference,
        super::push::record_path(&cache_dir).display()
    ));
    println!("{}", pushed.reference);
    Ok(ExitCode::SUCCESS)
}

/// `--build-arg KEY=VALUE`, as `image` and `doctor` take it.
pub fn parse_build_arg(s: &str) -> std::result::Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("`{s}`: expected KEY=VALUE")),
    }
}

/// What to build and how; [`build_image`] takes it.
#[derive(Clone, Debug)]
pub struct ImageOptions {
    pub engine: Engine,
    /// Default: `proxy-rpm-builder:<dir>-<12 hex of the hash>` (`<dir>` is `centos7` for ours).
    pub tag: Option<String>,
    /// Default: the built-in `containers/centos7/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    /// Default: the Dockerfile's directory (an empty one for the built-in Dockerfile).
    pub context: Option<PathBuf>,
    pub build_args: Vec<(String, String)>,
    /// Append the engine's output here (else it goes to stderr).
    pub log: Option<PathBuf>,
    /// Build this built-in variant's Dockerfile instead (its options come from
    /// [`variant::variant_options`], which passes the base image's tag).
    pub variant: Option<&'static Variant>,
}

impl ImageOptions {
    pub fn new(engine: Engine) -> ImageOptions {
        ImageOptions {
            engine,
            tag: None,
            dockerfile: None,
            context: None,
            build_args: Vec::new(),
            log: None,
            variant: None,
        }
    }
}

/// The image a build runs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageRef {
    pub tag: String,
    /// sha256 of the Dockerfile and the build arguments that shape the image.
    pub hash: String,
    /// False when an image built from the same Dockerfile was reused.
    pub built: bool,
}

/// What `build_image` would do: the tag, and the build command it runs when no image with
/// that hash exists (the built-in Dockerfile's directory shows as `$TMPDIR/proxy-rpm-image`).
#[derive(Clone, Debug)]
pub struct ImagePlan {
    pub tag: String,
    pub hash: String,
    pub build: Cmd,
}

/// The plan for `options`, reading the Dockerfile but running and writing nothing.
pub fn image_plan(options: &ImageOptions) -> Result<ImagePlan> {
    let source = Source::of(options)?;
    let placeholder = Path::new(BUILTIN_PLACEHOLDER);
    let (dockerfile, context) = source.paths(options, placeholder);
    let hash = hash_with_files(&source.text, &source.files, &options.build_args);
    let tag = options
        .tag
        .clone()
        .unwrap_or_else(|| default_tag(&source.name, &hash));
    let build = build_cmd(options, &tag, &hash, &dockerfile, &context, is_set);
    Ok(ImagePlan { tag, hash, build })
}

/// Build the builder image unless an image of the same hash exists under the tag.
pub fn build_image(options: &ImageOptions, reporter: &Reporter) -> Result<ImageRef> {
    let plan = image_plan(options)?;
    let found = options
        .engine
        .image_inspect(
            &plan.tag,
            &format!("{{{{ index .Config.Labels \"{HASH_LABEL}\" }}}}"),
        )
        .read(reporter);
    if let Ok(label) = found
        && label.trim() == plan.hash
    {
        reporter.info(format!("reusing image {} (Dockerfile unchanged)", plan.tag));
        return Ok(ImageRef {
            tag: plan.tag,
            hash: plan.hash,
            built: false,
        });
    }
    let source = Source::of(options)?;
    // The built-in Dockerfile's context is a directory of our own with the files it copies.
    let scratch = match &options.dockerfile {
        Some(_) => None,
        None => {
            let dir = tempfile::Builder::new()
                .prefix("proxy-rpm-image")
                .tempdir()
                .at(std::env::temp_dir())?;
            let path = dir.path().join("Dockerfile");
            std::fs::write(&path, &source.text).at(&path)?;
            for (name, text) in &source.files {
                let path = dir.path().join(name);
                std::fs::write(&path, text).at(&path)?;
            }
            Some(dir)
        }
    };
    let (dockerfile, context) = source.paths(
        options,
        scratch.as_ref().map_or(Path::new("."), |d| d.path()),
    );
    let cmd = build_cmd(
        options,
        &plan.tag,
        &plan.hash,
        &dockerfile,
        &context,
        is_set,
    );
    // With a log, a progress line shows the engine's current step; without one the engine's
    // own output is the progress, and a spinner would only garble it.
    let Some(log) = &options.log else {
        reporter.info(format!("building image {}", plan.tag));
        cmd.run(reporter).map_err(with_registry_hint)?;
        return Ok(ImageRef {
            tag: plan.tag,
            hash: plan.hash,
            built: true,
        });
    };
    let step = reporter.step(&format!("image {}", plan.tag));
    let result = cmd.log(log).run_lines(reporter, |line| {
        if line.starts_with("STEP ") || line.starts_with("Step ") || line.starts_with('#') {
            step.message(line.chars().take(70).collect::<String>());
        }
    });
    step.finish(if result.is_ok() { "built" } else { "failed" });
    result.map_err(with_registry_hint)?;
    Ok(ImageRef {
        tag: plan.tag,
        hash: plan.hash,
        built: true,
    })
}

/// The Dockerfile's text, the files it copies from its context (ours only: a user's context
/// is theirs), and the name that goes into the default tag.
struct Source {
    text: String,
    files: Vec<(&'static str, &'static str)>,
    name: String,
}

impl Source {
    fn of(options: &ImageOptions) -> Result<Source> {
        if let Some(variant) = options.variant {
            return Ok(Source {
                text: variant.dockerfile.to_string(),
                files: vec![(TOOLCHAIN_CHECK_FILE, TOOLCHAIN_CHECK)],
                name: variant.name.to_string(),
            });
        }
        match &options.dockerfile {
            None => Ok(Source {
                text: BUILTIN_DOCKERFILE.to_string(),
                files: vec![(TOOLCHAIN_CHECK_FILE, TOOLCHAIN_CHECK)],
                name: "centos7".to_string(),
            }),
            Some(path) => {
                let text = std::fs::read_to_string(path).at(path)?;
                let dir = std::fs::canonicalize(path)
                    .at(path)?
                    .parent()
                    .and_then(|d| d.file_name())
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                Ok(Source {
                    text,
                    files: Vec::new(),
                    name: tag_word(&dir),
                })
            }
        }
    }

    /// The Dockerfile and context paths; `scratch` is the built-in Dockerfile's directory.
    fn paths(&self, options: &ImageOptions, scratch: &Path) -> (PathBuf, PathBuf) {
        match &options.dockerfile {
            None => (scratch.join("Dockerfile"), scratch.to_path_buf()),
            Some(file) => {
                let context = options
                    .context
                    .clone()
                    .unwrap_or_else(|| match file.parent() {
                        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
                        _ => PathBuf::from("."),
                    });
                (file.clone(), context)
            }
        }
    }
}

fn is_set(name: &str) -> bool {
    std::env::var_os(name).is_some()
}

/// The engine's build command; `is_set` says which proxy variables are set here.
fn build_cmd(
    options: &ImageOptions,
    tag: &str,
    hash: &str,
    file: &Path,
    context: &Path,
    is_set: impl Fn(&str) -> bool,
) -> Cmd {
    let mut cmd = options
        .engine
        .cmd()
        .arg("build")
        .arg("-f")
        .arg(file)
        .args(["-t", tag])
        .arg("--label")
        .arg(format!("{HASH_LABEL}={hash}"));
    for (k, v) in &options.build_args {
        cmd = cmd.arg("--build-arg").arg(format!("{k}={v}"));
    }
    // Proxies go in by name (the engine copies the value), unless given explicitly. Podman before
    // 3.1.0 drops a value-less --build-arg (containers/podman 01ffe2c30a), but its build's
    // `--http-proxy`, on by default, passes the same variables to RUN steps
    // (podman@v1.6.0:vendor/github.com/containers/buildah/pkg/cli/common.go).
    for name in PROXY_ENV.iter().filter(|n| is_set(n)) {
        if !options.build_args.iter().any(|(k, _)| k == name) {
            cmd = cmd.args(["--build-arg", name]);
        }
    }
    cmd.arg(context)
}

/// sha256 over the Dockerfile and the build arguments that change the image. Proxy arguments
/// are left out: they change how files are fetched, not what the image holds.
pub fn hash(dockerfile: &str, build_args: &[(String, String)]) -> String {
    hash_with_files(dockerfile, &[], build_args)
}

/// [`hash`], also over the files the Dockerfile copies from its context (name and content).
fn hash_with_files(
    dockerfile: &str,
    files: &[(&str, &str)],
    build_args: &[(String, String)],
) -> String {
    let mut args: Vec<&(String, String)> = build_args
        .iter()
        .filter(|(k, _)| !PROXY_ENV.contains(&k.as_str()))
        .collect();
    args.sort();
    let mut h = Sha256::new();
    h.update(dockerfile.as_bytes());
    for (name, text) in files {
        h.update(b"\0file\0");
        h.update(name.as_bytes());
        h.update(b"\0");
        h.update(text.as_bytes());
    }
    for (k, v) in args {
        h.update(b"\0");
        h.update(k.as_bytes());
        h.update(b"=");
        h.update(v.as_bytes());
    }
    hex::encode(h.finalize())
}

/// `proxy-rpm-builder:<name>-<first 12 hex digits>`.
pub fn default_tag(name: &str, hash: &str) -> String {
    let name = if name.is_empty() { "custom" } else { name };
    format!("{IMAGE_REPOSITORY}:{name}-{}", &hash[..12])
}

/// A directory name made fit for a tag: lower case letters, digits, `.`, `_`, `-`.
fn tag_word(s: &str) -> String {
    let w: String = s
        .to_ascii_lowercase()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let w = w.trim_start_matches(['.', '-']);
    w.chars().take(40).collect()
}

/// A failed image build whose base image could not be pulled gets one more line: how to go on
/// without that registry.
fn with_registry_hint(e: CommandError) -> Error {
    let unreachable = e.tail.iter().any(|line| {
        let line = line.to_lowercase();
        REGISTRY_ERRORS.iter().any(|pattern| line.contains(pattern))
    });
    if unreachable {
        Error::failed(format!("{e}\n  {REGISTRY_HINT}"))
    } else {
        e.into()
    }
}

/// An error for a missing image, saying how to make it.
pub fn missing_image(tag: &str) -> Error {
    Error::input(format!(
        "no image {tag}: run `proxy-rpm image` first (or pass --image)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::EngineKind;

    #[test]
    fn tag_follows_the_dockerfile_and_shaping_args_only() {
        let a = hash("FROM x\n", &[]);
        assert_eq!(a, hash("FROM x\n", &[]));
        assert_ne!(a, hash("FROM y\n", &[]));
        let base = vec![("BASE_IMAGE".to_string(), "centos@sha256:1".to_string())];
        assert_ne!(a, hash("FROM x\n", &base));
        let proxy = vec![("HTTP_PROXY".to_string(), "http://p:3128".to_string())];
        assert_eq!(a, hash("FROM x\n", &proxy));
        let tag = default_tag("centos7", &a);
        assert_eq!(tag, format!("proxy-rpm-builder:centos7-{}", &a[..12]));
        assert_eq!(tag_word("My Image!"), "my-image-");
    }

    fn words(cmd: &Cmd) -> Vec<String> {
        cmd.words()
    }

    #[test]
    fn the_image_build_gets_the_proxies_by_name_and_never_bazelisk_base_url() {
        let options = ImageOptions::new(Engine::new(EngineKind::Podman, "podman", false));
        let everything_set = |_: &str| true;
        let file = Path::new("/ctx/Dockerfile");
        let cmd = build_cmd(
            &options,
            "t:1",
            "h",
            file,
            Path::new("/ctx"),
            everything_set,
        );
        let args = words(&cmd);
        for name in PROXY_ENV {
            let at = args.iter().position(|a| a == name).expect(name);
            assert_eq!(args[at - 1], "--build-arg");
        }
        assert!(
            !args.iter().any(|a| a.contains("BAZELISK_BASE_URL")),
            "{args:?}"
        );
        // The pass-through list of the compile container does carry it: a different list.
        assert!(super::super::args::PASS_ENV.contains(&"BAZELISK_BASE_URL"));
    }

    #[test]
    fn the_builtin_hash_covers_the_toolchain_check() {
        let plan = image_plan(&ImageOptions::new(Engine::new(
            EngineKind::Podman,
            "podman",
            false,
        )))
        .unwrap();
        assert_ne!(plan.hash, hash(BUILTIN_DOCKERFILE, &[]));
        let files = [(TOOLCHAIN_CHECK_FILE, TOOLCHAIN_CHECK)];
        assert_eq!(plan.hash, hash_with_files(BUILTIN_DOCKERFILE, &files, &[]));
        let edited = [(TOOLCHAIN_CHECK_FILE, "#!/bin/sh\n")];
        assert_ne!(plan.hash, hash_with_files(BUILTIN_DOCKERFILE, &edited, &[]));
        assert!(BUILTIN_DOCKERFILE.contains(&format!("COPY {TOOLCHAIN_CHECK_FILE} ")));
    }

    fn failed(tail: &[&str]) -> CommandError {
        CommandError {
            command: "podman build -f Dockerfile .".into(),
            status: Some(125),
            start_error: None,
            log: None,
            tail: tail.iter().map(|l| l.to_string()).collect(),
        }
    }

    #[test]
    fn an_unreachable_registry_adds_one_hint_line() {
        for line in [
            "Error: creating build container: initializing source docker://127.0.0.1:9/centos:7: \
             pinging container registry 127.0.0.1:9: Get \"https://127.0.0.1:9/v2/\": dial tcp \
             127.0.0.1:9: connect: connection refused",
            "ERROR: failed to solve: docker.io/library/centos:7: failed to resolve source \
             metadata for docker.io/library/centos:7: no such host",
            "Get \"https://registry-1.docker.io/v2/\": net/http: TLS handshake timeout",
        ] {
            let err = with_registry_hint(failed(&["STEP 1/9: FROM x", line])).to_string();
            let last = err.lines().last().unwrap().trim();
            assert_eq!(last, REGISTRY_HINT, "{err}");
            assert!(err.contains(line), "{err}");
        }
        let err = with_registry_hint(failed(&["yum: Cannot find a valid baseurl"])).to_string();
        assert!(!err.contains("registry"), "{err}");
    }

    #[test]
    fn builtin_plan_builds_the_embedded_dockerfile() {
        let options = ImageOptions::new(Engine::new(EngineKind::Podman, "podman", false));
        let plan = image_plan(&options).unwrap();
        assert!(plan.tag.starts_with("proxy-rpm-builder:centos7-"));
        let shown = plan.build.display();
        assert!(shown.starts_with("podman build -f '$TMPDIR/proxy-rpm-image/Dockerfile'"));
        let label = format!("{HASH_LABEL}={}", plan.hash);
        assert!(plan.build.arguments().iter().any(|a| *a == *label));
        assert!(BUILTIN_DOCKERFILE.contains("FROM ${BASE_IMAGE}"));
    }
}
