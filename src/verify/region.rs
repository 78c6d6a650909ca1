//! The main header's immutable region, which is what rpm 4.11.3's header SHA1 and its RSA/DSA
//! header signatures cover (rpm@rpm-4.11.3-release lib/package.c rpmpkgRead and
//! lib/rpmchecksig.c readFile both hash `rpm_header_magic` and then
//! `headerGet(RPMTAG_HEADERIMMUTABLE)`, which lib/header.c copyTdEntry builds). Those bytes
//! are not the header as stored: rpm hashes its own magic (`8e ad e8 01` and four zero bytes,
//! whatever the file's reserved bytes are), the region's entry count and data length, its
//! entries and its data. Entries after the region ("dribbles", which rpm appends to
//! installed headers) are covered by nothing, and lib/header.c headerImport lets them replace
//! region entries with the same tag.

const MAGIC: [u8; 8] = [0x8e, 0xad, 0xe8, 0x01, 0, 0, 0, 0];
const ENTRY: usize = 16;
const IMMUTABLE: u32 = 63;
/// RPM_BIN_TYPE and the 16-byte trailer: what a region tag must be (lib/header_internal.h
/// REGION_TAG_TYPE, REGION_TAG_COUNT).
const BIN: u32 = 7;
const TRAILER: usize = 16;

/// Where the region ends, and what lies outside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// Entries in the region, its own tag included (`ril`).
    pub entries: usize,
    /// Data bytes the digest covers, the trailer included (`rdl`).
    pub data: usize,
    /// Tags of the entries after the region, in index order.
    pub outside: Vec<u32>,
    /// Of those, the ones that also appear inside it: rpm 4.11 uses the outside value.
    pub replacing: Vec<u32>,
    /// The bytes the SHA1 and header signatures are computed over.
    pub digest_input: Vec<u8>,
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// The region of a header given as stored (magic, counts, index, data). `Ok(None)` for a
/// header without one: rpm 4.11 reads it as a legacy header and digests nothing of it
/// (lib/package.c headerVerify returns NOTFOUND, then a plain sanity check). An `Err` is
/// rpm 4.11's own verdict on a malformed region ("region tag: BAD", …), which makes it
/// refuse the header.
pub fn region(header: &[u8]) -> Result<Option<Region>, String> {
    let short = || "the header ends inside its index".to_string();
    let il = be32(header, 8).ok_or_else(short)? as usize;
    let dl = be32(header, 12).ok_or_else(short)? as usize;
    let index = header.get(16..16 + il * ENTRY).ok_or_else(short)?;
    let data = header.get(16 + il * ENTRY..).ok_or_else(short)?;
    let field = |i: usize, f: usize| be32(index, i * ENTRY + f * 4).unwrap_or(0);
    if il == 0 || field(0, 0) != IMMUTABLE {
        return Ok(None);
    }
    let (kind, offset, count) = (field(0, 1), field(0, 2) as usize, field(0, 3) as usize);
    if kind != BIN || count != TRAILER {
        return Err(format!(
            "region tag: BAD (type {kind}, count {count}; rpm 4.11 wants type 7, count 16)"
        ));
    }
    if offset + TRAILER > dl.min(data.len()) {
        return Err(format!(
            "region offset: BAD (trailer at {offset}, {dl} data bytes)"
        ));
    }
    let trailer = &data[offset..offset + TRAILER];
    let t = |f: usize| be32(trailer, f * 4).unwrap_or(0);
    let span = (t(2) as i32).wrapping_neg();
    if t(0) != IMMUTABLE || t(1) != BIN || t(3) as usize != TRAILER || span <= 0 {
        return Err("region trailer: BAD (not an immutable-region trailer)".into());
    }
    let ril = span as usize / ENTRY;
    if !(span as usize).is_multiple_of(ENTRY) || ril > il {
        return Err(format!("region size: BAD (ril {ril} > il {il})"));
    }
    // copyTdEntry copies `rdlen` data bytes plus the trailer, rdlen being what regionSwab
    // adds up over the region's entries in index order: aligned type sizes, not offsets.
    let mut rdlen = 0usize;
    for i in 1..ril {
        let (kind, off, count) = (field(i, 1), field(i, 2) as usize, field(i, 3) as usize);
        rdlen += align(kind, rdlen);
        rdlen += data_length(kind, data.get(off..).unwrap_or_default(), count)
            .ok_or_else(|| format!("tag[{i}]: BAD (data past the end of the header)"))?;
    }
    let rdl = rdlen + TRAILER;
    let region_data = data
        .get(..rdl)
        .ok_or_else(|| format!("region size: BAD ({rdl} data bytes, {dl} in the header)"))?;
    let mut digest_input = Vec::with_capacity(8 + 8 + ril * ENTRY + rdl);
    digest_input.extend_from_slice(&MAGIC);
    digest_input.extend_from_slice(&(ril as u32).to_be_bytes());
    digest_input.extend_from_slice(&(rdl as u32).to_be_bytes());
    digest_input.extend_from_slice(&index[..ril * ENTRY]);
    digest_input.extend_from_slice(region_data);
    let inside: Vec<u32> = (1..ril).map(|i| field(i, 0)).collect();
    let outside: Vec<u32> = (ril..il).map(|i| field(i, 0)).collect();
    let replacing = outside
        .iter()
        .copied()
        .filter(|t| inside.contains(t))
        .collect();
    Ok(Some(Region {
        entries: ril,
        data: rdl,
        outside,
        replacing,
        digest_input,
    }))
}

