//! Remote execution on a build farm speaking Bazel's Remote Execution API, in the CentOS 7
//! builder image.
//!
//! The farm runs each action in the image `proxy-rpm image --push` pushed, named by digest in
//! the `container-image=docker://REGISTRY/NAME@sha256:…` platform property REAPI farms read
//! (Buildbarn, BuildBuddy, EngFlow, BuildGrid). The Bazel client runs in the same image
//! locally, so the C++ toolchain Bazel autoconfigures there (clang 9, devtoolset-7 paths) holds
//! on the workers too; and what the toolchain needs from the environment reaches remote actions
//! as it reaches local ones, through the action environment (istio/proxy@1ef6cb53:envoy.bazelrc
//! passes `--action_env` PATH, CC, CXX and LLVM_CONFIG under `--experimental_strict_action_env`),
//! not through the image's entry point, which farms do not run. Hence the refusals: no pushed
//! digest, or a local image that is no longer the one pushed.
//!
//! Flags, from Bazel 2.1.0's `bazel help build --long` (its release binary, from npm's
//! `@bazel/bazel-linux_x64@2.1.0`; Bazel keeps flags within a major version) and Debian's Bazel
//! 4.2.3, both of which have every flag used here: `--remote_executor`,
//! `--remote_instance_name`, `--remote_default_exec_properties` (name=value; the older
//! `--remote_default_platform_properties` takes a text proto), `--remote_header`,
//! `--remote_local_fallback` (default false), `--remote_timeout` (2.1.0: integer seconds; 4.2.3:
//! a duration whose unitless form is seconds), `--tls_certificate` (2.1.0: the CA to trust) and
//! `--google_credentials`. `--tls_client_certificate`/`--tls_client_key` came after 2.2.0
//! (bazelbuild/bazel#11030, opened 2020-03-26; 2.2.0 was released 2020-03-03), and 2.x sends
//! `--remote_header` on some calls only (see [`HEADERS_SINCE`]): both are refused unless the tree
//! pins Bazel 4 or later (a tree without `.bazelversion` runs whatever Bazel is given).
//!
//! tests/remote.rs runs all of it against a real farm with Debian's Bazel 4.2.3; Bazel 2.1.0's
//! binary given as `PROXY_RPM_TEST_BAZEL` ran an action there with these flags, in the pushed
//! image ("1 process: 1 remote"), and failed the farm's API key check as said above.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub use super::remote_report::{Processes, doctor_checks, plan_lines, summary};
use super::{CompileOptions, farm, secret};
use crate::container::push::{self, PushedImage};
use crate::preflight::Version;
use crate::{Error, Reporter, Result};

/// `--jobs` for a farm unless given: actions wait on the network, not on local cores.
pub const FARM_JOBS: u32 = 100;
/// Envoy's own remote config: istio/proxy@1ef6cb53:.bazelrc and envoy.bazelrc,
/// `build:remote --remote_timeout=7200` (long compiles and links must not time out).
pub const FARM_TIMEOUT_SECS: u32 = 7200;
/// The strategies of Envoy's remote config (istio/proxy@1ef6cb53:envoy.bazelrc,
/// `build:remote --spawn_strategy=remote,sandboxed,local`): remote, and here only for actions
/// that cannot run remotely (tagged no-remote); a remote failure is not retried here.
pub const FARM_STRATEGY: &str = "remote,sandboxed,local";
/// The first Bazel release known to have `--tls_client_certificate` and `--tls_client_key`.
pub const MTLS_SINCE: Version = Version(4, 0, 0);
/// The first Bazel release known to send `--remote_header` on every gRPC call. Bazel 2.1.0 has
/// the flag but leaves it off `GetCapabilities` (a farm checking an API key answers
/// UNAUTHENTICATED, seen against BuildGrid); the fix, bazelbuild/bazel#10634 ("Intercept
/// capabilities and uploader requests and add custom grpc headers"), was still in review on
/// 2020-02-24, a week before 2.2.0's release. Debian's Bazel 4.2.3 passes the test farm's check.
pub const HEADERS_SINCE: Version = Version(4, 0, 0);

