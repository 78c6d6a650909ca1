//! The payload: a `newc` cpio archive of the package's files, compressed as it is written
//! (multi-threaded xz or gzip) into a temporary file, hashing the files and the compressed
//! stream on the way. Memory stays bounded whatever the size of Envoy.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};

use clap::ValueEnum;
use flate2::write::GzEncoder;
use liblzma::stream::{Check, MtStreamBuilder};
use liblzma::write::XzEncoder;
use sha2::{Digest, Sha256};

use super::FileRecord;
use crate::error::{Error, IoContext, Result};

/// xz block size: liblzma's own default for preset 2 (three times its 2 MiB dictionary).
/// Fixing it makes the output independent of the number of threads.
const XZ_BLOCK_SIZE: u64 = 6 << 20;

/// Payload compressors. Zstd is listed only so that asking for it gets an explanation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Compression {
    Xz,
    Gzip,
    Zstd,
}

impl Compression {
    /// The `PAYLOADCOMPRESSOR` tag value.
    pub fn tag_name(self) -> &'static str {
        match self {
            Compression::Xz => "xz",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// EL7 rpmbuild's defaults: `w2.xzdio` for xz, `w9.gzdio` for gzip.
    pub fn default_level(self) -> u32 {
        match self {
            Compression::Xz => 2,
            Compression::Gzip => 9,
            Compression::Zstd => 19,
        }
    }

    /// Refuse what CentOS 7's rpm 4.11 cannot read, and levels the compressor rejects.
    pub fn check(self, level: u32) -> Result<()> {
        match self {
            Compression::Zstd => Err(Error::input(
                "--compression zstd: CentOS 7's rpm 4.11 cannot read zstd payloads \
                 (it lacks rpmlib(PayloadIsZstd)); use xz (default) or gzip",
            )),
            Compression::Xz if level > 9 => Err(Error::input(format!(
                "--level {level}: xz levels are 0 to 9"
            ))),
            Compression::Gzip if !(1..=9).contains(&level) => Err(Error::input(format!(
                "--level {level}: gzip levels are 1 to 9"
            ))),
            _ => Ok(()),
        }
    }
}

/// What writing the payload measured.
#[derive(Clone, Debug)]
pub struct PayloadInfo {
    /// Size of the uncompressed cpio archive, trailer included (`PAYLOADSIZE`).
    pub archive_size: u64,
    /// Size of the compressed payload in the file.
    pub compressed_size: u64,
    /// SHA-256 of the compressed payload, hex (`PAYLOADDIGEST`).
    pub sha256: String,
}

/// Write the payload for `files` (in header order, ghosts left out) into `out`, filling in
/// each regular file's SHA-256 digest.
pub fn write(
    files: &mut [FileRecord],
    compression: Compression,
    level: u32,
    threads: u32,
    out: &File,
) -> Result<PayloadInfo> {
    let sink = Hashing::new(BufWriter::with_capacity(1 << 20, out));
    let mut encoder = Encoder::new(compression, level, threads, sink)?;
    let mut archive = Counting {
        inner: &mut encoder,
        count: 0,
    };
    for (index, file) in files.iter_mut().enumerate() {
        // A ghost is only listed: rpmbuild leaves it out of the archive, and rpm creates
        // nothing for it.
        if !file.is_ghost() {
            write_entry(&mut archive, file, index as u32 + 1)?;
        }
    }
    let archive = cpio::newc::trailer(archive).map_err(write_error)?;
    let archive_size = archive.count;
    let sink = encoder.finish().map_err(write_error)?;
    let (mut buffered, sha256, compressed_size) = sink.finish();
    buffered.flush().map_err(write_error)?;
    Ok(PayloadInfo {
        archive_size,
        compressed_size,
        sha256,
    })
}

fn write_error(e: io::Error) -> Error {
    Error::Io {
        path: "<payload temporary file>".into(),
        source: e,
    }
}

fn write_entry<W: Write>(archive: &mut W, file: &mut FileRecord, ino: u32) -> Result<()> {
    let builder = cpio::newc::Builder::new(&format!(".{}", file.path))
        .ino(ino)
        .mode(file.mode)
        .uid(0)
        .gid(0)
        .nlink(if file.is_dir() { 2 } else { 1 })
        .mtime(file.mtime)
        .dev_major(0)
        .dev_minor(0);
    let Some(source) = file.source.clone() else {
        builder.write(archive, 0).finish().at(&file.path)?;
        return Ok(());
    };
    let mut input = File::open(&source).at(&source)?;
    let mut entry = builder.write(archive, file.size);
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut copied: u64 = 0;
    loop {
        let n = input.read(&mut buf).at(&source)?;
        if n == 0 {
            break;
        }
        copied += n as u64;
        if copied > u64::from(file.size) {
            break;
        }
        hasher.update(&buf[..n]);
        entry.write_all(&buf[..n]).at(&source)?;
    }
    if copied != u64::from(file.size) {
        return Err(Error::failed(format!(
            "{}: changed while being packaged ({} bytes when listed, {copied} read); \
             rerun once nothing is writing it",
            source.display(),
            file.size
        )));
    }
    entry.finish().at(&source)?;
    file.digest = hex::encode(hasher.finalize());
    Ok(())
}

/// The compressor in front of the hashing sink.
enum Encoder<W: Write> {
    Xz(XzEncoder<W>),
    Gzip(GzEncoder<W>),
}

impl<W: Write> Encoder<W> {
    fn new(compression: Compression, level: u32, threads: u32, sink: W) -> Result<Self> {
        compression.check(level)?;
        match compression {
            Compression::Xz => {
                let stream = MtStreamBuilder::new()
                    .threads(threads.max(1))
                    .block_size(XZ_BLOCK_SIZE)
                    .preset(level)
                    .check(Check::Sha256)
                    .encoder()
                    .map_err(|e| Error::failed(format!("xz encoder: {e}")))?;
                Ok(Encoder::Xz(XzEncoder::new_stream(sink, stream)))
            }
            Compression::Gzip => Ok(Encoder::Gzip(GzEncoder::new(
                sink,
                flate2::Compression::new(level),
            ))),
            Compression::Zstd => unreachable!("refused by Compression::check"),
        }
    }

    fn finish(self) -> io::Result<W> {
        match self {
            Encoder::Xz(e) => e.finish(),
            Encoder::Gzip(e) => e.finish(),
        }
    }
}

impl<W: Write> Write for Encoder<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Encoder::Xz(e) => e.write(buf),
            Encoder::Gzip(e) => e.write(buf),
        }
    }

    /// The cpio writer flushes after every entry; an xz flush would end the block and wait
    /// for every thread, so flushes stop here. `finish` writes everything out.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Counts the uncompressed archive bytes (`PAYLOADSIZE`).
struct Counting<W> {
    inner: W,
    count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Hashes and counts bytes on their way to a file (the compressed payload, the whole RPM).
pub(super) struct Hashing<W> {
    inner: W,
    sha256: Sha256,
    count: u64,
}

impl<W: Write> Hashing<W> {
    pub(super) fn new(inner: W) -> Self {
        Hashing {
            inner,
            sha256: Sha256::new(),
            count: 0,
        }
    }

    /// The inner writer, the hex SHA-256 and the byte count.
    pub(super) fn finish(self) -> (W, String, u64) {
        (self.inner, hex::encode(self.sha256.finalize()), self.count)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha256.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
