//! The Go version a program was built with, from the build information the
//! Go linker embeds in every binary (the `\xff Go buildinf:` blob in the ELF
//! `.go.buildinfo` section), as `go version BINARY` reads it. It names the
//! toolchain, and so which trace format to expect.
//!
//! The parsers are pure and total over bytes; [`go_version`] does the file
//! reads, each bounded. Only ELF is read (gcviz runs on Linux).

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, PermissionsExt};
use std::path::{Path, PathBuf};

const MAGIC: &[u8; 14] = b"\xff Go buildinf:";
/// The blob sits at a 16-byte boundary of its section.
const ALIGN: usize = 16;
const HEADER: usize = 32;
const FLAG_BIG_ENDIAN: u8 = 0x1;
/// Go 1.18+: the version and module strings follow the header inline.
const FLAG_INLINE: u8 = 0x2;
/// Bytes of `.go.buildinfo` read at most; the version sits near its start.
const MAX_SECTION: u64 = 64 * 1024;
const MAX_SECTION_TABLE: u64 = 1 << 20;
const MAX_VERSION: usize = 64;

/// The ELF header fields needed to find a section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elf {
    pub wide: bool,
    pub big_endian: bool,
    pub shoff: u64,
    pub shentsize: u64,
    pub shnum: u64,
    pub shstrndx: u64,
}

/// One section header: its name's offset in the name table, where it is
/// loaded and where it lies in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Section {
    pub name: u64,
    pub addr: u64,
    pub offset: u64,
    pub size: u64,
}

fn uint(b: &[u8], at: usize, len: usize, big_endian: bool) -> Option<u64> {
    let bytes = b.get(at..at.checked_add(len)?)?;
    let fold = |acc: u64, &x: &u8| (acc << 8) | u64::from(x);
    Some(if big_endian {
        bytes.iter().fold(0, fold)
    } else {
        bytes.iter().rev().fold(0, fold)
    })
}

/// `\x7fELF`, class, data, then the section table's place (32- or 64-bit).
pub fn elf_header(b: &[u8]) -> Option<Elf> {
    if b.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match b.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let big_endian = match b.get(5)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let u = |at, len| uint(b, at, len, big_endian);
    Some(if wide {
        Elf {
            wide,
            big_endian,
            shoff: u(0x28, 8)?,
            shentsize: u(0x3A, 2)?,
            shnum: u(0x3C, 2)?,
            shstrndx: u(0x3E, 2)?,
        }
    } else {
        Elf {
            wide,
            big_endian,
            shoff: u(0x20, 4)?,
            shentsize: u(0x2E, 2)?,
            shnum: u(0x30, 2)?,
            shstrndx: u(0x32, 2)?,
        }
    })
}

/// The section headers in `table` (the bytes at `shoff`).
pub fn sections(elf: &Elf, table: &[u8]) -> Vec<Section> {
    let size = elf.shentsize as usize;
    if size == 0 {
        return Vec::new();
    }
    table
        .chunks_exact(size)
        .take(elf.shnum as usize)
        .filter_map(|h| {
            let u = |at, len| uint(h, at, len, elf.big_endian);
            Some(if elf.wide {
                Section {
                    name: u(0, 4)?,
                    addr: u(16, 8)?,
                    offset: u(24, 8)?,
                    size: u(32, 8)?,
                }
            } else {
                Section {
                    name: u(0, 4)?,
                    addr: u(12, 4)?,
                    offset: u(16, 4)?,
                    size: u(20, 4)?,
                }
            })
        })
        .collect()
}

/// The NUL-terminated name at `at` in the section name table.
pub fn name_at(strtab: &[u8], at: u64) -> &[u8] {
    let rest = strtab.get(at as usize..).unwrap_or_default();
    let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
    &rest[..end]
}

/// An unsigned LEB128 length, then that many bytes (the inline form).
fn varint_string(b: &[u8]) -> Option<&[u8]> {
    let mut len: u64 = 0;
    for (i, &byte) in b.iter().enumerate().take(10) {
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let start = i + 1;
            return b.get(start..start.checked_add(usize::try_from(len).ok()?)?);
        }
    }
    None
}

