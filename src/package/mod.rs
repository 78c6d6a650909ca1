//! The RPM writer: `istio-proxy-VERSION-1.el7.x86_64.rpm` from the Envoy binary and Istio's
//! packaging files, or `istio-sidecar-…` from pilot-agent, istio-start.sh and istio.service
//! (any spec and its named inputs), without rpmbuild. The rpm crate serializes the lead and
//! both headers with exactly the tags we choose; the payload is streamed (see `payload`).
//!
//! Order of work: check inputs (spec, ELF, sizes) → stream the compressed payload into an
//! anonymous temporary file → build the header from what the payload pass measured → digest
//! header and payload → write lead, signature, header and payload into a temporary file in the
//! output directory → rename it into place.

mod deps;
mod given;
mod header;
mod inputs;
mod payload;

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use md5::Md5;
use rpm::{Lead, PackageMetadata};
use sha1::Sha1;
use sha2::{Digest, Sha256};

pub use deps::Dependency;
pub use given::{Given, NamedInput};
pub use payload::Compression;

use crate::error::{Error, IoContext, Result};
use crate::report::Reporter;
use crate::spec::{Config, Spec, check_word};

/// `proxy-rpm package`: write an RPM from its spec and inputs: istio-proxy (the default, from
/// an Envoy binary and Istio's packaging files) or istio-sidecar (`--builtin-spec
/// istio-sidecar`, from pilot-agent, istio-start.sh and istio.service).
#[derive(clap::Args, Debug, Clone)]
pub struct PackageOptions {
    /// The Istio release, used as the package version (e.g. 1.6.14).
    #[arg(long = "version", value_name = "VERSION")]
    pub version: String,
    /// The Envoy binary (x86_64 ELF, glibc ≤ 2.17): input `envoy`.
    #[arg(long, value_name = "PATH")]
    pub envoy: Option<PathBuf>,
    /// Istio's `sidecar.env` for this release: input `sidecar-env`.
    #[arg(long, value_name = "PATH")]
    pub sidecar_env: Option<PathBuf>,
    /// Istio's Envoy bootstrap template for this release (`envoy_bootstrap_v2.json` in 1.6,
    /// `envoy_bootstrap.json` in 1.7): input `bootstrap`.
    #[arg(long, value_name = "PATH")]
    pub bootstrap: Option<PathBuf>,
    /// Any other input the spec names, e.g. `--input pilot-agent=PATH`; repeatable.
    #[arg(long = "input", value_name = "NAME=PATH", value_parser = NamedInput::parse)]
    pub inputs: Vec<NamedInput>,
    /// A spec built into proxy-rpm, when `--spec` gives none (default: istio-proxy).
    #[arg(long, value_enum, value_name = "NAME", conflicts_with = "spec")]
    pub builtin_spec: Option<BuiltinSpec>,
    /// Directory the RPM is written to.
    #[arg(long, default_value = ".")]
    pub out: PathBuf,
    #[command(flatten)]
    pub flags: PackageFlags,
    /// Package an ELF that needs a glibc newer than CentOS 7's 2.17 (it will not start there).
    #[arg(long)]
    pub allow_newer_glibc: bool,
    /// Compression threads (default: all cores; the output does not depend on it).
    #[arg(long)]
    pub threads: Option<u32>,
}

/// The specs compiled into proxy-rpm (`specs/*.toml`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BuiltinSpec {
    IstioProxy,
    IstioSidecar,
}

impl BuiltinSpec {
    pub fn spec(self) -> Spec {
        match self {
            BuiltinSpec::IstioProxy => Spec::builtin(),
            BuiltinSpec::IstioSidecar => Spec::builtin_sidecar(),
        }
    }
}

/// How to package, shared by `package` and `build`.
#[derive(clap::Args, Debug, Clone)]
pub struct PackageFlags {
    /// The package spec (default: the built-in copy of specs/istio-proxy.toml; `package
    /// --builtin-spec istio-sidecar` picks the sidecar's).
    #[arg(long)]
    pub spec: Option<PathBuf>,
    /// Release number (overrides the spec's).
    #[arg(long)]
    pub release: Option<String>,
    /// Dist tag without the dot (overrides the spec's, e.g. el7).
    #[arg(long)]
    pub dist: Option<String>,
    /// Payload compression (CentOS 7 reads xz and gzip).
    #[arg(long, value_enum, default_value_t = Compression::Xz)]
    pub compression: Compression,
    /// Compression level (default: xz 2, gzip 9, as EL7's rpmbuild).
    #[arg(long)]
    pub level: Option<u32>,
}

