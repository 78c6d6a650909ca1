//! What an ELF file needs from the system that runs it, read the way rpmbuild's `elfdeps` reads
//! it (DT_NEEDED, symbol version needs and definitions, hash tables), and the CentOS 7 limits
//! (glibc 2.17, GCC 4.8.5's libstdc++) it must stay within.
//!
//! Files are read on demand through `object::ReadCache`, so a 200 MB Envoy costs a few
//! kilobytes of memory, not its size.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use object::elf::{self, FileHeader64};
use object::read::elf::{FileHeader, Sym};
use object::{Endianness, ReadCache};

use crate::error::{Error, IoContext, Result};

/// The dynamic loader path every x86_64 CentOS 7 binary uses.
pub const EL7_INTERPRETER: &str = "/lib64/ld-linux-x86-64.so.2";

/// The newest symbol versions CentOS 7 provides, per versioned library family.
pub const EL7_LIMITS: [(&str, &str); 3] = [
    ("GLIBC_", "2.17"),
    ("GLIBCXX_", "3.4.19"),
    ("CXXABI_", "1.3.7"),
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfKind {
    Executable,
    SharedObject,
    Other(u16),
}

/// One symbol version an ELF needs from a library (`libc.so.6`, `GLIBC_2.14`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct VersionNeed {
    pub file: String,
    pub version: String,
}

/// The facts about one ELF file that packaging and verification care about.
#[derive(Clone, Debug)]
pub struct ElfInfo {
    pub path: PathBuf,
    pub is_64bit: bool,
    pub machine: u16,
    pub kind: ElfKind,
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub soname: Option<String>,
    pub version_needs: Vec<VersionNeed>,
    /// Versions this object defines (not the base one, which is its soname).
    pub version_defs: Vec<String>,
    pub has_sysv_hash: bool,
    pub has_gnu_hash: bool,
    pub has_debug: bool,
    /// Undefined dynamic symbols grouped by the version they need, to name offenders.
    pub symbols_by_version: BTreeMap<String, Vec<String>>,
}

/// A symbol version above what CentOS 7 provides, with the symbols that need it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewerVersion {
    pub file: String,
    pub version: String,
    pub limit: &'static str,
    pub symbols: Vec<String>,
}

impl fmt::Display for NewerVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} from {} (EL7 has up to {})",
            self.version, self.file, self.limit
        )?;
        if !self.symbols.is_empty() {
            let shown: Vec<&str> = self.symbols.iter().take(5).map(String::as_str).collect();
            write!(f, ", needed by {}", shown.join(", "))?;
            if self.symbols.len() > shown.len() {
                write!(f, " and {} more", self.symbols.len() - shown.len())?;
            }
        }
        Ok(())
    }
}

/// Whether these bytes start an ELF file.
pub fn is_elf(prefix: &[u8]) -> bool {
    prefix.starts_with(b"\x7fELF")
}

impl ElfInfo {
    /// Read an ELF file; `Ok(None)` when the file is not ELF at all.
    pub fn read(path: &Path) -> Result<Option<ElfInfo>> {
        let mut file = File::open(path).at(path)?;
        let mut ident = [0u8; 20];
        let n = read_up_to(&mut file, &mut ident).at(path)?;
        if !is_elf(&ident[..n]) {
            return Ok(None);
        }
        let bad = |message: String| Error::Elf {
            path: path.to_path_buf(),
            message,
        };
        if n < ident.len() {
            return Err(bad("truncated ELF header".into()));
        }
        let little = ident[5] == elf::ELFDATA2LSB;
        let machine = if little {
            u16::from_le_bytes([ident[18], ident[19]])
        } else {
            u16::from_be_bytes([ident[18], ident[19]])
        };
        let is_64bit = ident[4] == elf::ELFCLASS64;
        if !is_64bit {
            return Ok(Some(ElfInfo::bare(path, false, machine, ElfKind::Other(0))));
        }
        file.seek(SeekFrom::Start(0)).at(path)?;
        let cache = ReadCache::new(file);
        parse64(path, &cache, machine)
            .map(Some)
            .map_err(|e| bad(format!("malformed ELF: {e}")))
    }

