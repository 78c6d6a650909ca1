//! OpenPGP signatures CentOS 7's rpm 4.11 can verify.
//!
//! What we write into the signature header, next to the digests already there (all kept):
//! - RSA (268) / DSA (267): a v4 signature over the main header. This is what rpmsign 4.18
//!   writes, what yum checks with `gpgcheck=1`, and rpm 4.11 reports it as `rsa`/`dsa`.
//! - PGP (1002) / GPG (1005): a v4 signature over header and payload. rpmsign stopped writing
//!   it in 4.14, but rpm 4.11 signs both and its `rpm -K` reports `rsa sha1 (md5) pgp md5 OK`
//!   only with it; without it the compressed payload is covered on EL7 by MD5 alone.
//!
//! Both are SHA-256 over RSA/DSA by the primary key (see `key` for why only that). The existing
//! digests are checked before signing, so a damaged file is never signed; the payload is
//! streamed twice (hash, then copy) and never held in memory; the file is replaced atomically.

mod key;
mod layout;

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use md5::Md5;
use rpm::{Header, HeaderEntry, IndexData, IndexSignatureTag, Lead, PackageMetadata};
use sha1::Sha1;
use sha2::{Digest, Sha256};

pub use key::{Algorithm, PASSPHRASE_ENV, SigningKey};
use layout::Layout;

use crate::error::{Error, IoContext, Result};
use crate::report::Reporter;

/// `proxy-rpm sign`: sign RPMs in place with an OpenPGP key rpm 4.11 can verify.
#[derive(clap::Args, Debug)]
pub struct SignArgs {
    /// The RPMs to sign; each is replaced atomically by its signed copy.
    #[arg(required = true, value_name = "FILE.rpm")]
    pub rpms: Vec<PathBuf>,
    /// The secret key, ASCII-armored (`gpg --export-secret-keys --armor KEYID`): an RSA or DSA
    /// primary key that may sign.
    #[arg(long, value_name = "SECRET.asc")]
    pub key: PathBuf,
    /// The environment variable holding the key's passphrase, if it has one.
    #[arg(long, value_name = "NAME", default_value = PASSPHRASE_ENV)]
    pub passphrase_env: String,
}

