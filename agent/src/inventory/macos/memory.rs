//! A Mac's memory modules from `system_profiler SPMemoryDataType` (text), which on a PC come from SMBIOS type 17:
//! one module per slot section (`DIMM0/J6700:`, `BANK 0/DIMM0:`), empty slots kept with no size, and the one
//! block of integrated memory Apple silicon reports. A pure reading of the text; the probe runs the command.

use muster_shared::v1::MemoryModule;

/// `1 GB`, `512 MB`, `16 GB` in bytes (system_profiler's units are binary); `None` for `Empty` or anything else.
fn size(text: &str) -> Option<u64> {
    let (number, unit) = text.trim().split_once(' ')?;
    let n: u64 = number.parse().ok()?;
    let factor: u64 = match unit {
        "KB" => 1 << 10,
        "MB" => 1 << 20,
        "GB" => 1 << 30,
        "TB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(factor)
}

/// What system_profiler prints for a field it has nothing for: `Empty` (an empty slot), `Unknown`, or zeros in hex
/// (`0x0000`, `0x00000000`).
fn value(text: &str) -> Option<String> {
    let t = text.trim();
    let zeros = t.strip_prefix("0x").is_some_and(|h| !h.is_empty() && h.bytes().all(|b| b == b'0'));
    (!(t.is_empty() || t == "Empty" || t == "Unknown" || zeros)).then(|| t.to_owned())
}

/// A part number as the module's SPD holds it: system_profiler prints Intel Macs' as hex-encoded ASCII
/// (`0x3848…3145` is `8HTF…E1`); decoded when it is printable, as written otherwise.
fn part_number(text: &str) -> Option<String> {
    let raw = value(text)?;
    let Some(hex) = raw.strip_prefix("0x").filter(|h| h.len() % 2 == 0) else { return Some(raw) };
    let bytes: Option<Vec<u8>> =
        (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
    match bytes.and_then(|b| String::from_utf8(b).ok()) {
        Some(s) if s.chars().all(|c| c.is_ascii_graphic() || c == ' ' || c == '\0') => {
            let s = s.replace('\0', "").trim().to_owned();
            (!s.is_empty()).then_some(s)
        }
        _ => Some(raw),
    }
}

/// `1067 MHz` is the transfer rate system_profiler gives for DDR (DDR3-1066's): MT/s. `PC2-4200U-444` and the
/// like name a module class, not a speed.
fn speed(text: &str) -> Option<u32> {
    text.trim().strip_suffix(" MHz")?.trim().parse().ok()
}

/// A slot's label as `BANK 0/DIMM0` (bank, then slot) or `DIMM0/J6700` (slot and board connector).
fn slot_and_bank(label: &str) -> (Option<String>, Option<String>) {
    match label.split_once('/') {
        Some((bank, slot)) if bank.starts_with("BANK") => (Some(slot.to_owned()), Some(bank.to_owned())),
        _ => (Some(label.to_owned()), None),
    }
}

fn module(slot: Option<&str>, fields: &[(String, String)]) -> MemoryModule {
    let get = |key: &str| fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    let (slot, bank) = slot.map_or((None, None), slot_and_bank);
    MemoryModule {
        slot,
        bank,
        // Apple silicon names the block's size `Memory`.
        size_bytes: get("Size").or_else(|| get("Memory")).and_then(size),
        memory_type: get("Type").and_then(value),
        speed_mts: get("Speed").and_then(speed),
        manufacturer: get("Manufacturer").and_then(value),
        serial: get("Serial Number").and_then(value),
        part_number: get("Part Number").and_then(part_number),
        ..MemoryModule::default()
    }
}

/// The modules of the `Memory:` section of system_profiler's text (the whole report, or `SPMemoryDataType` alone):
/// each slot section that has a `Size` is a module; without slot sections (Apple silicon), the section's own
/// `Memory` and `Type` are one module with no slot.
pub fn memory_modules(text: &str) -> Vec<MemoryModule> {
    let mut lines = text.lines().skip_while(|l| l.trim_end() != "Memory:");
    if lines.next().is_none() {
        return Vec::new();
    }
    let mut modules = Vec::new();
    let mut label: Option<String> = None;
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut top: Vec<(String, String)> = Vec::new();
    let flush = |label: &Option<String>, fields: &mut Vec<(String, String)>, modules: &mut Vec<MemoryModule>| {
        if fields.iter().any(|(k, _)| k == "Size") {
            modules.push(module(label.as_deref(), fields));
        }
        fields.clear();
    };
    // The section's lines up to the next top-level section, blank ones dropped.
    let section: Vec<&str> = lines
        .take_while(|l| l.chars().next().is_none_or(char::is_whitespace))
        .filter(|l| !l.trim().is_empty())
        .collect();
    let indent = |l: &str| l.len() - l.trim_start().len();
    for (i, line) in section.iter().enumerate() {
        let trimmed = line.trim();
        match trimmed.split_once(": ") {
            Some((key, v)) => {
                let pair = (key.to_owned(), v.trim().to_owned());
                if label.is_some() { fields.push(pair) } else { top.push(pair) }
            }
            None => {
                let Some(header) = trimmed.strip_suffix(':') else { continue };
                // A header has its fields indented below it; `Part Number:` with nothing after it is an empty field.
                if section.get(i + 1).is_some_and(|next| indent(next) > indent(line)) {
                    flush(&label, &mut fields, &mut modules);
                    label = Some(header.to_owned());
                }
            }
        }
    }
    flush(&label, &mut fields, &mut modules);
    if modules.is_empty() && top.iter().any(|(k, _)| k == "Memory") {
        modules.push(module(None, &top));
    }
    modules
}

#[cfg(test)]
mod tests;
