//! The INI dialect of `.repo` files, `dnf.conf`, `yum.conf`, `automatic.conf`, `yum-cron.conf` and zypper's repos.
//!
//! Hand-written rather than taken from an INI crate because what matters is libdnf's own reading of it: `#` and `;`
//! comments only at the start of a line, `key=value` or `key: value`, indented lines continuing the previous value
//! (a `baseurl` list), later keys of a section overriding earlier ones, and a repeated section merging into the first.

/// One `[section]` with its keys in file order; `line` is where the section header is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    pub name: String,
    pub line: usize,
    pub entries: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub key: String,
    pub value: String,
    pub line: usize,
}

impl Section {
    /// The last value given for `key` (keys are case-sensitive in libdnf), with its line.
    pub fn get(&self, key: &str) -> Option<&Entry> {
        self.entries.iter().rev().find(|e| e.key == key)
    }

    pub fn value(&self, key: &str) -> Option<&str> {
        self.get(key).map(|e| e.value.as_str())
    }
}

/// Parses `text`; lines before the first section header and lines that are neither are ignored, as libdnf does
/// after logging them.
pub fn parse(text: &str) -> Vec<Section> {
    let mut sections: Vec<Section> = Vec::new();
    let mut current: Option<usize> = None;
    for (index, raw) in text.lines().enumerate() {
        let number = index + 1;
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            // A continuation line appends to the last key's value.
            if let Some(entry) = current.and_then(|i| sections[i].entries.last_mut()) {
                if !entry.value.is_empty() {
                    entry.value.push(' ');
                }
                entry.value.push_str(trimmed);
            }
            continue;
        }
        if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            let name = name.trim().to_string();
            current = Some(match sections.iter().position(|s| s.name == name) {
                Some(existing) => existing,
                None => {
                    sections.push(Section { name, line: number, entries: Vec::new() });
                    sections.len() - 1
                }
            });
            continue;
        }
        let Some(i) = current else { continue };
        let split = trimmed.find(['=', ':']);
        if let Some(at) = split {
            let key = trimmed[..at].trim().to_string();
            let value = trimmed[at + 1..].trim().to_string();
            if !key.is_empty() {
                sections[i].entries.push(Entry { key, value, line: number });
            }
        }
    }
    sections
}

/// libdnf's boolean: `1`, `yes`, `true`, `on` (any case) are true; `0`, `no`, `false`, `off` false; others unknown.
pub fn boolean(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "yes" | "true" | "on" => Some(true),
        "0" | "no" | "false" | "off" => Some(false),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_continuations_and_overrides() {
        let text = "# comment\n[main]\ngpgcheck=1\n\n[baseos]\nname=BaseOS\nbaseurl=http://a/\n  http://b/\n\
                    enabled = 0\nenabled: 1\n;x\n[baseos]\ncost=10\n";
        let sections = parse(text);
        assert_eq!(sections.len(), 2);
        let baseos = &sections[1];
        assert_eq!(baseos.value("baseurl"), Some("http://a/ http://b/"));
        assert_eq!(baseos.get("enabled").map(|e| (e.value.as_str(), e.line)), Some(("1", 10)));
        assert_eq!(baseos.value("cost"), Some("10"));
        assert_eq!(boolean("Yes"), Some(true));
        assert_eq!(boolean("off"), Some(false));
        assert_eq!(boolean("maybe"), None);
    }
}
