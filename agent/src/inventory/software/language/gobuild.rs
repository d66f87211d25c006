//! Go's build information (`.go.buildinfo`, what `go version -m` prints): the Go version the binary was built with,
//! its main module and every dependency module, replacements applied.
//!
//! Go 1.18 and later write the strings into the section; earlier releases wrote pointers to them, which the ELF
//! reader follows ([`inline_from_pointers`]).
//!
//! Packages are reported under Go's own names: the module path and its version (`v1.2.3`), and the standard library
//! as `stdlib` with the Go version in the same form (`go1.19.8` becomes `v1.19.8`). A module replaced by another
//! (`=>` line) is reported as the replacement, since that is the code built in; one replaced by a local directory
//! keeps its path and gets the version Go gives directory builds, `(devel)`.

use super::Parsed;

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
/// `flags` bit: the version and module strings follow the header (Go 1.18 and later) rather than being pointed to.
const FLAG_INLINE: u8 = 0x2;
/// The module information is framed by 16 bytes on each side.
const FRAME: usize = 16;

/// The packages a `.go.buildinfo` section names.
pub fn parse_go_buildinfo(section: &[u8]) -> Result<Vec<Parsed>, String> {
    if !section.starts_with(MAGIC) || section.len() < HEADER_LEN {
        return Err("no Go build information header".to_string());
    }
    if section[15] & FLAG_INLINE == 0 {
        return Err(
            "Go build information in the pointer form of Go before 1.18 (see `inline_from_pointers`)".to_string()
        );
    }
    let rest = &section[HEADER_LEN..];
    let (go_version, rest) = varint_string(rest).ok_or("Go version string cut short")?;
    let (modinfo, _) = varint_string(rest).ok_or("module information cut short")?;
    let go_version = std::str::from_utf8(go_version).map_err(|_| "Go version is not UTF-8")?;
    let mut packages = Vec::new();
    // A toolchain may append its experiments (`go1.19.8 X:boringcrypto`).
    if let Some(release) = go_version.split_whitespace().next().and_then(|v| v.strip_prefix("go")) {
        packages.push(Parsed { name: "stdlib".to_string(), version: format!("v{release}") });
    }
    // Built outside module mode (GOPATH), a binary has no module information: the Go version is all there is.
    if modinfo.len() > 2 * FRAME && modinfo[modinfo.len() - FRAME - 1] == b'\n' {
        let text = String::from_utf8_lossy(&modinfo[FRAME..modinfo.len() - FRAME]);
        packages.extend(modules(&text)?);
    }
    Ok(packages)
}

/// Whether a `.go.buildinfo` section is in the form of Go before 1.18: pointers to the strings, not the strings.
pub fn is_pointer_form(section: &[u8]) -> bool {
    section.starts_with(MAGIC) && section.len() >= HEADER_LEN && section[15] & FLAG_INLINE == 0
}

/// Go before 1.18 stored, after the magic, the pointer size, a flags byte (bit 0: big-endian) and two pointers: to
/// the Go string headers (`{data pointer, length}`) of the Go version and of the module information, which lie
/// elsewhere in the binary. `read(address, length)` reads the binary's memory image; the two strings (each at most
/// `max` bytes) come back re-encoded as Go 1.18 and later store them, so [`parse_go_buildinfo`] reads both forms.
pub fn inline_from_pointers(
    section: &[u8],
    max: u64,
    read: impl Fn(u64, usize) -> Option<Vec<u8>>,
) -> Result<Vec<u8>, String> {
    let ptr_size = usize::from(section[14]);
    if ptr_size != 4 && ptr_size != 8 {
        return Err(format!("Go build information with pointers of {ptr_size} bytes"));
    }
    let big_endian = section[15] & 1 == 1;
    let word = |bytes: &[u8]| -> u64 {
        let mut buf = [0u8; 8];
        if big_endian {
            buf[8 - ptr_size..].copy_from_slice(&bytes[..ptr_size]);
            u64::from_be_bytes(buf)
        } else {
            buf[..ptr_size].copy_from_slice(&bytes[..ptr_size]);
            u64::from_le_bytes(buf)
        }
    };
    let string = |header_at: u64, what: &str| -> Result<Vec<u8>, String> {
        let header = read(header_at, 2 * ptr_size).ok_or(format!("the {what} string header is outside the file"))?;
        let (data, len) = (word(&header), word(&header[ptr_size..]));
        if len > max {
            return Err(format!("the {what} string of {len} bytes is over the limit of {max}"));
        }
        if len == 0 {
            return Ok(Vec::new());
        }
        read(data, len as usize).ok_or(format!("the {what} string is outside the file"))
    };
    let version = string(word(&section[16..]), "Go version")?;
    let modinfo = string(word(&section[16 + ptr_size..]), "module information")?;
    let mut inline = section[..HEADER_LEN].to_vec();
    inline[15] |= FLAG_INLINE;
    for text in [version, modinfo] {
        let mut len = text.len() as u64;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            inline.push(if len == 0 { byte } else { byte | 0x80 });
            if len == 0 {
                break;
            }
        }
        inline.extend(text);
    }
    Ok(inline)
}

/// The `mod` and `dep` lines of the module information, each with the `=>` line after it applied.
fn modules(text: &str) -> Result<Vec<Parsed>, String> {
    let mut out: Vec<Parsed> = Vec::new();
    for line in text.lines() {
        let mut fields = line.split('\t');
        let (tag, path, version) = (fields.next(), fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        match tag {
            Some("mod" | "dep") => {
                if path.is_empty() {
                    return Err(format!("module line without a path: {line:?}"));
                }
                out.push(Parsed { name: path.to_string(), version: version.to_string() });
            }
            Some("=>") => {
                let Some(replaced) = out.last_mut() else {
                    return Err("replacement before any module".to_string());
                };
                if is_directory(path) {
                    replaced.version = if version.is_empty() { "(devel)" } else { version }.to_string();
                } else {
                    *replaced = Parsed { name: path.to_string(), version: version.to_string() };
                }
            }
            _ => {}
        }
    }
    Ok(out)
}

/// Go's rule for a replacement that is a directory rather than a module: a rooted or `./`/`../` path.
fn is_directory(path: &str) -> bool {
    path.starts_with('/') || path.starts_with("./") || path.starts_with("../") || path == "." || path == ".."
}

/// A string preceded by its length as an unsigned LEB128 varint, and what follows it.
fn varint_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut len: u64 = 0;
    for (i, &byte) in data.iter().enumerate().take(10) {
        len |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            let start = i + 1;
            let end = start.checked_add(usize::try_from(len).ok()?)?;
            return Some((data.get(start..end)?, &data[end..]));
        }
    }
    None
}
