//! The two RPM headers, tag by tag: the main header (what rpmbuild 4.11 writes for a binary
//! package, scriptlets included, minus file classes and per-file dependency maps) and the
//! signature header with the digests CentOS 7's `rpm -K` checks (SHA1 and MD5) plus SHA256.

use rpm::{DigestAlgorithm, Header, HeaderEntry, IndexData, IndexSignatureTag, IndexTag};

use super::FileRecord;
use super::deps::Dependency;
use super::payload::{Compression, PayloadInfo};
use crate::spec::{ScriptWhen, Spec};

/// Tags rpm 4.14 added; CentOS 7's rpm ignores them, newer rpm checks the payload with them.
const RPMTAG_PAYLOADDIGEST: u32 = 5092;
const RPMTAG_PAYLOADDIGESTALGO: u32 = 5093;

/// Everything the main header says about the package.
pub struct HeaderInput<'a> {
    pub spec: &'a Spec,
    pub version: &'a str,
    /// Release with the dist tag: `1.el7`.
    pub release: &'a str,
    pub arch: &'a str,
    pub build_time: u32,
    pub build_host: &'a str,
    pub compression: Compression,
    pub level: u32,
    pub files: &'a [FileRecord],
    pub requires: &'a [Dependency],
    pub provides: &'a [Dependency],
    pub payload: &'a PayloadInfo,
}

fn tag(t: IndexTag) -> u32 {
    t as u32
}

fn string(t: IndexTag, s: &str) -> HeaderEntry {
    HeaderEntry::new(tag(t), IndexData::StringTag(s.to_string()))
}

fn i18n(t: IndexTag, s: &str) -> HeaderEntry {
    HeaderEntry::new(tag(t), IndexData::I18NString(vec![s.to_string()]))
}

fn int32(t: IndexTag, v: u32) -> HeaderEntry {
    HeaderEntry::new(tag(t), IndexData::Int32(vec![v]))
}

fn int32s(t: IndexTag, v: Vec<u32>) -> HeaderEntry {
    HeaderEntry::new(tag(t), IndexData::Int32(v))
}

fn strings(t: IndexTag, v: Vec<String>) -> HeaderEntry {
    HeaderEntry::new(tag(t), IndexData::StringArray(v))
}

/// Build the main (immutable) header.
pub fn main_header(input: &HeaderInput) -> Header<IndexTag> {
    let spec = input.spec;
    let nvr = format!("{}-{}-{}", spec.name, input.version, input.release);
    let mut e = vec![
        strings(IndexTag::RPMTAG_HEADERI18NTABLE, vec!["C".into()]),
        string(IndexTag::RPMTAG_NAME, &spec.name),
        string(IndexTag::RPMTAG_VERSION, input.version),
        string(IndexTag::RPMTAG_RELEASE, input.release),
        i18n(IndexTag::RPMTAG_SUMMARY, &spec.summary),
        i18n(IndexTag::RPMTAG_DESCRIPTION, &spec.description),
        int32(IndexTag::RPMTAG_BUILDTIME, input.build_time),
        string(IndexTag::RPMTAG_BUILDHOST, input.build_host),
        int32(IndexTag::RPMTAG_SIZE, installed_size(input.files)),
        string(IndexTag::RPMTAG_LICENSE, &spec.license),
        i18n(IndexTag::RPMTAG_GROUP, &spec.group),
        string(IndexTag::RPMTAG_URL, &spec.url),
        string(IndexTag::RPMTAG_OS, "linux"),
        string(IndexTag::RPMTAG_ARCH, input.arch),
        string(IndexTag::RPMTAG_SOURCERPM, &format!("{nvr}.src.rpm")),
        string(
            IndexTag::RPMTAG_RPMVERSION,
            concat!("proxy-rpm ", env!("CARGO_PKG_VERSION")),
        ),
        string(IndexTag::RPMTAG_PAYLOADFORMAT, "cpio"),
        string(
            IndexTag::RPMTAG_PAYLOADCOMPRESSOR,
            input.compression.tag_name(),
        ),
        string(IndexTag::RPMTAG_PAYLOADFLAGS, &input.level.to_string()),
        string(
            IndexTag::RPMTAG_PLATFORM,
            &format!("{}-redhat-linux-gnu", input.arch),
        ),
        HeaderEntry::new(
            RPMTAG_PAYLOADDIGEST,
            IndexData::StringArray(vec![input.payload.sha256.clone()]),
        ),
        HeaderEntry::new(
            RPMTAG_PAYLOADDIGESTALGO,
            IndexData::Int32(vec![DigestAlgorithm::Sha2_256 as u32]),
        ),
    ];
    if let Some(packager) = &spec.packager {
        e.push(string(IndexTag::RPMTAG_PACKAGER, packager));
    }
    e.extend(dependency_entries(
        input.requires,
        IndexTag::RPMTAG_REQUIRENAME,
        IndexTag::RPMTAG_REQUIREFLAGS,
        IndexTag::RPMTAG_REQUIREVERSION,
    ));
    e.extend(dependency_entries(
        input.provides,
        IndexTag::RPMTAG_PROVIDENAME,
        IndexTag::RPMTAG_PROVIDEFLAGS,
        IndexTag::RPMTAG_PROVIDEVERSION,
    ));
    e.extend(changelog_entries(spec));
    e.extend(script_entries(spec));
    e.extend(file_entries(input.files));
    Header::from_entries(e, IndexTag::RPMTAG_HEADERIMMUTABLE)
}