/// The Go version in a build information blob found in `section`.
/// `read(addr, len)` reads the program's memory image; only binaries from
/// before Go 1.18 need it (their blob holds pointers to the strings).
pub fn version(section: &[u8], read: impl Fn(u64, usize) -> Option<Vec<u8>>) -> Option<String> {
    let at = (0..section.len())
        .step_by(ALIGN)
        .find(|&i| section[i..].starts_with(MAGIC))?;
    let blob = &section[at..];
    let ptr_size = usize::from(*blob.get(14)?);
    let flags = *blob.get(15)?;
    let bytes = if flags & FLAG_INLINE != 0 {
        varint_string(blob.get(HEADER..)?)?.to_vec()
    } else {
        if ptr_size != 4 && ptr_size != 8 {
            return None;
        }
        let big = flags & FLAG_BIG_ENDIAN != 0;
        // A pointer to a Go string header: data pointer, then length.
        let header_at = uint(blob, 16, ptr_size, big)?;
        let header = read(header_at, 2 * ptr_size)?;
        let data = uint(&header, 0, ptr_size, big)?;
        let len = usize::try_from(uint(&header, ptr_size, ptr_size, big)?).ok()?;
        if len > MAX_VERSION {
            return None;
        }
        read(data, len)?
    };
    let text = String::from_utf8(bytes).ok()?;
    let plausible = !text.is_empty()
        && text.len() <= MAX_VERSION
        && text.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    plausible.then_some(text)
}

fn read_at(f: &File, offset: u64, len: u64) -> Option<Vec<u8>> {
    let mut buf = vec![0; usize::try_from(len).ok()?];
    f.read_exact_at(&mut buf, offset).ok()?;
    Some(buf)
}

/// The Go version of the ELF binary at `path`, or `None` (not ELF, not Go,
/// unreadable).
pub fn go_version(path: &Path) -> Option<String> {
    let f = File::open(path).ok()?;
    let elf = elf_header(&read_at(&f, 0, 64)?)?;
    let table_len = elf.shnum.checked_mul(elf.shentsize)?;
    if table_len > MAX_SECTION_TABLE {
        return None;
    }
    let sections = sections(&elf, &read_at(&f, elf.shoff, table_len)?);
    let names = sections.get(usize::try_from(elf.shstrndx).ok()?)?;
    let names = read_at(&f, names.offset, names.size.min(MAX_SECTION))?;
    let info = sections
        .iter()
        .find(|s| name_at(&names, s.name) == b".go.buildinfo")?;
    let section = read_at(&f, info.offset, info.size.min(MAX_SECTION))?;
    version(&section, |addr, len| {
        let s = sections
            .iter()
            .find(|s| s.addr != 0 && addr >= s.addr && addr - s.addr < s.size)?;
        let len = u64::try_from(len).ok()?;
        if addr - s.addr + len > s.size {
            return None;
        }
        read_at(&f, s.offset + (addr - s.addr), len)
    })
}

