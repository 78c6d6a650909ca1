//! Where the parts of an RPM file are, read without loading the payload: the 96-byte lead, the
//! signature header (padded to 8 bytes), the main header, then the compressed payload. The
//! header's bytes are kept verbatim: they are what the signatures cover, so they are never
//! re-serialized.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use rpm::{Header, IndexSignatureTag, IndexTag, PackageMetadata};

use crate::error::{Error, IoContext, Result};

const LEAD_SIZE: usize = 96;
const LEAD_MAGIC: [u8; 4] = [0xed, 0xab, 0xee, 0xdb];
const HEADER_MAGIC: [u8; 4] = [0x8e, 0xad, 0xe8, 0x01];
/// Bounds before allocating: rpm refuses headers with more than 0xffff entries, and its data
/// limit (16 MiB in 4.11, 256 MiB later) is below this one.
const MAX_ENTRIES: u32 = 0xffff;
const MAX_DATA: u32 = 256 << 20;

/// An opened RPM: the raw bytes before the payload, parsed headers, and the payload's place.
pub struct Layout {
    pub path: PathBuf,
    pub lead: Vec<u8>,
    pub signature: Header<IndexSignatureTag>,
    /// The main header exactly as in the file.
    pub header_bytes: Vec<u8>,
    pub header: Header<IndexTag>,
    pub payload_offset: u64,
}

impl Layout {
    /// Read lead and headers; the returned file is positioned at the payload.
    pub fn read(path: &Path) -> Result<(Layout, BufReader<File>)> {
        let unreadable = |message: String| Error::Unreadable {
            path: path.to_path_buf(),
            message,
        };
        let file = File::open(path).at(path)?;
        let file_len = file.metadata().at(path)?.len();
        let mut input = BufReader::with_capacity(1 << 20, file);

        let mut lead = vec![0u8; LEAD_SIZE];
        read_exact(&mut input, &mut lead, path, "lead")?;
        if lead[..4] != LEAD_MAGIC {
            return Err(unreadable("no RPM lead (bad magic)".into()));
        }
        let mut signature_bytes = header_section(&mut input, path, "signature header")?;
        let padding = (8 - signature_bytes.len() % 8) % 8;
        let mut pad = vec![0u8; padding];
        read_exact(&mut input, &mut pad, path, "signature header padding")?;
        signature_bytes.extend_from_slice(&pad);
        let header_bytes = header_section(&mut input, path, "header")?;

        let mut all = Vec::with_capacity(lead.len() + signature_bytes.len() + header_bytes.len());
        all.extend_from_slice(&lead);
        all.extend_from_slice(&signature_bytes);
        all.extend_from_slice(&header_bytes);
        let metadata = PackageMetadata::parse(&mut &all[..])
            .map_err(|e| unreadable(format!("cannot parse its headers: {e}")))?;
        let payload_offset = all.len() as u64;
        if payload_offset > file_len {
            return Err(unreadable("truncated before the payload".into()));
        }
        Ok((
            Layout {
                path: path.to_path_buf(),
                lead,
                signature: metadata.signature,
                header_bytes,
                header: metadata.header,
                payload_offset,
            },
            input,
        ))
    }
}

/// One header structure (index header, entries, data store), checked against rpm's limits.
fn header_section(input: &mut impl Read, path: &Path, what: &str) -> Result<Vec<u8>> {
    let mut intro = [0u8; 16];
    read_exact(input, &mut intro, path, what)?;
    if intro[..4] != HEADER_MAGIC {
        return Err(Error::Unreadable {
            path: path.to_path_buf(),
            message: format!("its {what} has a bad magic number"),
        });
    }
    let entries = u32::from_be_bytes(intro[8..12].try_into().expect("4 bytes"));
    let data = u32::from_be_bytes(intro[12..16].try_into().expect("4 bytes"));
    if entries > MAX_ENTRIES || data > MAX_DATA {
        return Err(Error::Unreadable {
            path: path.to_path_buf(),
            message: format!("its {what} is implausibly large ({entries} entries, {data} bytes)"),
        });
    }
    let len = 16 + 16 * entries as usize + data as usize;
    let mut bytes = vec![0u8; len];
    bytes[..16].copy_from_slice(&intro);
    read_exact(input, &mut bytes[16..], path, what)?;
    Ok(bytes)
}

fn read_exact(input: &mut impl Read, buf: &mut [u8], path: &Path, what: &str) -> Result<()> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        std::io::ErrorKind::UnexpectedEof => Error::Unreadable {
            path: path.to_path_buf(),
            message: format!("truncated in the {what}"),
        },
        _ => Error::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })
}