/// Sum of the regular files' sizes, what `rpm -qi` shows as Size.
fn installed_size(files: &[FileRecord]) -> u32 {
    files.iter().map(|f| f.size).sum()
}

fn dependency_entries(
    deps: &[Dependency],
    names: IndexTag,
    flags: IndexTag,
    versions: IndexTag,
) -> Vec<HeaderEntry> {
    if deps.is_empty() {
        return Vec::new();
    }
    vec![
        strings(names, deps.iter().map(|d| d.name.clone()).collect()),
        int32s(flags, deps.iter().map(|d| d.flags).collect()),
        strings(versions, deps.iter().map(|d| d.version.clone()).collect()),
    ]
}

fn changelog_entries(spec: &Spec) -> Vec<HeaderEntry> {
    if spec.changelog.is_empty() {
        return Vec::new();
    }
    vec![
        int32s(
            IndexTag::RPMTAG_CHANGELOGTIME,
            spec.changelog.iter().map(|c| c.time).collect(),
        ),
        strings(
            IndexTag::RPMTAG_CHANGELOGNAME,
            spec.changelog.iter().map(|c| c.author.clone()).collect(),
        ),
        strings(
            IndexTag::RPMTAG_CHANGELOGTEXT,
            spec.changelog
                .iter()
                .map(|c| c.text.trim().to_string())
                .collect(),
        ),
    ]
}

/// The scriptlets: the script (`PREIN`…) and its interpreter (`PREINPROG`…), both strings:
/// rpmbuild (build/parseScript.c) writes the interpreter as a string array only when it has
/// arguments, which a spec cannot give. No `PREINFLAGS`: rpmbuild writes it only for flags
/// (macro expansion, …) we never set.
fn script_entries(spec: &Spec) -> Vec<HeaderEntry> {
    let mut e = Vec::new();
    for s in &spec.scripts {
        let (body, prog) = match s.when {
            ScriptWhen::Pre => (IndexTag::RPMTAG_PREIN, IndexTag::RPMTAG_PREINPROG),
            ScriptWhen::Post => (IndexTag::RPMTAG_POSTIN, IndexTag::RPMTAG_POSTINPROG),
            ScriptWhen::Preun => (IndexTag::RPMTAG_PREUN, IndexTag::RPMTAG_PREUNPROG),
            ScriptWhen::Postun => (IndexTag::RPMTAG_POSTUN, IndexTag::RPMTAG_POSTUNPROG),
        };
        e.push(string(body, &s.body));
        e.push(string(prog, &s.interpreter));
    }
    e
}