/// The written package, for summaries.
#[derive(Clone, Debug)]
pub struct Written {
    pub path: PathBuf,
    pub nevra: String,
    pub size: u64,
    pub sha256: String,
    pub requires: Vec<String>,
    pub compression: Compression,
    pub level: u32,
}

/// One entry of the package: a directory or a regular file, with what the header says of it.
#[derive(Clone, Debug)]
pub struct FileRecord {
    pub path: String,
    /// Full mode: file type and permission bits.
    pub mode: u32,
    pub user: String,
    pub group: String,
    pub size: u32,
    pub mtime: u32,
    pub flags: u32,
    /// Hex SHA-256 of the contents, filled in while writing the payload; empty for dirs and
    /// ghosts.
    pub digest: String,
    /// 2 for 64-bit ELF (rpm's file color), 0 otherwise.
    pub color: u32,
    pub source: Option<PathBuf>,
    pub requires: Vec<String>,
    pub provides: Vec<String>,
}

impl FileRecord {
    fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }

    fn is_config(&self) -> bool {
        self.flags & rpm::FileFlags::CONFIG.bits() != 0
    }

    /// A `%ghost`: in the header, not in the payload.
    fn is_ghost(&self) -> bool {
        self.flags & rpm::FileFlags::GHOST.bits() != 0
    }

    /// What `rpm -V` checks (`FILEVERIFYFLAGS`): everything, but for a ghost not its digest,
    /// size, link target or mtime, as rpmbuild sets them for `%ghost` (its contents are the
    /// system's business).
    fn verify_flags(&self) -> u32 {
        const GHOST_UNCHECKED: u32 = 1 | 2 | 4 | 32; // FILEDIGEST | FILESIZE | LINKTO | MTIME
        if self.is_ghost() {
            !GHOST_UNCHECKED
        } else {
            u32::MAX
        }
    }
}

fn file_flags(config: Config, ghost: bool) -> u32 {
    let config = match config {
        Config::No => 0,
        Config::Yes => rpm::FileFlags::CONFIG.bits(),
        Config::Noreplace => (rpm::FileFlags::CONFIG | rpm::FileFlags::NOREPLACE).bits(),
    };
    if ghost {
        config | rpm::FileFlags::GHOST.bits()
    } else {
        config
    }
}

impl PackageOptions {
    pub fn run(self, reporter: &Reporter) -> Result<ExitCode> {
        let written = write_package(&self, reporter)?;
        reporter.info(format!(
            "wrote {} ({}, {} bytes, sha256 {})",
            written.path.display(),
            written.nevra,
            written.size,
            written.sha256
        ));
        reporter.info(format!("requires: {}", written.requires.join(", ")));
        println!("{}", written.path.display());
        Ok(ExitCode::SUCCESS)
    }
}