    fn bare(path: &Path, is_64bit: bool, machine: u16, kind: ElfKind) -> ElfInfo {
        ElfInfo {
            path: path.to_path_buf(),
            is_64bit,
            machine,
            kind,
            interpreter: None,
            needed: Vec::new(),
            soname: None,
            version_needs: Vec::new(),
            version_defs: Vec::new(),
            has_sysv_hash: false,
            has_gnu_hash: false,
            has_debug: false,
            symbols_by_version: BTreeMap::new(),
        }
    }

    pub fn is_x86_64(&self) -> bool {
        self.is_64bit && self.machine == elf::EM_X86_64
    }

    /// A short description for error messages: "64-bit x86_64 executable".
    pub fn describe(&self) -> String {
        let arch = match self.machine {
            elf::EM_X86_64 => "x86_64".to_string(),
            elf::EM_AARCH64 => "aarch64".to_string(),
            elf::EM_386 => "i386".to_string(),
            elf::EM_ARM => "arm".to_string(),
            other => format!("machine {other}"),
        };
        let kind = match self.kind {
            ElfKind::Executable => "executable",
            ElfKind::SharedObject => "shared object or PIE",
            ElfKind::Other(_) => "non-executable ELF",
        };
        let bits = if self.is_64bit { "64-bit" } else { "32-bit" };
        format!("{bits} {arch} {kind}")
    }

    /// elfdeps' rule: an object with an interpreter that is not executable by mode gets no
    /// requires (it is a plugin or data, not something the loader starts).
    fn generates_requires(&self, executable_mode: bool) -> bool {
        self.interpreter.is_none() || executable_mode
    }