/// Where the program a command names lives: the name itself when it holds
/// a `/`, else the first executable file of that name on `PATH`.
pub fn resolve(program: &OsStr) -> Option<PathBuf> {
    if program.as_bytes().contains(&b'/') {
        return Some(PathBuf::from(program));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inline_blob(version: &str) -> Vec<u8> {
        let mut b = vec![0u8; 16];
        b.extend_from_slice(MAGIC);
        b.push(8);
        b.push(FLAG_INLINE);
        b.resize(16 + HEADER, 0);
        b.push(version.len() as u8);
        b.extend_from_slice(version.as_bytes());
        b.push(3);
        b.extend_from_slice(b"mod");
        b
    }

    #[test]
    fn go_1_18_and_later_inline_the_version() {
        let no_memory = |_, _| None;
        assert_eq!(
            version(&inline_blob("go1.27.3"), no_memory).as_deref(),
            Some("go1.27.3")
        );
        // Only at a 16-byte boundary.
        let mut shifted = vec![0u8; 3];
        shifted.extend_from_slice(&inline_blob("go1.21.0")[16..]);
        assert_eq!(version(&shifted, no_memory), None);
    }

    #[test]
    fn older_binaries_point_to_the_version_string() {
        // Big-endian, 4-byte pointers: header at 0x1000 -> data at 0x2000, len 8.
        let mut blob = MAGIC.to_vec();
        blob.push(4);
        blob.push(FLAG_BIG_ENDIAN);
        blob.extend_from_slice(&0x1000u32.to_be_bytes());
        blob.extend_from_slice(&0x1100u32.to_be_bytes());
        blob.resize(HEADER, 0);
        let memory = |addr: u64, len: usize| -> Option<Vec<u8>> {
            let image: &[u8] = match addr {
                0x1000 => &[0, 0, 0x20, 0, 0, 0, 0, 8],
                0x2000 => b"go1.16.5",
                _ => return None,
            };
            image.get(..len).map(<[u8]>::to_vec)
        };
        assert_eq!(version(&blob, memory).as_deref(), Some("go1.16.5"));
    }

    #[test]
    fn truncated_or_foreign_bytes_are_no_version() {
        let no_memory = |_, _| None;
        let blob = inline_blob("go1.27.3");
        for cut in 0..blob.len() - 4 {
            assert_eq!(version(&blob[..cut], no_memory), None, "cut at {cut}");
        }
        assert_eq!(version(&inline_blob("go1\n2"), no_memory), None);
        assert_eq!(version(b"", no_memory), None);
        assert_eq!(elf_header(b"\x7fELF"), None);
        assert_eq!(elf_header(b"MZ\x90\x00"), None);
    }

    #[test]
    fn a_64_bit_elf_header_and_section_table() {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 2;
        h[5] = 1;
        h[0x28..0x30].copy_from_slice(&4096u64.to_le_bytes());
        h[0x3A..0x3C].copy_from_slice(&64u16.to_le_bytes());
        h[0x3C..0x3E].copy_from_slice(&2u16.to_le_bytes());
        h[0x3E..0x40].copy_from_slice(&1u16.to_le_bytes());
        let elf = elf_header(&h).unwrap();
        assert_eq!(
            (elf.shoff, elf.shentsize, elf.shnum, elf.shstrndx),
            (4096, 64, 2, 1)
        );
        let mut table = vec![0u8; 128];
        table[64..68].copy_from_slice(&7u32.to_le_bytes());
        table[64 + 16..64 + 24].copy_from_slice(&0x40_0000u64.to_le_bytes());
        table[64 + 24..64 + 32].copy_from_slice(&0x1000u64.to_le_bytes());
        table[64 + 32..64 + 40].copy_from_slice(&0x20u64.to_le_bytes());
        let s = sections(&elf, &table);
        assert_eq!(
            s[1],
            Section {
                name: 7,
                addr: 0x40_0000,
                offset: 0x1000,
                size: 0x20
            }
        );
        assert_eq!(name_at(b"\0.text\0.go.buildinfo\0", 7), b".go.buildinfo");
        assert_eq!(name_at(b"abc", 9), b"");
    }

    #[test]
    fn a_binary_that_is_not_go_has_no_version() {
        // The test binary itself: ELF, but Rust.
        let me = std::env::current_exe().unwrap();
        assert_eq!(go_version(&me), None);
        assert_eq!(go_version(Path::new("/nonexistent/gcviz")), None);
    }

    #[test]
    fn a_bare_name_is_looked_up_on_path() {
        let sh = resolve(OsStr::new("sh")).expect("sh on PATH");
        assert!(sh.is_absolute(), "{}", sh.display());
        assert_eq!(resolve(OsStr::new("./app")), Some(PathBuf::from("./app")));
        assert_eq!(resolve(OsStr::new("no-such-program-gcviz")), None);
    }
}
