//! Reading an RPM's lead and headers, on our own terms: the section sizes are checked against
//! the file before the rpm crate's parser allocates anything, and the main header's bytes are
//! kept exactly as they are in the file, since that is what the digests and signatures cover.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use rpm::{IndexSignatureTag, IndexTag, PackageMetadata};

use super::region::{Region, region};
use crate::{Error, Result};

const LEAD_SIZE: u64 = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// An index entry is 16 bytes; so is the preamble (magic, reserved, count, data length).
const INDEX_ENTRY_SIZE: u64 = 16;

/// The header flag rpm uses for ghost files: listed in the header, absent from the payload.
pub const FILE_GHOST: u32 = 1 << 6;
pub const FILE_CONFIG: u32 = 1;
pub const FILE_DOC: u32 = 1 << 1;

/// A parsed package: its metadata, where its sections are, and the main header's raw bytes.
pub struct RpmFile {
    pub path: PathBuf,
    pub file_size: u64,
    pub metadata: PackageMetadata,
    pub header_start: u64,
    pub payload_start: u64,
    pub header_bytes: Vec<u8>,
    /// (index entries, data bytes) of the signature header and of the main header, as their
    /// preambles say: rpm 4.11 refuses a header whose counts pass its limits.
    pub sig_counts: (u64, u64),
    pub header_counts: (u64, u64),
    /// The header's immutable region, or rpm 4.11's reason for refusing it.
    pub region: std::result::Result<Option<Region>, String>,
}