impl SignArgs {
    pub fn run(self, reporter: &Reporter) -> Result<ExitCode> {
        let passphrase = std::env::var(&self.passphrase_env).ok();
        let key = SigningKey::load_with(&self.key, passphrase, &self.passphrase_env)?;
        reporter.info(format!("signing with the {}", key.describe()));
        for rpm in &self.rpms {
            sign_file(rpm, &key, reporter)?;
            println!("{}", rpm.display());
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The signature-header tags a signature goes in; any of them already present is replaced.
const SIGNATURE_TAGS: [u32; 5] = [
    IndexSignatureTag::RPMSIGTAG_DSA as u32,
    IndexSignatureTag::RPMSIGTAG_RSA as u32,
    IndexSignatureTag::RPMSIGTAG_PGP as u32,
    IndexSignatureTag::RPMSIGTAG_GPG as u32,
    IndexSignatureTag::RPMSIGTAG_OPENPGP as u32,
];
const RPMTAG_PAYLOADDIGEST: u32 = 5092;
const RPMTAG_PAYLOADDIGESTALGO: u32 = 5093;
const PGPHASHALGO_SHA256: u32 = 8;

/// Sign `path` with `key`, replacing the file atomically. Used by `proxy-rpm sign` and by the
/// pipeline's `build --sign-key`.
pub fn sign_file(path: &Path, key: &SigningKey, r: &Reporter) -> Result<()> {
    // Replace the file a symlink points to, not the link.
    let path = &std::fs::canonicalize(path).at(path)?;
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let step = r.step(&format!("sign {name}"));
    let (layout, mut payload) = Layout::read(path)?;
    let created = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0);

    // One pass: both signatures, and the digests to check before we sign anything.
    step.message("hashing");
    let mut header_sig = key.hasher(created)?;
    let mut whole_sig = key.hasher(created)?;
    let mut md5 = Md5::new();
    let mut payload_sha256 = Sha256::new();
    header_sig.write_all(&layout.header_bytes).at(path)?;
    whole_sig.write_all(&layout.header_bytes).at(path)?;
    md5.update(&layout.header_bytes);
    let streamed = stream(&mut payload, path, |chunk| {
        whole_sig.write_all(chunk)?;
        md5.update(chunk);
        payload_sha256.update(chunk);
        Ok(())
    })?;
    let md5: [u8; 16] = md5.finalize().into();
    let measured = Measured {
        total: layout.header_bytes.len() as u64 + streamed,
        md5,
        sha1: hex::encode(Sha1::digest(&layout.header_bytes)),
        sha256: hex::encode(Sha256::digest(&layout.header_bytes)),
        payload_sha256: hex::encode(payload_sha256.finalize()),
    };
    check_digests(&layout, &measured)?;

    let (header_tag, whole_tag) = match key.algorithm() {
        Algorithm::Rsa => (
            IndexSignatureTag::RPMSIGTAG_RSA,
            IndexSignatureTag::RPMSIGTAG_PGP,
        ),
        Algorithm::Dsa => (
            IndexSignatureTag::RPMSIGTAG_DSA,
            IndexSignatureTag::RPMSIGTAG_GPG,
        ),
    };
    let mut entries = Vec::new();
    let mut replaced = false;
    for (tag, data) in layout.signature.get_all_entries().at(path)? {
        if tag == IndexSignatureTag::HEADER_SIGNATURES as u32 {
            continue; // the region trailer is rebuilt by from_entries
        }
        if SIGNATURE_TAGS.contains(&tag) {
            replaced = true;
            continue;
        }
        entries.push(HeaderEntry::new(tag, data));
    }
    if replaced {
        r.warn(format!(
            "{}: replacing its existing signature",
            path.display()
        ));
    }
    entries.push(HeaderEntry::new(
        header_tag as u32,
        IndexData::Bin(key.finish(header_sig)?),
    ));
    entries.push(HeaderEntry::new(
        whole_tag as u32,
        IndexData::Bin(key.finish(whole_sig)?),
    ));
    let signature = signature_bytes(Header::from_entries(
        entries,
        IndexSignatureTag::HEADER_SIGNATURES,
    ))
    .at(path)?;

    step.message("writing");
    write_signed(path, &layout, &signature, &mut payload, md5)?;
    step.finish(&format!("signed by key {}", key.key_id()));
    Ok(())
}

/// What one pass over the file measured.
struct Measured {
    total: u64,
    md5: [u8; 16],
    sha1: String,
    sha256: String,
    payload_sha256: String,
}

/// Every digest the package carries must match before we vouch for it with a signature.
fn check_digests(layout: &Layout, m: &Measured) -> Result<()> {
    let sig = &layout.signature;
    let mut wrong = Vec::new();
    if let Ok(size) = sig.get_entry_data_as_u32(IndexSignatureTag::RPMSIGTAG_SIZE)
        && u64::from(size) != m.total
    {
        wrong.push("size");
    }
    if let Ok(size) = sig.get_entry_data_as_u64(IndexSignatureTag::RPMSIGTAG_LONGSIZE)
        && size != m.total
    {
        wrong.push("size");
    }
    if let Ok(md5) = sig.get_entry_data_as_binary(IndexSignatureTag::RPMSIGTAG_MD5)
        && md5 != m.md5
    {
        wrong.push("MD5 digest");
    }
    if let Ok(sha1) = sig.get_entry_data_as_string(IndexSignatureTag::RPMSIGTAG_SHA1)
        && sha1 != m.sha1
    {
        wrong.push("header SHA1 digest");
    }
    if let Ok(sha256) = sig.get_entry_data_as_string(IndexSignatureTag::RPMSIGTAG_SHA256)
        && sha256 != m.sha256
    {
        wrong.push("header SHA256 digest");
    }
    let header = &layout.header;
    if let Ok(IndexData::Int32(algo)) = header.entry(RPMTAG_PAYLOADDIGESTALGO)
        && algo.first() == Some(&PGPHASHALGO_SHA256)
        && let Ok(IndexData::StringArray(digest)) = header.entry(RPMTAG_PAYLOADDIGEST)
        && digest.first() != Some(&m.payload_sha256)
    {
        wrong.push("payload SHA256 digest");
    }
    if wrong.is_empty() {
        return Ok(());
    }
    wrong.dedup();
    Err(Error::failed(format!(
        "{}: its {} does not match its content: the file is damaged or was changed after it \
         was written; not signing it",
        layout.path.display(),
        wrong.join(", ")
    )))
}

/// The rpm crate serializes a signature header (with its padding to 8 bytes) only as part of
/// the package metadata: write lead, signature and an empty main header, keep the middle.
fn signature_bytes(
    signature: Header<IndexSignatureTag>,
) -> std::result::Result<Vec<u8>, rpm::Error> {
    let metadata = PackageMetadata {
        lead: Lead::new(""),
        signature,
        header: Header::from_entries(Vec::new(), rpm::IndexTag::RPMTAG_HEADERIMMUTABLE),
    };
    let mut all = Vec::new();
    metadata.write(&mut all)?;
    let tail = metadata.header_bytes()?.len();
    Ok(all[96..all.len() - tail].to_vec())
}

/// Write lead, new signature header, the header as it was and the payload into a temporary file
/// next to `path`, check the payload copied is the one signed, and rename it over `path`.
fn write_signed(
    path: &Path,
    layout: &Layout,
    signature: &[u8],
    payload: &mut BufReader<File>,
    signed_md5: [u8; 16],
) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let mut out = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .tempfile_in(dir)
        .at(dir)?;
    let mode = std::fs::metadata(path).at(path)?.permissions();
    payload
        .seek(SeekFrom::Start(layout.payload_offset))
        .at(path)?;
    let mut md5 = Md5::new();
    md5.update(&layout.header_bytes);
    let temp = out.path().to_path_buf();
    {
        let mut w = BufWriter::with_capacity(1 << 20, out.as_file_mut());
        w.write_all(&layout.lead).at(&temp)?;
        w.write_all(signature).at(&temp)?;
        w.write_all(&layout.header_bytes).at(&temp)?;
        stream(payload, path, |chunk| {
            md5.update(chunk);
            w.write_all(chunk)
        })?;
        w.flush().at(&temp)?;
    }
    if <[u8; 16]>::from(md5.finalize()) != signed_md5 {
        return Err(Error::failed(format!(
            "{}: the file changed while it was being signed; not replacing it",
            path.display()
        )));
    }
    std::fs::set_permissions(out.path(), mode).at(out.path())?;
    out.as_file().sync_all().at(out.path())?;
    out.persist(path).map_err(|e| e.error).at(path)?;
    Ok(())
}

/// Feed the rest of `input` to `each` in 1 MiB chunks; returns how many bytes it read.
fn stream(
    input: &mut impl Read,
    path: &Path,
    mut each: impl FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<u64> {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = input.read(&mut buf).at(path)?;
        if n == 0 {
            return Ok(total);
        }
        each(&buf[..n]).at(path)?;
        total += n as u64;
    }
}