/// Build farm and remote cache settings (shared by `compile` and `build`).
#[derive(clap::Args, Clone, Debug, Default, PartialEq)]
pub struct Remote {
    /// Bazel remote cache (http://…, grpc://…), shared by a team; with --remote-executor it must
    /// be a gRPC one (Bazel cannot combine remote execution with an HTTP cache).
    #[arg(long, value_name = "URL")]
    pub remote_cache: Option<String>,
    /// A build farm (grpc://HOST:PORT or grpcs://HOST[:PORT]): actions run there, in the image
    /// pushed with `proxy-rpm image --push`, by digest.
    #[arg(long, value_name = "URL")]
    pub remote_executor: Option<String>,
    /// The farm's instance name.
    #[arg(long, value_name = "NAME")]
    pub remote_instance: Option<String>,
    /// CA certificate to trust for grpcs:// (Bazel's --tls_certificate).
    #[arg(long, value_name = "PEM")]
    pub remote_ca: Option<PathBuf>,
    /// Client certificate for mutual TLS (needs Bazel 4 or later in .bazelversion).
    #[arg(long, value_name = "PEM", requires = "remote_client_key")]
    pub remote_client_cert: Option<PathBuf>,
    /// Client key (PKCS#8) for mutual TLS.
    #[arg(long, value_name = "PEM", requires = "remote_client_cert")]
    pub remote_client_key: Option<PathBuf>,
    /// Google credentials JSON for the farm (Bazel's --google_credentials).
    #[arg(long, value_name = "JSON")]
    pub remote_credentials: Option<PathBuf>,
    /// Request headers (API keys; Bazel 4 or later in .bazelversion), NAME=VALUE per line; one
    /// more may come from $PROXY_RPM_REMOTE_HEADER. Never shown, never on a command line.
    #[arg(long, value_name = "FILE")]
    pub remote_header_file: Option<PathBuf>,
    /// Run an action here when the farm fails it (off: a farm outage is an error).
    #[arg(long)]
    pub remote_local_fallback: bool,
    /// The image the farm runs, once resolved from the push record.
    #[arg(skip)]
    pub image: Option<PushedImage>,
}

impl Remote {
    fn uses_remote(&self) -> bool {
        self.remote_executor.is_some() || self.remote_cache.is_some()
    }
}

/// `--jobs` when none was given: [`FARM_JOBS`] with a farm.
pub fn default_jobs(remote: &Remote) -> Option<u32> {
    remote.remote_executor.as_ref().map(|_| FARM_JOBS)
}

/// The Bazel build options for these settings (headers are not among them: see `secret`).
pub fn bazel_flags(remote: &Remote) -> Vec<OsString> {
    let mut args: Vec<OsString> = Vec::new();
    let path = |name: &str, p: &Path| {
        let mut s = OsString::from(format!("--{name}="));
        s.push(p);
        s
    };
    if let Some(url) = &remote.remote_cache {
        args.push(format!("--remote_cache={url}").into());
    }
    if let Some(url) = &remote.remote_executor {
        args.push(format!("--remote_executor={url}").into());
        let image = remote.image.as_ref().map_or_else(
            || "docker://NOT-PUSHED".to_string(),
            |i| i.container_image(),
        );
        args.push(format!("--remote_default_exec_properties=container-image={image}").into());
        args.push(format!("--spawn_strategy={FARM_STRATEGY}").into());
        args.push(format!("--remote_timeout={FARM_TIMEOUT_SECS}").into());
        let fallback = if remote.remote_local_fallback {
            ""
        } else {
            "no"
        };
        args.push(format!("--{fallback}remote_local_fallback").into());
    }
    if let Some(name) = &remote.remote_instance {
        args.push(format!("--remote_instance_name={name}").into());
    }
    for (flag, file) in [
        ("tls_certificate", &remote.remote_ca),
        ("tls_client_certificate", &remote.remote_client_cert),
        ("tls_client_key", &remote.remote_client_key),
        ("google_credentials", &remote.remote_credentials),
    ] {
        if let Some(file) = file {
            args.push(path(flag, &absolute(file)));
        }
    }
    args
}