/// The file arrays, in the (sorted) order of `files`, with compressed file names
/// (DIRNAMES + BASENAMES + DIRINDEXES, rpmlib(CompressedFileNames)).
fn file_entries(files: &[FileRecord]) -> Vec<HeaderEntry> {
    let mut dirnames: Vec<String> = Vec::new();
    let mut dirindexes = Vec::new();
    let mut basenames = Vec::new();
    for f in files {
        let (dir, base) = f.path.rsplit_once('/').expect("absolute path");
        let dir = format!("{dir}/");
        let index = match dirnames.iter().position(|d| *d == dir) {
            Some(i) => i,
            None => {
                dirnames.push(dir);
                dirnames.len() - 1
            }
        };
        dirindexes.push(index as u32);
        basenames.push(base.to_string());
    }
    let n = files.len();
    let each = |f: fn(&FileRecord) -> String| files.iter().map(f).collect::<Vec<_>>();
    vec![
        int32s(
            IndexTag::RPMTAG_FILESIZES,
            files.iter().map(|f| f.size).collect(),
        ),
        HeaderEntry::new(
            tag(IndexTag::RPMTAG_FILEMODES),
            IndexData::Int16(files.iter().map(|f| f.mode as u16).collect()),
        ),
        HeaderEntry::new(
            tag(IndexTag::RPMTAG_FILERDEVS),
            IndexData::Int16(vec![0; n]),
        ),
        int32s(
            IndexTag::RPMTAG_FILEMTIMES,
            files.iter().map(|f| f.mtime).collect(),
        ),
        strings(IndexTag::RPMTAG_FILEDIGESTS, each(|f| f.digest.clone())),
        strings(IndexTag::RPMTAG_FILELINKTOS, vec![String::new(); n]),
        int32s(
            IndexTag::RPMTAG_FILEFLAGS,
            files.iter().map(|f| f.flags).collect(),
        ),
        strings(IndexTag::RPMTAG_FILEUSERNAME, each(|f| f.user.clone())),
        strings(IndexTag::RPMTAG_FILEGROUPNAME, each(|f| f.group.clone())),
        int32s(
            IndexTag::RPMTAG_FILEVERIFYFLAGS,
            files.iter().map(FileRecord::verify_flags).collect(),
        ),
        // rpmbuild's device numbers: 1 for what it found in the build root, 0 for a %ghost
        // it did not (its inode is still counted).
        int32s(
            IndexTag::RPMTAG_FILEDEVICES,
            files.iter().map(|f| u32::from(!f.is_ghost())).collect(),
        ),
        int32s(IndexTag::RPMTAG_FILEINODES, (1..=n as u32).collect()),
        strings(IndexTag::RPMTAG_FILELANGS, vec![String::new(); n]),
        int32s(
            IndexTag::RPMTAG_FILECOLORS,
            files.iter().map(|f| f.color).collect(),
        ),
        int32s(IndexTag::RPMTAG_DIRINDEXES, dirindexes),
        strings(IndexTag::RPMTAG_BASENAMES, basenames),
        strings(IndexTag::RPMTAG_DIRNAMES, dirnames),
        int32(
            IndexTag::RPMTAG_FILEDIGESTALGO,
            DigestAlgorithm::Sha2_256 as u32,
        ),
    ]
}

/// The digests of the signature header, computed over the serialized main header and the
/// compressed payload.
pub struct SignatureDigests {
    pub header_len: u64,
    pub md5_header_and_payload: [u8; 16],
    pub sha1_header: String,
    pub sha256_header: String,
}

/// Build the signature header. Sizes are 32-bit: CentOS 7 cannot read the 64-bit tags
/// without rpmlib(LargeFiles), so the writer refuses packages that would need them.
pub fn signature_header(
    digests: &SignatureDigests,
    payload: &PayloadInfo,
) -> Header<IndexSignatureTag> {
    let sig = |t: IndexSignatureTag, data: IndexData| HeaderEntry::new(t as u32, data);
    let total = (digests.header_len + payload.compressed_size) as u32;
    Header::from_entries(
        vec![
            sig(
                IndexSignatureTag::RPMSIGTAG_SIZE,
                IndexData::Int32(vec![total]),
            ),
            sig(
                IndexSignatureTag::RPMSIGTAG_MD5,
                IndexData::Bin(digests.md5_header_and_payload.to_vec()),
            ),
            sig(
                IndexSignatureTag::RPMSIGTAG_SHA1,
                IndexData::StringTag(digests.sha1_header.clone()),
            ),
            sig(
                IndexSignatureTag::RPMSIGTAG_SHA256,
                IndexData::StringTag(digests.sha256_header.clone()),
            ),
            sig(
                IndexSignatureTag::RPMSIGTAG_PAYLOADSIZE,
                IndexData::Int32(vec![payload.archive_size as u32]),
            ),
        ],
        IndexSignatureTag::HEADER_SIGNATURES,
    )
}
