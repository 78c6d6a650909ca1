//! The digest algorithms rpm numbers (PGPHASHALGO_*), behind one type, and a reader that
//! hashes what passes through it so that a payload is read once.

use std::io::{self, Read};

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

#[derive(Clone)]
pub enum Hasher {
    Md5(Md5),
    Sha1(Sha1),
    Sha224(Sha224),
    Sha256(Sha256),
    Sha384(Sha384),
    Sha512(Sha512),
}

impl Hasher {
    /// A hasher for rpm's algorithm number (1 MD5, 2 SHA1, 8 SHA256, 9 SHA384, 10 SHA512,
    /// 11 SHA224).
    pub fn for_rpm_algo(algo: u32) -> Option<Hasher> {
        Some(match algo {
            1 => Hasher::Md5(Md5::new()),
            2 => Hasher::Sha1(Sha1::new()),
            8 => Hasher::Sha256(Sha256::new()),
            9 => Hasher::Sha384(Sha384::new()),
            10 => Hasher::Sha512(Sha512::new()),
            11 => Hasher::Sha224(Sha224::new()),
            _ => return None,
        })
    }

    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::Sha224(h) => h.update(data),
            Hasher::Sha256(h) => h.update(data),
            Hasher::Sha384(h) => h.update(data),
            Hasher::Sha512(h) => h.update(data),
        }
    }

    pub fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Sha1(h) => h.finalize().to_vec(),
            Hasher::Sha224(h) => h.finalize().to_vec(),
            Hasher::Sha256(h) => h.finalize().to_vec(),
            Hasher::Sha384(h) => h.finalize().to_vec(),
            Hasher::Sha512(h) => h.finalize().to_vec(),
        }
    }

    pub fn finish_hex(self) -> String {
        hex::encode(self.finish())
    }
}

/// rpm's name for a digest algorithm number.
pub fn algo_name(algo: u32) -> String {
    match algo {
        1 => "MD5".into(),
        2 => "SHA1".into(),
        5 => "MD2".into(),
        8 => "SHA256".into(),
        9 => "SHA384".into(),
        10 => "SHA512".into(),
        11 => "SHA224".into(),
        12 => "SHA3-256".into(),
        14 => "SHA3-512".into(),
        other => format!("algorithm {other}"),
    }
}

/// Length of the hex digest for an algorithm number (how `rpm --dump` pads missing digests).
pub fn hex_len(algo: u32) -> usize {
    match algo {
        1 => 32,
        2 => 40,
        9 => 96,
        10 | 14 => 128,
        11 => 56,
        _ => 64,
    }
}

/// Passes reads through, feeding every byte to its hashers and counting them.
pub struct HashingReader<R> {
    inner: R,
    pub hashers: Vec<Hasher>,
    pub count: u64,
    /// Whether the inner reader reported its end.
    pub at_end: bool,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R, hashers: Vec<Hasher>) -> Self {
        HashingReader {
            inner,
            hashers,
            count: 0,
            at_end: false,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Read the rest of the input, so that the digests cover all of it.
    pub fn drain(&mut self) -> io::Result<u64> {
        io::copy(self, &mut io::sink())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.at_end = true;
        }
        for h in &mut self.hashers {
            h.update(&buf[..n]);
        }
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_reader_sees_every_byte() {
        let data = b"hello world".repeat(1000);
        let mut r = HashingReader::new(&data[..], vec![Hasher::for_rpm_algo(8).unwrap()]);
        assert_eq!(r.drain().unwrap(), data.len() as u64);
        assert!(r.at_end);
        let want = hex::encode(Sha256::digest(&data));
        assert_eq!(r.hashers.remove(0).finish_hex(), want);
    }

    #[test]
    fn hex_lengths_match_the_algorithms() {
        for algo in [1, 2, 8, 9, 10, 11] {
            let h = Hasher::for_rpm_algo(algo).unwrap();
            assert_eq!(h.finish_hex().len(), hex_len(algo), "algo {algo}");
        }
    }
}