fn unreadable(path: &Path, message: impl Into<String>) -> Error {
    Error::Unreadable {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

impl RpmFile {
    /// Read lead, signature header and header. Any file that is not an RPM, or ends before its
    /// header does, is [`Error::Unreadable`].
    pub fn open(path: &Path) -> Result<RpmFile> {
        let mut file = File::open(path).map_err(|e| unreadable(path, e.to_string()))?;
        let file_size = file
            .metadata()
            .map_err(|e| unreadable(path, e.to_string()))?
            .len();
        let io = |e: std::io::Error| unreadable(path, e.to_string());

        let mut lead = [0u8; LEAD_SIZE as usize];
        let n = read_up_to(&mut file, &mut lead).map_err(io)?;
        if n < 4 || lead[..4] != LEAD_MAGIC {
            return Err(unreadable(path, "no RPM lead magic (edabeedb): not an RPM"));
        }
        if n < lead.len() {
            return Err(unreadable(
                path,
                format!("truncated: the file ends inside the lead ({file_size} bytes)"),
            ));
        }
        let (sig_index, sig_data) = preamble(&mut file, path, LEAD_SIZE, file_size, "signature")?;
        let sig_size = INDEX_ENTRY_SIZE * (1 + sig_index) + sig_data;
        // The signature header is padded so that the main header starts on 8 bytes.
        let header_start = LEAD_SIZE + sig_size + (8 - sig_size % 8) % 8;
        let (index, data) = preamble(&mut file, path, header_start, file_size, "main")?;
        let payload_start = header_start + INDEX_ENTRY_SIZE * (1 + index) + data;
        if payload_start > file_size {
            return Err(unreadable(
                path,
                format!(
                    "truncated: the header ends at byte {payload_start}, the file has {file_size}"
                ),
            ));
        }

        file.seek(SeekFrom::Start(0)).map_err(io)?;
        let mut reader = BufReader::new(&mut file);
        // The parser indexes into the data it read; a corrupt offset must not abort us.
        let parsed = catch_unwind(AssertUnwindSafe(|| PackageMetadata::parse(&mut reader)));
        let metadata = match parsed {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => return Err(unreadable(path, format!("headers do not parse: {e}"))),
            Err(_) => return Err(unreadable(path, "headers do not parse (malformed index)")),
        };
        let offsets = metadata.get_package_segment_offsets();
        if offsets.header != header_start || offsets.payload != payload_start {
            return Err(unreadable(
                path,
                "header sizes disagree with the rpm parser's; the header is malformed",
            ));
        }

        let mut header_bytes = vec![0; (payload_start - header_start) as usize];
        file.seek(SeekFrom::Start(header_start)).map_err(io)?;
        file.read_exact(&mut header_bytes).map_err(io)?;
        Ok(RpmFile {
            path: path.to_path_buf(),
            file_size,
            metadata,
            header_start,
            payload_start,
            region: region(&header_bytes),
            header_bytes,
            sig_counts: (sig_index, sig_data),
            header_counts: (index, data),
        })
    }

    /// The file, positioned at the first byte of the compressed payload.
    pub fn payload_reader(&self) -> Result<File> {
        let io = |e: std::io::Error| unreadable(&self.path, e.to_string());
        let mut file = File::open(&self.path).map_err(io)?;
        file.seek(SeekFrom::Start(self.payload_start)).map_err(io)?;
        Ok(file)
    }

    /// A source package as rpm 4.11 tells: no SOURCERPM, and a source lead or a
    /// SOURCEPACKAGE tag (lib/package.c rpmpkgRead gives a binary lead without SOURCERPM a
    /// "(none)" one; lib/headerutil.c headerIsSource is `!headerIsEntry(h, RPMTAG_SOURCERPM)`).
    pub fn is_source(&self) -> bool {
        !self.has(IndexTag::RPMTAG_SOURCERPM)
            && (self.metadata.lead.package_type() == 1 || self.has(IndexTag::RPMTAG_SOURCEPACKAGE))
    }

    /// The bytes the header SHA1 and header signatures cover: the immutable region as rpm
    /// 4.11 hashes it, or the whole header when it has none (nothing rpm 4.11 checks then).
    pub fn signed_header(&self) -> &[u8] {
        match &self.region {
            Ok(Some(r)) => &r.digest_input,
            _ => &self.header_bytes,
        }
    }

    pub fn sig_u32(&self, tag: IndexSignatureTag) -> Option<u32> {
        self.metadata.signature.get_entry_data_as_u32(tag).ok()
    }

    pub fn sig_u64(&self, tag: IndexSignatureTag) -> Option<u64> {
        self.metadata.signature.get_entry_data_as_u64(tag).ok()
    }

    pub fn sig_string(&self, tag: IndexSignatureTag) -> Option<&str> {
        self.metadata.signature.get_entry_data_as_string(tag).ok()
    }

    pub fn sig_binary(&self, tag: IndexSignatureTag) -> Option<&[u8]> {
        self.metadata.signature.get_entry_data_as_binary(tag).ok()
    }

    pub fn has_sig(&self, tag: IndexSignatureTag) -> bool {
        self.metadata.signature.entry_is_present(tag)
    }

    pub fn has(&self, tag: IndexTag) -> bool {
        self.metadata.header.entry_is_present(tag)
    }

    pub fn string(&self, tag: IndexTag) -> Option<&str> {
        let h = &self.metadata.header;
        h.get_entry_data_as_string(tag)
            .or_else(|_| h.get_entry_data_as_i18n_string(tag))
            .ok()
    }

    pub fn strings(&self, tag: IndexTag) -> Vec<&str> {
        self.metadata
            .header
            .get_entry_data_as_string_array(tag)
            .unwrap_or_default()
    }

    pub fn u32(&self, tag: IndexTag) -> Option<u32> {
        self.metadata.header.get_entry_data_as_u32(tag).ok()
    }

    /// The payload compressor as named in the header; rpm's default when absent is gzip.
    pub fn compressor(&self) -> &str {
        self.string(IndexTag::RPMTAG_PAYLOADCOMPRESSOR)
            .unwrap_or("gzip")
    }

    /// The file digest algorithm (rpm's number); MD5 when the tag is absent.
    pub fn file_digest_algo(&self) -> u32 {
        self.u32(IndexTag::RPMTAG_FILEDIGESTALGO).unwrap_or(1)
    }

    /// The header's file arrays, one [`HeaderFile`] per file, in header order.
    pub fn files(&self) -> std::result::Result<Vec<HeaderFile>, String> {
        let h = &self.metadata.header;
        if !h.entry_is_present(IndexTag::RPMTAG_BASENAMES) {
            return Ok(Vec::new());
        }
        let e = |what: &str, err: rpm::Error| format!("file array {what}: {err}");
        let basenames = h
            .get_entry_data_as_string_array(IndexTag::RPMTAG_BASENAMES)
            .map_err(|err| e("BASENAMES", err))?;
        let dirnames = h
            .get_entry_data_as_string_array(IndexTag::RPMTAG_DIRNAMES)
            .map_err(|err| e("DIRNAMES", err))?;
        let dirindexes = h
            .get_entry_data_as_u32_array(IndexTag::RPMTAG_DIRINDEXES)
            .map_err(|err| e("DIRINDEXES", err))?;
        let modes = h
            .get_entry_data_as_u16_array(IndexTag::RPMTAG_FILEMODES)
            .map_err(|err| e("FILEMODES", err))?;
        let sizes: Vec<u64> = match h.get_entry_data_as_u64_array(IndexTag::RPMTAG_LONGFILESIZES) {
            Ok(sizes) => sizes,
            Err(_) => h
                .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILESIZES)
                .map_err(|err| e("FILESIZES", err))?
                .into_iter()
                .map(u64::from)
                .collect(),
        };
        let users = h
            .get_entry_data_as_string_array(IndexTag::RPMTAG_FILEUSERNAME)
            .map_err(|err| e("FILEUSERNAME", err))?;
        let groups = h
            .get_entry_data_as_string_array(IndexTag::RPMTAG_FILEGROUPNAME)
            .map_err(|err| e("FILEGROUPNAME", err))?;
        // Absent FILEDIGESTS: rpm 4.11 compares nothing (lib/rpmfi.c rpmfiPopulate), so empty.
        let digests = if h.entry_is_present(IndexTag::RPMTAG_FILEDIGESTS) {
            h.get_entry_data_as_string_array(IndexTag::RPMTAG_FILEDIGESTS)
                .map_err(|err| e("FILEDIGESTS", err))?
        } else {
            vec![""; basenames.len()]
        };
        let linktos = h
            .get_entry_data_as_string_array(IndexTag::RPMTAG_FILELINKTOS)
            .map_err(|err| e("FILELINKTOS", err))?;
        let flags = h
            .get_entry_data_as_u32_array(IndexTag::RPMTAG_FILEFLAGS)
            .map_err(|err| e("FILEFLAGS", err))?;
        let optional_u32 = |tag| h.get_entry_data_as_u32_array(tag).unwrap_or_default();
        let mtimes = optional_u32(IndexTag::RPMTAG_FILEMTIMES);
        let inodes = optional_u32(IndexTag::RPMTAG_FILEINODES);
        let rdevs = h
            .get_entry_data_as_u16_array(IndexTag::RPMTAG_FILERDEVS)
            .unwrap_or_default();

        let n = basenames.len();
        for (name, len) in [
            ("DIRINDEXES", dirindexes.len()),
            ("FILEMODES", modes.len()),
            ("FILESIZES", sizes.len()),
            ("FILEUSERNAME", users.len()),
            ("FILEGROUPNAME", groups.len()),
            ("FILEDIGESTS", digests.len()),
            ("FILELINKTOS", linktos.len()),
            ("FILEFLAGS", flags.len()),
        ] {
            if len != n {
                return Err(format!("{name} has {len} entries, BASENAMES has {n}"));
            }
        }
        let mut files = Vec::with_capacity(n);
        for i in 0..n {
            let dir = dirnames
                .get(dirindexes[i] as usize)
                .ok_or_else(|| format!("DIRINDEXES[{i}] points past DIRNAMES"))?;
            files.push(HeaderFile {
                path: format!("{dir}{}", basenames[i]),
                mode: modes[i],
                size: sizes[i],
                user: users[i].to_string(),
                group: groups[i].to_string(),
                digest: digests[i].to_string(),
                linkto: linktos[i].to_string(),
                flags: flags[i],
                mtime: mtimes.get(i).copied().unwrap_or(0),
                inode: inodes.get(i).copied().unwrap_or(0),
                rdev: rdevs.get(i).copied().unwrap_or(0),
            });
        }
        Ok(files)
    }
}

/// One file as the header describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeaderFile {
    pub path: String,
    pub mode: u16,
    pub size: u64,
    pub user: String,
    pub group: String,
    /// Hex digest by the package's file digest algorithm; empty for non-regular files.
    pub digest: String,
    pub linkto: String,
    pub flags: u32,
    pub mtime: u32,
    pub inode: u32,
    pub rdev: u16,
}

