//! The payload read the way rpm 4.11.3 reads it, not the way the header says it should be.
//!
//! rpm 4.11.3 opens the payload as `"r." + PAYLOADCOMPRESSOR`, "gzip" when the tag is absent
//! (rpm@rpm-4.11.3-release lib/rpmte.c rpmtePayload), and rpmio/rpmio.c Fdopen picks the reader
//! by that name: gzdio (zlib's gzread), bzdio (libbz2's BZ2_bzread), xzdio and lzdio (both
//! liblzma's lzma_auto_decoder), and for any name it does not know, the file itself.

use std::io::{self, BufRead, BufReader, Read};

/// How rpm 4.11's liblzma reader limits memory: rpmio.c lzopen_internal,
/// `lzma_auto_decoder(&strm, 100<<20, 0)`.
pub const XZ_MEMLIMIT: u64 = 100 << 20;
const CHUNK: usize = 64 * 1024;

/// Which reader rpm 4.11's Fdopen picks for a compressor name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Codec {
    /// zlib's gzread (gzdio): gzip members, or the bytes unchanged when there is no gzip magic.
    Gzip,
    /// BZ2_bzread (bzdio): the first bzip2 stream only.
    Bzip2,
    /// lzma_auto_decoder (xzdio and lzdio alike): one .xz or .lzma stream, no
    /// LZMA_CONCATENATED, a 100 MiB memory limit.
    Lzma,
    /// Fdopen knows no reader by this name and returns the descriptor: plain cpio.
    Plain,
}

impl Codec {
    /// The names Fdopen matches (`rstreq(end, "gzdio") || rstreq(end, "gzip")`, …).
    pub fn for_name(name: &str) -> Codec {
        match name {
            "gzip" | "gzdio" => Codec::Gzip,
            "bzip2" | "bzdio" => Codec::Bzip2,
            "xz" | "xzdio" | "lzma" | "lzdio" => Codec::Lzma,
            _ => Codec::Plain,
        }
    }
}

/// The decoded payload, and what the reader found on the way.
pub enum Decoder<R: Read> {
    Gzip(Gzread<R>),
    Bzip2(bzip2::bufread::BzDecoder<BufReader<R>>),
    Lzma(liblzma::bufread::XzDecoder<BufReader<R>>),
    Plain(R),
}

impl<R: Read> Decoder<R> {
    pub fn new(codec: Codec, raw: R) -> io::Result<Decoder<R>> {
        Ok(match codec {
            Codec::Gzip => Decoder::Gzip(Gzread::new(raw)),
            Codec::Bzip2 => Decoder::Bzip2(bzip2::bufread::BzDecoder::new(
                BufReader::with_capacity(CHUNK, raw),
            )),
            Codec::Lzma => {
                let stream = liblzma::stream::Stream::new_auto_decoder(XZ_MEMLIMIT, 0)?;
                Decoder::Lzma(liblzma::bufread::XzDecoder::new_stream(
                    BufReader::with_capacity(CHUNK, raw),
                    stream,
                ))
            }
            Codec::Plain => Decoder::Plain(raw),
        })
    }

    /// True when zlib passed the payload through unchanged (it had no gzip magic).
    pub fn transparent(&self) -> bool {
        matches!(self, Decoder::Gzip(g) if g.transparent)
    }
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Gzip(d) => d.read(buf),
            Decoder::Bzip2(d) => d.read(buf),
            Decoder::Lzma(d) => d.read(buf).map_err(|e| {
                if e.to_string().contains("memory limit") {
                    io::Error::other(format!(
                        "{e}: the stream needs more than the {} MiB rpm 4.11 allows its decoder",
                        XZ_MEMLIMIT >> 20
                    ))
                } else {
                    e
                }
            }),
            Decoder::Plain(d) => d.read(buf),
        }
    }
}

/// zlib 1.2.7's gzread as rpm 4.11's gzdio uses it (madler/zlib@v1.2.7 gzread.c gz_look, and
/// gzlib.c gz_open setting `direct = 1` for reading): gzip members one after another; input
/// whose first two bytes are not the gzip magic is copied unchanged ("transparent" reading);
/// after a member, anything that is not another member is ignored as trailing garbage.
pub struct Gzread<R: Read> {
    state: GzState<R>,
    pub transparent: bool,
}

enum GzState<R: Read> {
    Look { input: Peek<R>, first: bool },
    Member(Box<flate2::bufread::GzDecoder<Peek<R>>>),
    Copy(Peek<R>),
    Done,
}

impl<R: Read> Gzread<R> {
    pub fn new(raw: R) -> Self {
        Gzread {
            state: GzState::Look {
                input: Peek::new(raw),
                first: true,
            },
            transparent: false,
        }
    }
}