/// Write the package described by `opts`; returns where it is and what it is.
pub fn write_package(opts: &PackageOptions, reporter: &Reporter) -> Result<Written> {
    let spec = match &opts.flags.spec {
        Some(path) => Spec::load(path)?,
        None => opts.builtin_spec.unwrap_or(BuiltinSpec::IstioProxy).spec(),
    };
    check_word(&opts.version, "version").map_err(|m| Error::input(format!("--version: {m}")))?;
    let release_no = opts.flags.release.as_deref().unwrap_or(&spec.release);
    check_word(release_no, "release").map_err(|m| Error::input(format!("--release: {m}")))?;
    let dist = opts.flags.dist.as_deref().unwrap_or(&spec.dist);
    check_word(dist, "dist").map_err(|m| Error::input(format!("--dist: {m}")))?;
    let release = format!("{release_no}.{dist}");
    let level = opts
        .flags
        .level
        .unwrap_or(opts.flags.compression.default_level());
    opts.flags.compression.check(level)?;
    if !opts.out.is_dir() {
        return Err(Error::input(format!(
            "--out {}: not a directory; create it first",
            opts.out.display()
        )));
    }

    let clock = inputs::Clock::from_env()?;
    let gathered = inputs::gather(&spec, opts, &clock, reporter)?;
    let mut files = gathered.files;
    let arch = gathered.arch;
    let evr = format!("{}-{release}", opts.version);
    let nevra = format!("{}-{evr}.{arch}", spec.name);
    let file_name = format!("{nevra}.rpm");

    let step = reporter.step("package");
    let threads = opts.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get() as u32)
            .unwrap_or(1)
    });
    let mut payload_file = tempfile::tempfile_in(&opts.out).at(&opts.out)?;
    step.message("compressing payload");
    let payload = payload::write(
        &mut files,
        opts.flags.compression,
        level,
        threads,
        &payload_file,
    )?;
    if payload.archive_size > u64::from(u32::MAX) || payload.compressed_size > u64::from(u32::MAX) {
        return Err(Error::input(
            "the payload is over 4 GiB: CentOS 7 would need rpmlib(LargeFiles), which rpm 4.11 lacks",
        ));
    }

    let requires = deps::requires(
        &spec,
        &opts.version,
        &release,
        &files,
        opts.flags.compression,
    );
    let provides = deps::provides(&spec.name, &evr, &arch, &files);
    let header = header::main_header(&header::HeaderInput {
        spec: &spec,
        version: &opts.version,
        release: &release,
        arch: &arch,
        build_time: clock.build_time,
        build_host: &clock.build_host,
        compression: opts.flags.compression,
        level,
        files: &files,
        requires: &requires,
        provides: &provides,
        payload: &payload,
    });
    let mut metadata = PackageMetadata {
        lead: Lead::new(&format!("{}-{evr}", spec.name)),
        signature: rpm::Header::new_empty(),
        header,
    };
    let header_bytes = metadata.header_bytes().at(&opts.out)?;

    step.message("digests");
    let mut md5 = Md5::new();
    md5.update(&header_bytes);
    payload_file.seek(SeekFrom::Start(0)).at(&opts.out)?;
    copy_into(&mut payload_file, &mut md5)?;
    let digests = header::SignatureDigests {
        header_len: header_bytes.len() as u64,
        md5_header_and_payload: md5.finalize().into(),
        sha1_header: hex::encode(Sha1::digest(&header_bytes)),
        sha256_header: hex::encode(Sha256::digest(&header_bytes)),
    };
    metadata.signature = header::signature_header(&digests, &payload);

    step.message("writing");
    let final_path = opts.out.join(&file_name);
    let mut out = tempfile::Builder::new()
        .prefix(&format!(".{file_name}."))
        .tempfile_in(&opts.out)
        .at(&opts.out)?;
    let (size, sha256) = {
        let mut hashing = payload::Hashing::new(io::BufWriter::new(out.as_file_mut()));
        metadata.write(&mut hashing).at(&final_path)?;
        payload_file.seek(SeekFrom::Start(0)).at(&opts.out)?;
        copy_into(&mut payload_file, &mut hashing)?;
        let (mut buffered, sha256, size) = hashing.finish();
        buffered.flush().at(&final_path)?;
        (size, sha256)
    };
    out.as_file().sync_all().at(&final_path)?;
    set_mode_0644(out.path())?;
    out.persist(&final_path)
        .map_err(|e| e.error)
        .at(&final_path)?;
    step.finish("done");

    Ok(Written {
        path: final_path,
        nevra,
        size,
        sha256,
        requires: requires.iter().map(Dependency::display).collect(),
        compression: opts.flags.compression,
        level,
    })
}

/// Temp files are created 0600; a package is meant to be read by others (yum repositories).
fn set_mode_0644(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o644)).at(path)
}

/// Copy a reader into a hasher or writer (the payload temp file has no path to name).
fn copy_into(from: &mut File, to: &mut impl Write) -> Result<()> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf).at("<payload temporary file>")?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n]).at("<output>")?;
    }
}