impl HeaderFile {
    pub fn is_ghost(&self) -> bool {
        self.flags & FILE_GHOST != 0
    }

    pub fn file_type(&self) -> u32 {
        u32::from(self.mode) & 0o170000
    }

    pub fn is_regular(&self) -> bool {
        self.file_type() == 0o100000
    }

    pub fn is_symlink(&self) -> bool {
        self.file_type() == 0o120000
    }
}

/// Read a header preamble at `offset` and return (index entries, data length), checking that
/// the header fits in the file before anyone allocates for it.
fn preamble(
    file: &mut File,
    path: &Path,
    offset: u64,
    file_size: u64,
    which: &str,
) -> Result<(u64, u64)> {
    let io = |e: std::io::Error| unreadable(path, e.to_string());
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = [0u8; INDEX_ENTRY_SIZE as usize];
    if read_up_to(file, &mut buf).map_err(io)? < buf.len() {
        return Err(unreadable(
            path,
            format!("truncated: the file ends before the {which} header ({file_size} bytes)"),
        ));
    }
    if buf[..4] != HEADER_MAGIC {
        return Err(unreadable(
            path,
            format!("no {which} header magic at byte {offset}"),
        ));
    }
    let index = u64::from(u32::from_be_bytes([buf[8], buf[9], buf[10], buf[11]]));
    let data = u64::from(u32::from_be_bytes([buf[12], buf[13], buf[14], buf[15]]));
    let end = offset + INDEX_ENTRY_SIZE * (1 + index) + data;
    if end > file_size {
        return Err(unreadable(
            path,
            format!("truncated: the {which} header ends at byte {end}, the file has {file_size}"),
        ));
    }
    Ok((index, data))
}

pub fn read_up_to(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match reader.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
