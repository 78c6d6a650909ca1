//! The signing key: an ASCII-armored (or binary) OpenPGP secret key, checked for what CentOS 7's
//! rpm 4.11 can verify, and the signature packets it makes.
//!
//! rpm 4.11 verifies v4 (and v3) signature packets by an RSA or DSA key, and only when the
//! signature was made by the primary key of the certificate imported with `rpm --import`: it
//! does not look at subkeys, and it has no EdDSA/ECDSA code. A package signed any other way is
//! reported as unverifiable (`NOKEY`/`BAD`) and yum with `gpgcheck=1` refuses it. So the key is
//! checked here, before any file is touched, and the error says what kind of key to make.

use std::io::Read;
use std::path::{Path, PathBuf};

use pgp::composed::{PublicOrSecret, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::packet::{
    SecretKey, Signature, SignatureConfig, SignatureHasher, SignatureType, Subpacket, SubpacketData,
};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, KeyVersion, Password, S2kParams, SecretParams};

use crate::error::{Error, IoContext, Result};

/// The environment variable the passphrase is read from by default (never a command-line value:
/// that would show in `ps` and shell history).
pub const PASSPHRASE_ENV: &str = "PROXY_RPM_SIGN_PASSPHRASE";

/// How to make a key rpm 4.11 can verify, appended to every refusal.
const MAKE_ONE: &str = "make an RSA key whose primary key signs, e.g. `gpg --batch --gen-key` with \
     `Key-Type: RSA`, `Key-Length: 4096`, `Key-Usage: sign` and no Subkey-Type";

/// A primary RSA or DSA key, unlocked, ready to sign for rpm 4.11.
pub struct SigningKey {
    key: SecretKey,
    source: PathBuf,
    user_id: Option<String>,
    /// The certificate also has a signing subkey, which gpg would prefer and we do not use.
    signing_subkey: bool,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKey")
            .field("source", &self.source)
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

/// The two algorithms rpm 4.11 verifies, with the signature tags each goes in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Algorithm {
    Rsa,
    Dsa,
}

impl SigningKey {
    /// Load the key in `path`, unlocking it with the passphrase in the environment variable
    /// [`PASSPHRASE_ENV`] if it is protected.
    pub fn load(path: &Path) -> Result<SigningKey> {
        Self::load_with(path, std::env::var(PASSPHRASE_ENV).ok(), PASSPHRASE_ENV)
    }

    /// Load the key in `path`; `passphrase` came from the environment variable `env_name`
    /// (named in errors, its value never is).
    pub fn load_with(path: &Path, passphrase: Option<String>, env_name: &str) -> Result<Self> {
        let bytes = std::fs::read(path).at(path)?;
        let bad = |message: String| Error::input(format!("--key {}: {message}", path.display()));
        let (parsed, _) = PublicOrSecret::from_reader_many(&bytes[..])
            .map_err(|e| bad(format!("not an OpenPGP key: {e}")))?;
        let mut secrets = Vec::new();
        let mut publics = 0;
        for item in parsed {
            match item.map_err(|e| bad(format!("not a readable OpenPGP key: {e}")))? {
                PublicOrSecret::Secret(k) => secrets.push(k),
                PublicOrSecret::Public(_) => publics += 1,
            }
        }
        let cert = match (secrets.len(), publics) {
            (1, _) => secrets.remove(0),
            (0, 0) => return Err(bad("holds no OpenPGP key".into())),
            (0, _) => {
                return Err(bad(
                    "is a public key; export the secret one with `gpg --export-secret-keys --armor KEYID`"
                        .into(),
                ));
            }
            (n, _) => {
                return Err(bad(format!(
                    "holds {n} secret keys; export exactly the one to sign with"
                )));
            }
        };
        let key = check_primary(&cert).map_err(bad)?;
        let signing_subkey = has_signing_subkey(&cert);
        let key = unlock(key, passphrase, env_name).map_err(bad)?;
        let user_id = cert
            .details
            .users
            .first()
            .map(|u| String::from_utf8_lossy(u.id.id()).into_owned());
        Ok(SigningKey {
            key,
            source: path.to_path_buf(),
            user_id,
            signing_subkey,
        })
    }

    /// The 16-hex-digit key ID (`rpm -K` shows its last 8 digits).
    pub fn key_id(&self) -> String {
        hex::encode(self.key.legacy_key_id().as_ref())
    }

    pub fn fingerprint(&self) -> String {
        hex::encode(self.key.fingerprint().as_bytes())
    }

    pub fn user_id(&self) -> Option<&str> {
        self.user_id.as_deref()
    }