/// The files Bazel reads for the farm (CA, client certificate and key, credentials), absolute:
/// mounted into the builder container at the same paths.
pub fn files(remote: &Remote) -> Vec<PathBuf> {
    [
        &remote.remote_ca,
        &remote.remote_client_cert,
        &remote.remote_client_key,
        &remote.remote_credentials,
    ]
    .into_iter()
    .flatten()
    .map(|f| absolute(f))
    .collect()
}

/// Absolute, symlinks resolved as far as they exist (the path a container sees).
fn absolute(file: &Path) -> PathBuf {
    super::command::absolute(file).unwrap_or(file.to_path_buf())
}

/// The Bazel version the tree pins in `.bazelversion` (what bazelisk in the image runs).
pub fn pinned_bazel(tree: &Path) -> Option<Version> {
    let text = std::fs::read_to_string(tree.join(".bazelversion")).ok()?;
    Version::find(text.trim())
}

/// Checks that need nothing but the options and the disk: URLs, files, what the pinned Bazel
/// has, the headers. Run by plans and compiles alike.
pub fn validate(options: &CompileOptions) -> Result<()> {
    let r = &options.remote;
    let given = [
        ("--remote-instance", r.remote_instance.is_some()),
        ("--remote-ca", r.remote_ca.is_some()),
        ("--remote-client-cert", r.remote_client_cert.is_some()),
        ("--remote-credentials", r.remote_credentials.is_some()),
        ("--remote-header-file", r.remote_header_file.is_some()),
        ("--remote-local-fallback", r.remote_local_fallback),
    ];
    if let Some((flag, _)) = given
        .iter()
        .find(|(_, set)| *set)
        .filter(|_| !r.uses_remote())
    {
        return Err(Error::input(format!(
            "{flag} needs --remote-executor URL or --remote-cache URL"
        )));
    }
    if let Some(url) = &r.remote_executor {
        farm::endpoint(url)
            .map_err(|why| Error::input(format!("--remote-executor {url}: {why}")))?;
        if let Some(cache) = r.remote_cache.as_ref().filter(|c| !is_grpc(c)) {
            return Err(Error::input(format!(
                "--remote-cache {cache} with --remote-executor: Bazel cannot combine remote \
                 execution with an HTTP cache; drop --remote-cache (the farm caches) or give its gRPC cache"
            )));
        }
    }
    for (flag, file) in [
        ("--remote-ca", &r.remote_ca),
        ("--remote-client-cert", &r.remote_client_cert),
        ("--remote-client-key", &r.remote_client_key),
        ("--remote-credentials", &r.remote_credentials),
        ("--remote-header-file", &r.remote_header_file),
    ] {
        if let Some(file) = file.as_ref().filter(|f| !f.is_file()) {
            return Err(Error::input(format!(
                "{flag} {}: no such file",
                file.display()
            )));
        }
    }
    let tree = absolute(&options.workdir).join(crate::source::TREE_DIR);
    if r.remote_client_cert.is_some()
        && let Some(pinned) = pinned_bazel(&tree).filter(|v| *v < MTLS_SINCE)
    {
        return Err(Error::input(format!(
            "--remote-client-cert: the tree pins Bazel {pinned} (.bazelversion), which has no \
             --tls_client_certificate (mutual TLS came after 2.2.0, bazelbuild/bazel#11030); use \
             --remote-header-file or --remote-credentials"
        )));
    }
    let headers = secret::headers(r.remote_header_file.as_deref())?;
    if let Some(h) = headers.first()
        && let Some(pinned) = pinned_bazel(&tree).filter(|v| *v < HEADERS_SINCE)
    {
        return Err(Error::input(format!(
            "{}: the tree pins Bazel {pinned} (.bazelversion), which leaves --remote_header off \
             some gRPC calls (bazelbuild/bazel#10634), so a farm checking the header refuses \
             the build; use --remote-credentials, or a farm that admits this machine",
            h.source
        )));
    }
    if !headers.is_empty() {
        if !r.uses_remote() {
            return Err(Error::input(format!(
                "${} is set but there is no --remote-executor or --remote-cache to send it to",
                secret::HEADER_ENV
            )));
        }
        if options.bazel_args.iter().any(|a| a.contains("announce_rc")) {
            return Err(Error::input(
                "--bazel-arg --announce_rc would print the remote headers (API keys) into the \
                 log: drop it while a header is set",
            ));
        }
    }
    Ok(())
}

