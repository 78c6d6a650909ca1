//! Package shapes no tool makes, assembled from a built package's parts with the rpm crate:
//! header entries edited, the payload replaced, the signature header's digests recomputed over
//! the result and then edited. Tag numbers are rpm's (lib/rpmtag.h).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use md5::Md5;
use rpm::{Header, HeaderEntry, IndexData, IndexSignatureTag, IndexTag, PackageMetadata};
use sha1::Sha1;
use sha2::{Digest, Sha256};

pub const SIG_SIZE: u32 = 1000;
pub const SIG_MD5: u32 = 1004;
pub const SIG_PAYLOADSIZE: u32 = 1007;
pub const SIG_RESERVEDSPACE: u32 = 1008;
pub const SIG_SHA1: u32 = 269;
pub const SIG_SHA256: u32 = 273;
pub const SIG_RSA: u32 = 268;
pub const SIG_DSA: u32 = 267;
pub const SIG_PGP: u32 = 1002;
pub const SIG_GPG: u32 = 1005;
pub const NAME: u32 = 1000;
pub const SUMMARY: u32 = 1004;
pub const INSTALLTIME: u32 = 1008;
pub const OS: u32 = 1021;
pub const ARCH: u32 = 1022;
pub const FILESIZES: u32 = 1028;
pub const REQUIREFLAGS: u32 = 1048;
pub const REQUIRENAME: u32 = 1049;
pub const REQUIREVERSION: u32 = 1050;
pub const FILEMODES: u32 = 1030;
pub const FILEDIGESTS: u32 = 1035;
pub const SOURCERPM: u32 = 1044;
pub const SOURCEPACKAGE: u32 = 1106;
pub const PAYLOADCOMPRESSOR: u32 = 1125;
pub const PAYLOADFLAGS: u32 = 1126;
pub const LONGFILESIZES: u32 = 5008;
pub const FILEDIGESTALGO: u32 = 5011;
pub const PAYLOADDIGEST: u32 = 5092;
pub const PAYLOADDIGESTALT: u32 = 5097;

/// A package taken apart: lead, header and signature entries (region tags left out), payload.
pub struct Parts {
    lead: rpm::Lead,
    pub header: Vec<HeaderEntry>,
    pub signature: Vec<HeaderEntry>,
    pub payload: Vec<u8>,
}

fn entries(all: Vec<(u32, IndexData)>, region: u32) -> Vec<HeaderEntry> {
    all.into_iter()
        .filter(|(tag, _)| *tag != region)
        .map(|(tag, data)| HeaderEntry::new(tag, data))
        .collect()
}

fn set(list: &mut Vec<HeaderEntry>, tag: u32, data: IndexData) {
    match list.iter_mut().find(|e| e.tag == tag) {
        Some(e) => e.data = data,
        None => list.push(HeaderEntry::new(tag, data)),
    }
}

impl Parts {
    pub fn of(rpm: &Path) -> Parts {
        let pkg = rpm::Package::open(rpm).expect("the rpm crate reads the package");
        let m = pkg.metadata;
        Parts {
            lead: m.lead,
            header: entries(m.header.get_all_entries().unwrap(), 63),
            signature: entries(m.signature.get_all_entries().unwrap(), 62),
            payload: pkg.payload,
        }
    }

    pub fn get(&self, tag: u32) -> Option<&IndexData> {
        self.header.iter().find(|e| e.tag == tag).map(|e| &e.data)
    }

    pub fn set(&mut self, tag: u32, data: IndexData) -> &mut Self {
        set(&mut self.header, tag, data);
        self
    }

    pub fn remove(&mut self, tag: u32) -> &mut Self {
        self.header.retain(|e| e.tag != tag);
        self
    }

    pub fn get_sig(&self, tag: u32) -> Option<&IndexData> {
        self.signature
            .iter()
            .find(|e| e.tag == tag)
            .map(|e| &e.data)
    }

    pub fn set_sig(&mut self, tag: u32, data: IndexData) -> &mut Self {
        set(&mut self.signature, tag, data);
        self
    }

    pub fn remove_sig(&mut self, tag: u32) -> &mut Self {
        self.signature.retain(|e| e.tag != tag);
        self
    }

    fn metadata(&self) -> PackageMetadata {
        PackageMetadata {
            lead: self.lead.clone(),
            signature: Header::<IndexSignatureTag>::from_entries(
                self.signature.clone(),
                IndexSignatureTag::HEADER_SIGNATURES,
            ),
            header: Header::<IndexTag>::from_entries(
                self.header.clone(),
                IndexTag::RPMTAG_HEADERIMMUTABLE,
            ),
        }
    }

    /// The main header as it will be in the file.
    pub fn header_bytes(&self) -> Vec<u8> {
        self.metadata().header_bytes().unwrap()
    }

    /// Set the header's payload digests (when it has them) for the payload and `plain`, what
    /// it decompresses to.
    pub fn payload_digests(&mut self, plain: &[u8]) -> &mut Self {
        let hex = |data: &[u8]| IndexData::StringArray(vec![hex::encode(Sha256::digest(data))]);
        if self.get(PAYLOADDIGEST).is_some() {
            let d = hex(&self.payload);
            self.set(PAYLOADDIGEST, d);
        }
        if self.get(PAYLOADDIGESTALT).is_some() {
            self.set(PAYLOADDIGESTALT, hex(plain));
        }
        self
    }