    pub fn algorithm(&self) -> Algorithm {
        match self.key.algorithm() {
            PublicKeyAlgorithm::DSA => Algorithm::Dsa,
            _ => Algorithm::Rsa,
        }
    }

    /// A short description for messages: `RSA 4096 key 0123456789abcdef (Name <mail>)`.
    pub fn describe(&self) -> String {
        let name = match self.algorithm() {
            Algorithm::Rsa => "RSA",
            Algorithm::Dsa => "DSA",
        };
        let kind = match self.bits() {
            Some(bits) => format!("{name} {bits}"),
            None => name.to_string(),
        };
        let mut text = format!("{kind} key {}", self.key_id());
        if let Some(uid) = &self.user_id {
            text.push_str(&format!(" ({uid})"));
        }
        if self.signing_subkey {
            text.push_str(
                ", its primary key (not its signing subkey: rpm 4.11 verifies only primary-key \
                 signatures)",
            );
        }
        text
    }

    /// The key size: both RSA and DSA public parameters start with the MPI of the modulus
    /// (n, p), whose two-byte prefix is its length in bits.
    fn bits(&self) -> Option<u16> {
        let mut params = Vec::new();
        self.key.public_params().to_writer(&mut params).ok()?;
        Some(u16::from_be_bytes([*params.first()?, *params.get(1)?]))
    }

    /// Start a signature over data fed to the returned hasher (it implements `Write`).
    pub(crate) fn hasher(&self, created: u32) -> Result<SignatureHasher> {
        let mut config = SignatureConfig::v4(
            SignatureType::Binary,
            self.key.algorithm(),
            HashAlgorithm::Sha256,
        );
        // Exactly the layout gpg writes, which EL7's rpm has verified for years: fingerprint and
        // creation time hashed, the 8-byte issuer key ID unhashed (signers that hashed it have
        // had rpm refuse their signatures).
        config.hashed_subpackets = vec![
            subpacket(SubpacketData::IssuerFingerprint(self.key.fingerprint()))?,
            subpacket(SubpacketData::SignatureCreationTime(
                pgp::types::Timestamp::from_secs(created),
            ))?,
        ];
        config.unhashed_subpackets = vec![subpacket(SubpacketData::IssuerKeyId(
            self.key.legacy_key_id(),
        ))?];
        config.into_hasher().map_err(pgp_failed)
    }

    /// Finish a signature and serialize it as rpm stores it: one signature packet with an
    /// old-format packet header (what gpg writes; rpm 4.11 parses both formats).
    pub(crate) fn finish(&self, hasher: SignatureHasher) -> Result<Vec<u8>> {
        let signature: Signature = hasher
            .sign(&self.key, &Password::empty())
            .map_err(pgp_failed)?;
        let mut body = Vec::with_capacity(600);
        signature.to_writer(&mut body).map_err(pgp_failed)?;
        Ok(old_format_packet(2, &body))
    }

    /// Sign everything `data` yields (used by the tests of this module and for small inputs).
    pub fn sign_reader(&self, data: impl Read, created: u32) -> Result<Vec<u8>> {
        let mut hasher = self.hasher(created)?;
        let mut data = data;
        std::io::copy(&mut data, &mut hasher).at("<data to sign>")?;
        self.finish(hasher)
    }
}

fn subpacket(data: SubpacketData) -> Result<Subpacket> {
    Subpacket::regular(data).map_err(pgp_failed)
}

fn pgp_failed(e: pgp::errors::Error) -> Error {
    Error::failed(format!("OpenPGP signing failed: {e}"))
}