impl<R: Read> Read for Gzread<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match std::mem::replace(&mut self.state, GzState::Done) {
                GzState::Look { mut input, first } => {
                    let head = input.peek(2)?;
                    if head.is_empty() {
                        return Ok(0);
                    }
                    self.state = if head == [0x1f, 0x8b] {
                        GzState::Member(Box::new(flate2::bufread::GzDecoder::new(input)))
                    } else if first {
                        self.transparent = true;
                        GzState::Copy(input)
                    } else {
                        GzState::Done
                    };
                }
                GzState::Member(mut member) => {
                    let n = member.read(buf)?;
                    if n > 0 || buf.is_empty() {
                        self.state = GzState::Member(member);
                        return Ok(n);
                    }
                    self.state = GzState::Look {
                        input: member.into_inner(),
                        first: false,
                    };
                }
                GzState::Copy(mut input) => {
                    let n = input.read(buf)?;
                    self.state = GzState::Copy(input);
                    return Ok(n);
                }
                GzState::Done => return Ok(0),
            }
        }
    }
}

/// A buffered reader that can look at the next bytes without consuming them, even across the
/// end of its buffer (gz_look reads more input when fewer than two bytes are buffered).
pub struct Peek<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
    len: usize,
}

impl<R: Read> Peek<R> {
    fn new(inner: R) -> Self {
        Peek {
            inner,
            buf: vec![0; CHUNK],
            pos: 0,
            len: 0,
        }
    }

    /// Up to `n` next bytes; fewer only at the end of the input.
    fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.len - self.pos < n {
            self.buf.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
            while self.len < n {
                let got = self.inner.read(&mut self.buf[self.len..])?;
                if got == 0 {
                    break;
                }
                self.len += got;
            }
        }
        Ok(&self.buf[self.pos..self.len.min(self.pos + n)])
    }
}

impl<R: Read> BufRead for Peek<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.len {
            self.len = self.inner.read(&mut self.buf)?;
            self.pos = 0;
        }
        Ok(&self.buf[self.pos..self.len])
    }

    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.len);
    }
}

impl<R: Read> Read for Peek<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn gzread(input: &[u8]) -> (io::Result<Vec<u8>>, bool) {
        let mut r = Gzread::new(input);
        let mut out = Vec::new();
        let got = r.read_to_end(&mut out).map(|_| out);
        (got, r.transparent)
    }

    #[test]
    fn gzread_passes_plain_data_through_and_decodes_members() {
        let (got, transparent) = gzread(b"070701 plain cpio");
        assert_eq!(got.unwrap(), b"070701 plain cpio");
        assert!(transparent);
        // One byte: not enough for the magic, so it is plain data too.
        assert_eq!(gzread(b"x").0.unwrap(), b"x");
        assert_eq!(gzread(b"").0.unwrap(), b"");

        let mut two = gzip(b"first ");
        two.extend(gzip(b"second"));
        let (got, transparent) = gzread(&two);
        assert_eq!(got.unwrap(), b"first second");
        assert!(!transparent);

        // Trailing garbage after a member is ignored, as zlib does.
        let mut garbage = gzip(b"member");
        garbage.extend(b"not gzip");
        assert_eq!(gzread(&garbage).0.unwrap(), b"member");

        // A corrupt member is an error.
        let mut bad = gzip(b"some data to corrupt");
        let at = bad.len() - 12;
        bad[at] ^= 0xff;
        assert!(gzread(&bad).0.is_err());
    }

    #[test]
    fn peek_sees_across_the_buffer_end() {
        let data: Vec<u8> = (0..=255u8).cycle().take(CHUNK + 10).collect();
        let mut p = Peek::new(&data[..]);
        let mut sink = vec![0; CHUNK - 1];
        p.read_exact(&mut sink).unwrap();
        assert_eq!(p.peek(2).unwrap(), &data[CHUNK - 1..CHUNK + 1]);
        let mut rest = Vec::new();
        p.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, &data[CHUNK - 1..]);
    }

    #[test]
    fn names_map_to_the_readers_fdopen_picks() {
        assert_eq!(Codec::for_name("gzip"), Codec::Gzip);
        assert_eq!(Codec::for_name("lzma"), Codec::Lzma);
        assert_eq!(Codec::for_name("xz"), Codec::Lzma);
        assert_eq!(Codec::for_name("bzip2"), Codec::Bzip2);
        assert_eq!(Codec::for_name("zstd"), Codec::Plain);
        assert_eq!(Codec::for_name("ufdio"), Codec::Plain);
    }
}