/// lib/header.c alignDiff: integers are aligned to their size.
fn align(kind: u32, at: usize) -> usize {
    let size = match kind {
        3 => 2,
        4 => 4,
        5 => 8,
        _ => 1,
    };
    (size - at % size) % size
}

/// lib/header.c dataLength: strings up to their NUL, arrays of them, fixed sizes otherwise.
fn data_length(kind: u32, data: &[u8], count: usize) -> Option<usize> {
    Some(match kind {
        6 => data.iter().position(|&b| b == 0)? + 1,
        8 | 9 => {
            let mut at = 0;
            for _ in 0..count {
                at += data.get(at..)?.iter().position(|&b| b == 0)? + 1;
            }
            at
        }
        3 => 2 * count,
        4 => 4 * count,
        5 => 8 * count,
        _ => count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    type Entry<'a> = (u32, u32, &'a [u8], u32);

    fn put(index: &mut Vec<u8>, data: &mut Vec<u8>, (tag, kind, bytes, count): Entry) {
        data.resize(data.len() + align(kind, data.len()), 0);
        for v in [tag, kind, data.len() as u32, count] {
            index.extend_from_slice(&v.to_be_bytes());
        }
        data.extend_from_slice(bytes);
    }

    /// A header of `entries` (tag, type, data, count) in a region, then `dribbles` after it.
    fn header(entries: &[Entry], dribbles: &[Entry]) -> Vec<u8> {
        let (mut index, mut data) = (Vec::new(), Vec::new());
        for &e in entries {
            put(&mut index, &mut data, e);
        }
        let trailer_at = data.len() as u32;
        let ril = entries.len() as u32 + 1;
        for v in [IMMUTABLE, BIN, (-(ril as i32 * 16)) as u32, 16] {
            data.extend_from_slice(&v.to_be_bytes());
        }
        for &e in dribbles {
            put(&mut index, &mut data, e);
        }
        let mut out = vec![0x8e, 0xad, 0xe8, 0x01, 9, 9, 9, 9];
        let il = ril + dribbles.len() as u32;
        for v in [il, data.len() as u32, IMMUTABLE, BIN, trailer_at, 16] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.extend(index);
        out.extend(data);
        out
    }

    #[test]
    fn the_digest_covers_the_region_with_rpms_magic_only() {
        let inside: [Entry; 2] = [(1000, 6, b"name\0", 1), (1001, 4, &[0, 0, 0, 1], 1)];
        let plain = header(&inside, &[]);
        let r = region(&plain).unwrap().unwrap();
        assert_eq!((r.entries, r.outside.len()), (3, 0));
        // rpm's magic replaces the file's reserved bytes (9 9 9 9 here); the rest is as stored.
        assert_eq!(&r.digest_input[..8], &MAGIC);
        assert_eq!(&r.digest_input[8..], &plain[8..]);

        let with_dribble = header(&inside, &[(1000, 6, b"other\0", 1), (1094, 6, b"c\0", 1)]);
        let d = region(&with_dribble).unwrap().unwrap();
        assert_eq!(d.digest_input, r.digest_input);
        assert_eq!(d.outside, [1000, 1094]);
        assert_eq!(d.replacing, [1000]);
    }

    #[test]
    fn malformed_regions_are_rpm_4_11s_errors_and_no_region_is_legacy() {
        let mut h = header(&[(1000, 6, b"x\0", 1)], &[]);
        assert_eq!(
            region(&h[..20]).unwrap_err(),
            "the header ends inside its index"
        );
        h[16 + 7] = 6; // region tag type
        assert!(region(&h).unwrap_err().starts_with("region tag: BAD"));
        let mut legacy = header(&[(1000, 6, b"x\0", 1)], &[]);
        legacy[16..20].copy_from_slice(&100u32.to_be_bytes());
        assert_eq!(region(&legacy), Ok(None));
    }
}