/// An old-format OpenPGP packet: tag in bits 5..2, length type in bits 1..0.
fn old_format_packet(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 5);
    match u16::try_from(body.len()) {
        Ok(len) if len > 0xff => {
            out.push(0x80 | (tag << 2) | 1);
            out.extend_from_slice(&len.to_be_bytes());
        }
        Ok(len) => {
            out.push(0x80 | (tag << 2));
            out.push(len as u8);
        }
        Err(_) => {
            out.push(0x80 | (tag << 2) | 2);
            out.extend_from_slice(&(body.len() as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(body);
    out
}

/// The primary key, if rpm 4.11 can verify what it signs; else why not.
fn check_primary(cert: &SignedSecretKey) -> std::result::Result<SecretKey, String> {
    let primary = &cert.primary_key;
    let algorithm = primary.algorithm();
    match algorithm {
        PublicKeyAlgorithm::RSA | PublicKeyAlgorithm::RSASign | PublicKeyAlgorithm::DSA => {}
        PublicKeyAlgorithm::EdDSALegacy
        | PublicKeyAlgorithm::Ed25519
        | PublicKeyAlgorithm::Ed448
        | PublicKeyAlgorithm::ECDSA => {
            return Err(format!(
                "its primary key is {}: CentOS 7's rpm 4.11 cannot verify EdDSA or \
                 ECDSA signatures (yum reports the packages as unverifiable and refuses them \
                 with gpgcheck=1); {MAKE_ONE}",
                algorithm_name(algorithm)
            ));
        }
        other => {
            return Err(format!(
                "its primary key is {other:?}, which cannot make signatures CentOS 7's rpm 4.11 \
                 verifies (RSA or DSA only); {MAKE_ONE}"
            ));
        }
    }
    if primary.version() != KeyVersion::V4 {
        return Err(format!(
            "it is a {:?} key: CentOS 7's rpm 4.11 reads only v3/v4 keys; {MAKE_ONE}",
            primary.version()
        ));
    }
    if is_stub(primary.secret_params()) {
        return Err(format!(
            "it holds no secret for the primary key, only for subkeys (exported with \
             --export-secret-subkeys); CentOS 7's rpm 4.11 verifies only signatures made by \
             the primary key, so a subkey signature would be refused; {MAKE_ONE}"
        ));
    }
    if !primary_may_sign(cert) {
        let why = if has_signing_subkey(cert) {
            "its primary key may only certify and signing is left to a subkey: CentOS 7's \
             rpm 4.11 verifies only signatures made by the primary key, so a subkey \
             signature would be refused"
        } else {
            "its primary key is not allowed to sign"
        };
        return Err(format!("{why}; {MAKE_ONE}"));
    }
    Ok(primary.clone())
}

fn algorithm_name(algorithm: PublicKeyAlgorithm) -> &'static str {
    match algorithm {
        PublicKeyAlgorithm::EdDSALegacy | PublicKeyAlgorithm::Ed25519 => "EdDSA (Ed25519)",
        PublicKeyAlgorithm::Ed448 => "EdDSA (Ed448)",
        _ => "ECDSA",
    }
}

/// gpg's "secret key stub" (S2K type 101, gnu-dummy): the secret part is absent.
fn is_stub(params: &SecretParams) -> bool {
    match params {
        SecretParams::Plain(_) => false,
        SecretParams::Encrypted(e) => match e.string_to_key_params() {
            S2kParams::Cfb { s2k, .. }
            | S2kParams::MalleableCfb { s2k, .. }
            | S2kParams::Aead { s2k, .. } => s2k.id() == 101,
            _ => false,
        },
    }
}

fn has_signing_subkey(cert: &SignedSecretKey) -> bool {
    let signs = |sigs: &[Signature]| sigs.iter().any(|sig| sig.key_flags().sign());
    cert.secret_subkeys.iter().any(|s| signs(&s.signatures))
        || cert.public_subkeys.iter().any(|s| signs(&s.signatures))
}

/// What the primary key's self-signatures allow. Keys older than key flags allow signing.
fn primary_may_sign(cert: &SignedSecretKey) -> bool {
    let self_sigs = cert
        .details
        .users
        .iter()
        .flat_map(|u| u.signatures.iter())
        .chain(cert.details.direct_signatures.iter());
    let mut any_flags = false;
    for sig in self_sigs {
        let has_flags = sig
            .config()
            .map(|c| {
                c.hashed_subpackets()
                    .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
            })
            .unwrap_or(false);
        if has_flags {
            any_flags = true;
            if sig.key_flags().sign() {
                return true;
            }
        }
    }
    !any_flags
}

/// Decrypt the secret key once (gpg's S2K takes a noticeable time per unlock), so that both
/// signatures of a package use the plain key.
fn unlock(
    mut key: SecretKey,
    passphrase: Option<String>,
    env_name: &str,
) -> std::result::Result<SecretKey, String> {
    if !key.secret_params().is_encrypted() {
        return Ok(key);
    }
    let Some(passphrase) = passphrase else {
        return Err(format!(
            "the key is protected by a passphrase: put it in the environment variable \
             {env_name} (never on the command line)"
        ));
    };
    key.remove_password(&Password::from(passphrase))
        .map_err(|_| format!("the passphrase in {env_name} does not unlock the key"))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_format_headers() {
        assert_eq!(old_format_packet(2, &[0; 3])[..2], [0x88, 3]);
        let long = old_format_packet(2, &[0; 300]);
        assert_eq!(long[..3], [0x89, 0x01, 0x2c]);
        assert_eq!(long.len(), 303);
        let huge = old_format_packet(2, &vec![0; 70000]);
        assert_eq!(huge[..5], [0x8a, 0, 1, 0x11, 0x70]);
    }
}