fn is_grpc(url: &str) -> bool {
    !(url.starts_with("http://") || url.starts_with("https://"))
}

/// The image the farm will run, from the push record: `Err` (one line, what to run) when the
/// image was never pushed, or when the local image is not the one pushed.
pub fn farm_image(options: &CompileOptions, reporter: &Reporter) -> Result<PushedImage> {
    let image = options.image.as_str();
    if image.is_empty() {
        return Err(Error::input(
            "--remote-executor needs the builder image the farm runs: give --image TAG \
             (pushed with `proxy-rpm image --push REGISTRY/NAME`)",
        ));
    }
    let record = push::record_path(&options.cache_dir);
    let pushed = push::pushed(&options.cache_dir, image)?.ok_or_else(|| {
        Error::input(format!(
            "image {image} has no pushed digest (none in {}): run `proxy-rpm image --push \
             REGISTRY/NAME` first, so that the farm runs this image",
            record.display()
        ))
    })?;
    if let Some(engine) = &options.engine {
        let id = push::image_id(engine, image, reporter)?;
        if id != pushed.id {
            return Err(Error::input(format!(
                "image {image} is {id} here, but {} was pushed from {}: push it again \
                 (`proxy-rpm image --push …`) so that the farm runs the same image",
                pushed.reference, pushed.id
            )));
        }
    }
    Ok(pushed)
}

/// What the push record says about the options' image, if anything.
pub fn recorded(options: &CompileOptions) -> Option<PushedImage> {
    push::pushed(&options.cache_dir, &options.image)
        .ok()
        .flatten()
}

/// Compile's preflight: everything [`validate`] checks, then the pushed image and the farm's
/// answer. Returns the image the farm runs, or `None` without a farm.
pub fn check(options: &CompileOptions, reporter: &Reporter) -> Result<Option<PushedImage>> {
    validate(options)?;
    let Some(url) = &options.remote.remote_executor else {
        return Ok(None);
    };
    let image = farm_image(options, reporter)?;
    let answer = farm::probe(url, farm::TIMEOUT).map_err(|why| {
        Error::failed(format!(
            "the build farm {url} cannot be reached: {why}; nothing was built (remote actions do \
             not fall back to this machine): check the farm, or build without --remote-executor"
        ))
    })?;
    reporter.verbose(format!("build farm {url}: {answer}"));
    if options.engine.is_none() {
        reporter.warn(
            "--engine none with --remote-executor: Bazel configures its C++ toolchain on this \
             host, so the farm's image must have the same compilers at the same paths",
        );
    }
    Ok(Some(image))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_farm_gets_the_image_by_digest_and_no_fallback() {
        let hex = "ab".repeat(32);
        let remote = Remote {
            remote_executor: Some("grpc://127.0.0.1:8980".into()),
            remote_instance: Some("main".into()),
            image: Some(PushedImage {
                local: "b:1".into(),
                id: "sha256:1".into(),
                reference: format!("reg:5000/b@sha256:{hex}"),
            }),
            ..Remote::default()
        };
        let words: Vec<String> = bazel_flags(&remote)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            words,
            [
                "--remote_executor=grpc://127.0.0.1:8980".to_string(),
                format!(
                    "--remote_default_exec_properties=container-image=docker://reg:5000/b@sha256:{hex}"
                ),
                "--spawn_strategy=remote,sandboxed,local".into(),
                "--remote_timeout=7200".into(),
                "--noremote_local_fallback".into(),
                "--remote_instance_name=main".into(),
            ]
        );
        assert_eq!(default_jobs(&remote), Some(FARM_JOBS));
        assert_eq!(default_jobs(&Remote::default()), None);
    }
}