    fn marker(&self) -> &'static str {
        if self.is_64bit { "(64bit)" } else { "" }
    }

    /// The automatic Requires rpmbuild would add for this file, sorted and unique.
    pub fn rpm_requires(&self, executable_mode: bool) -> Vec<String> {
        let mut deps = Vec::new();
        if !self.generates_requires(executable_mode) {
            return deps;
        }
        let marker = self.marker();
        for need in &self.version_needs {
            if keep_soname(&need.file) {
                deps.push(format!("{}({}){marker}", need.file, need.version));
            }
        }
        for lib in &self.needed {
            if keep_soname(lib) {
                deps.push(format!("{lib}(){marker}"));
            }
        }
        if self.has_gnu_hash && !self.has_sysv_hash {
            deps.push("rtld(GNU_HASH)".to_string());
        }
        deps.sort();
        deps.dedup();
        deps
    }

    /// The automatic Provides rpmbuild would add: a shared object's soname and its versions.
    pub fn rpm_provides(&self) -> Vec<String> {
        let mut deps = Vec::new();
        if self.kind != ElfKind::SharedObject || self.has_debug {
            return deps;
        }
        let marker = self.marker();
        let soname = self.soname.clone().unwrap_or_else(|| {
            self.path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        if keep_soname(&soname) {
            deps.push(format!("{soname}(){marker}"));
            for version in &self.version_defs {
                deps.push(format!("{soname}({version}){marker}"));
            }
        }
        deps.sort();
        deps.dedup();
        deps
    }

    /// Every needed symbol version above what CentOS 7 provides (GLIBC 2.17, GLIBCXX 3.4.19,
    /// CXXABI 1.3.7), with the symbols that need it.
    pub fn newer_than_el7(&self) -> Vec<NewerVersion> {
        let mut out = Vec::new();
        for need in &self.version_needs {
            for (prefix, limit) in EL7_LIMITS {
                let Some(number) = need.version.strip_prefix(prefix) else {
                    continue;
                };
                if let (Some(have), Some(max)) = (parse_dotted(number), parse_dotted(limit))
                    && have > max
                {
                    out.push(NewerVersion {
                        file: need.file.clone(),
                        version: need.version.clone(),
                        limit,
                        symbols: self
                            .symbols_by_version
                            .get(&need.version)
                            .cloned()
                            .unwrap_or_default(),
                    });
                }
            }
        }
        out
    }

    /// Whether the object loads the shared libstdc++ (Envoy links it statically).
    pub fn needs_shared_libstdcxx(&self) -> bool {
        self.needed.iter().any(|n| n.starts_with("libstdc++.so"))
    }
}

/// elfdeps' soname filter: library names must contain ".so" and start with "lib" or be the
/// dynamic loader itself.
fn keep_soname(name: &str) -> bool {
    if name.trim().is_empty() || !name.contains(".so") {
        return false;
    }
    ["lib", "ld.", "ld-", "ld64"]
        .iter()
        .any(|p| name.starts_with(p))
}

/// "2.17" → [2, 17]; None for "PRIVATE" and other non-numeric versions.
fn parse_dotted(s: &str) -> Option<Vec<u32>> {
    s.split('.').map(|p| p.parse().ok()).collect()
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match file.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn parse64(path: &Path, cache: &ReadCache<File>, machine: u16) -> object::Result<ElfInfo> {
    let data = cache;
    let header = FileHeader64::<Endianness>::parse(data)?;
    let endian = header.endian()?;
    let kind = match header.e_type(endian) {
        elf::ET_EXEC => ElfKind::Executable,
        elf::ET_DYN => ElfKind::SharedObject,
        other => ElfKind::Other(other),
    };
    let mut info = ElfInfo::bare(path, true, machine, kind);

    for phdr in header.program_headers(endian, data)? {
        use object::read::elf::ProgramHeader;
        if phdr.p_type(endian) == elf::PT_INTERP
            && let Some(bytes) = phdr.data(endian, data).ok()
        {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
            info.interpreter = Some(text(&bytes[..end]));
        }
    }

    let sections = header.sections(endian, data)?;
    if let Some((dynamic, link)) = sections.dynamic(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        for entry in dynamic {
            use object::read::elf::Dyn;
            let tag = entry.d_tag(endian) as u32;
            let string = || {
                strings
                    .get(entry.d_val(endian) as u32)
                    .map(text)
                    .unwrap_or_default()
            };
            match tag {
                elf::DT_HASH => info.has_sysv_hash = true,
                elf::DT_GNU_HASH => info.has_gnu_hash = true,
                elf::DT_DEBUG => info.has_debug = true,
                elf::DT_SONAME => info.soname = Some(string()),
                elf::DT_NEEDED => info.needed.push(string()),
                _ => {}
            }
        }
    }

    if let Some((mut needs, link)) = sections.gnu_verneed(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((need, mut auxs)) = needs.next()? {
            let file = text(need.file(endian, strings)?);
            while let Some(aux) = auxs.next()? {
                info.version_needs.push(VersionNeed {
                    file: file.clone(),
                    version: text(aux.name(endian, strings)?),
                });
            }
        }
    }

    if let Some((mut defs, link)) = sections.gnu_verdef(endian, data)? {
        let strings = sections.strings(endian, data, link)?;
        while let Some((def, mut auxs)) = defs.next()? {
            let base = def.vd_flags.get(endian) & elf::VER_FLG_BASE != 0;
            while let Some(aux) = auxs.next()? {
                if !base {
                    info.version_defs.push(text(aux.name(endian, strings)?));
                }
            }
        }
    }

    if let Some(versions) = sections.versions(endian, data)? {
        let symbols = sections.symbols(endian, data, elf::SHT_DYNSYM)?;
        for (index, symbol) in symbols.enumerate() {
            if !symbol.is_undefined(endian) {
                continue;
            }
            let version_index = versions.version_index(endian, object::SymbolIndex(index.0));
            if let Ok(Some(version)) = versions.version(version_index) {
                let name = text(symbols.symbol_name(endian, symbol)?);
                info.symbols_by_version
                    .entry(text(version.name()))
                    .or_default()
                    .push(name);
            }
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_versions_compare_numerically() {
        assert!(parse_dotted("2.34") > parse_dotted("2.17"));
        assert!(parse_dotted("2.3.4") < parse_dotted("2.17"));
        assert!(parse_dotted("3.4.20") > parse_dotted("3.4.19"));
        assert_eq!(parse_dotted("PRIVATE"), None);
    }

    #[test]
    fn soname_filter_matches_elfdeps() {
        assert!(keep_soname("libc.so.6"));
        assert!(keep_soname("ld-linux-x86-64.so.2"));
        assert!(!keep_soname("foo.so"));
        assert!(!keep_soname("libfoo"));
    }

    #[test]
    fn this_test_binary_needs_debian_glibc() {
        let exe = std::env::current_exe().unwrap();
        let info = ElfInfo::read(&exe).unwrap().expect("an ELF");
        assert!(info.is_x86_64() || !cfg!(target_arch = "x86_64"));
        let newer = info.newer_than_el7();
        assert!(
            newer.iter().any(|n| n.version.starts_with("GLIBC_2.")),
            "a binary built on Debian 12 needs a glibc above 2.17: {newer:?}"
        );
        assert!(newer.iter().all(|n| !n.symbols.is_empty()));
    }
}
