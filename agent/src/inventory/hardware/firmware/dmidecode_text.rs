//! Test-only reader of dmidecode's text output, so the decoder is checked against the reference tool's decoding.

/// One `Handle 0x…, DMI type N, L bytes` block with its one-line `Key: Value` attributes (lists are skipped).
#[derive(Debug)]
pub struct Block {
    pub kind: u8,
    pub fields: Vec<(String, String)>,
}

impl Block {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

pub fn parse(text: &str) -> Vec<Block> {
    let mut blocks: Vec<Block> = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("Handle ") {
            let kind = rest
                .split(", ")
                .find_map(|part| part.strip_prefix("DMI type "))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unreadable handle line {line:?}"));
            blocks.push(Block { kind, fields: Vec::new() });
            continue;
        }
        let Some(attribute) = line.strip_prefix('\t').filter(|a| !a.starts_with('\t')) else { continue };
        let Some((key, value)) = attribute.split_once(':') else { continue };
        let Some(block) = blocks.last_mut() else { continue };
        // `Characteristics:` and the like introduce a list on the following lines.
        if let Some(value) = value.strip_prefix(' ') {
            block.fields.push((key.to_string(), value.to_string()));
        }
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_blocks_and_attributes() {
        let text = "# dmidecode 3.4\nHandle 0x0001, DMI type 1, 27 bytes\nSystem Information\n\tManufacturer: \
                    LENOVO\n\tSerial Number:  \n\tFlags:\n\t\tFPU: yes\nHandle 0x0002, DMI type 17, 40 bytes\n";
        let blocks = parse(text);
        assert_eq!(blocks.len(), 2);
        assert_eq!(blocks[0].kind, 1);
        assert_eq!(blocks[0].get("Manufacturer"), Some("LENOVO"));
        assert_eq!(blocks[0].get("Serial Number"), Some(" "));
        assert_eq!(blocks[0].get("Flags"), None);
        assert_eq!(blocks[0].get("FPU"), None);
        assert_eq!(blocks[1].kind, 17);
    }
}