    /// Drop the requirement on `name` from REQUIRENAME, REQUIREFLAGS and REQUIREVERSION.
    pub fn remove_require(&mut self, name: &str) -> &mut Self {
        let Some(IndexData::StringArray(names)) = self.get(REQUIRENAME).cloned() else {
            panic!("no REQUIRENAME");
        };
        let at = names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no requirement on {name}: {names:?}"));
        for tag in [REQUIRENAME, REQUIREVERSION] {
            let Some(IndexData::StringArray(mut v)) = self.get(tag).cloned() else {
                panic!("no tag {tag}");
            };
            v.remove(at);
            self.set(tag, IndexData::StringArray(v));
        }
        let Some(IndexData::Int32(mut flags)) = self.get(REQUIREFLAGS).cloned() else {
            panic!("no REQUIREFLAGS");
        };
        flags.remove(at);
        self.set(REQUIREFLAGS, IndexData::Int32(flags))
    }

    /// The main header with one more entry after its immutable region (tag, rpm type number,
    /// count, data bytes), the way rpm appends entries to installed headers; the region and
    /// so the SHA1 and header signatures over it stay as they are.
    pub fn header_with_dribble(&self, tag: u32, kind: u32, count: u32, data: &[u8]) -> Vec<u8> {
        let header = self.header_bytes();
        let be = |at: usize| u32::from_be_bytes(header[at..at + 4].try_into().unwrap());
        let (il, dl) = (be(8) as usize, be(12) as usize);
        let index_end = 16 + 16 * il;
        let mut store = header[index_end..].to_vec();
        assert_eq!(store.len(), dl);
        let size = match kind {
            3 => 2,
            4 => 4,
            5 => 8,
            _ => 1,
        };
        store.resize(store.len().div_ceil(size) * size, 0);
        let offset = store.len() as u32;
        store.extend_from_slice(data);
        let mut out = header[..8].to_vec();
        out.extend_from_slice(&(il as u32 + 1).to_be_bytes());
        out.extend_from_slice(&(store.len() as u32).to_be_bytes());
        out.extend_from_slice(&header[16..index_end]);
        for v in [tag, kind, offset, count] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend(store);
        out
    }

    /// Write the package with `header` in place of the one the entries make: SIZE and MD5
    /// are recomputed over it and the payload, everything else in the signature header kept.
    pub fn write_with_header(&mut self, path: &Path, header: &[u8]) -> PathBuf {
        let (size, md5) = self.size_and_md5(header);
        self.set_sig(SIG_SIZE, size).set_sig(SIG_MD5, md5);
        self.write(path);
        let mut bytes = std::fs::read(path).unwrap();
        let be = |b: &[u8], at: usize| u32::from_be_bytes(b[at..at + 4].try_into().unwrap());
        let sig_len = 16 + 16 * be(&bytes, 96 + 8) as usize + be(&bytes, 96 + 12) as usize;
        let start = 96 + sig_len.div_ceil(8) * 8;
        let old = self.header_bytes().len();
        bytes.splice(start..start + old, header.iter().copied());
        std::fs::write(path, bytes).unwrap();
        path.to_path_buf()
    }

    /// The signature header's SIZE and MD5 of `header` followed by the payload.
    fn size_and_md5(&self, header: &[u8]) -> (IndexData, IndexData) {
        let n = (header.len() + self.payload.len()) as u32;
        let mut h = Md5::new();
        h.update(header);
        h.update(&self.payload);
        (
            IndexData::Int32(vec![n]),
            IndexData::Bin(h.finalize().to_vec()),
        )
    }

    /// Recompute the signature header's SIZE, MD5, SHA1 and SHA256 (those present) over the
    /// header and payload as they are now; header signatures no longer match, so they go.
    /// PGP and GPG (header+payload) signatures are left as they were.
    pub fn redigest(&mut self) -> &mut Self {
        let header = self.header_bytes();
        let has = |tag| self.get_sig(tag).is_some();
        let (size, md5, sha1, sha256) =
            (has(SIG_SIZE), has(SIG_MD5), has(SIG_SHA1), has(SIG_SHA256));
        let (size_data, md5_data) = self.size_and_md5(&header);
        if size {
            self.set_sig(SIG_SIZE, size_data);
        }
        if md5 {
            self.set_sig(SIG_MD5, md5_data);
        }
        if sha1 {
            let hex = hex::encode(Sha1::digest(&header));
            self.set_sig(SIG_SHA1, IndexData::StringTag(hex));
        }
        if sha256 {
            let hex = hex::encode(Sha256::digest(&header));
            self.set_sig(SIG_SHA256, IndexData::StringTag(hex));
        }
        self.remove_sig(SIG_RSA).remove_sig(SIG_DSA)
    }

    /// Write the package to `path`.
    pub fn write(&self, path: &Path) -> PathBuf {
        let pkg = rpm::Package {
            metadata: self.metadata(),
            payload: self.payload.clone(),
        };
        pkg.write_file(path).expect("write the assembled package");
        path.to_path_buf()
    }
}
