//! apt's configuration language (`/etc/apt/apt.conf.d/*`, `/etc/apt/apt.conf`), enough to read settings as apt does.
//!
//! Scopes nest with braces (`APT { Periodic { Enable "1"; }; };` equals `APT::Periodic::Enable "1";`), comments are
//! `//`, `/* */` and `#` outside quotes, keys are case-insensitive, and a later setting replaces an earlier one.

use std::collections::HashMap;

/// Settings read so far, each with the file and line that set it last.
#[derive(Debug, Clone, Default)]
pub struct AptConf {
    values: HashMap<String, Setting>,
    lists: HashMap<String, Vec<Setting>>,
}

/// One value and where it was set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    pub value: String,
    /// `file:line`, for evidence in the report.
    pub origin: String,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum ConfError {
    #[error("{origin}: unterminated quoted string")]
    UnterminatedQuote { origin: String },
    #[error("{origin}: unterminated /* comment")]
    UnterminatedComment { origin: String },
    #[error("{origin}: `}}` without an open scope")]
    UnbalancedClose { origin: String },
    #[error("{origin}: scope opened here is never closed")]
    UnclosedScope { origin: String },
    #[error("{origin}: a statement needs a name and one value")]
    Malformed { origin: String },
}

impl AptConf {
    pub fn new() -> AptConf {
        AptConf::default()
    }

    /// The last value set for `key` (e.g. `APT::Periodic::Unattended-Upgrade`).
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.values.get(&key.to_ascii_lowercase())
    }

    /// The items of a list setting such as `APT::Architectures { "amd64"; "i386"; };`.
    pub fn list(&self, key: &str) -> &[Setting] {
        self.lists.get(&key.to_ascii_lowercase()).map_or(&[], Vec::as_slice)
    }

    /// Reads one file's text into the settings. On a syntax error the statements before it are kept, as apt
    /// stops at the error too.
    pub fn read(&mut self, text: &str, file: &str) -> Result<(), ConfError> {
        let tokens = tokenize(text, file)?;
        let mut scopes: Vec<(String, String)> = Vec::new();
        let mut statement: Vec<Token> = Vec::new();
        for token in tokens {
            match token.kind {
                Kind::Word | Kind::Quoted => statement.push(token),
                Kind::End => {
                    self.statement(&scopes, std::mem::take(&mut statement), file)?;
                }
                Kind::Open => {
                    let origin = format!("{file}:{}", token.line);
                    let name = match statement.as_slice() {
                        [] => String::new(),
                        [tag] => tag.text.clone(),
                        [tag, value] => {
                            self.set(&scopes, &tag.text, value, file);
                            tag.text.clone()
                        }
                        _ => return Err(ConfError::Malformed { origin }),
                    };
                    statement.clear();
                    scopes.push((name, origin));
                }
                Kind::Close => {
                    let origin = format!("{file}:{}", token.line);
                    self.statement(&scopes, std::mem::take(&mut statement), file)?;
                    scopes.pop().ok_or(ConfError::UnbalancedClose { origin })?;
                }
            }
        }
        self.statement(&scopes, statement, file)?;
        match scopes.pop() {
            Some((_, origin)) => Err(ConfError::UnclosedScope { origin }),
            None => Ok(()),
        }
    }

    fn statement(&mut self, scopes: &[(String, String)], tokens: Vec<Token>, file: &str) -> Result<(), ConfError> {
        match tokens.as_slice() {
            [] => Ok(()),
            [directive, tag] if directive.kind == Kind::Word && directive.text.eq_ignore_ascii_case("#clear") => {
                self.clear(&full_key(scopes, &tag.text));
                Ok(())
            }
            [directive, ..] if directive.kind == Kind::Word && directive.text.starts_with('#') => Ok(()),
            [item] => {
                let key = full_key(scopes, "");
                let setting = Setting { value: item.text.clone(), origin: format!("{file}:{}", item.line) };
                self.lists.entry(key).or_default().push(setting);
                Ok(())
            }
            [tag, value] => {
                self.set(scopes, &tag.text, value, file);
                Ok(())
            }
            [first, ..] => Err(ConfError::Malformed { origin: format!("{file}:{}", first.line) }),
        }
    }

    fn set(&mut self, scopes: &[(String, String)], tag: &str, value: &Token, file: &str) {
        let setting = Setting { value: value.text.clone(), origin: format!("{file}:{}", value.line) };
        self.values.insert(full_key(scopes, tag), setting);
    }

    fn clear(&mut self, key: &str) {
        let prefix = format!("{key}::");
        self.values.retain(|k, _| k != key && !k.starts_with(&prefix));
        self.lists.retain(|k, _| k != key && !k.starts_with(&prefix));
    }
}

/// The lower-cased `A::B::C` path of a tag inside the open scopes; an empty tag names the scope itself.
fn full_key(scopes: &[(String, String)], tag: &str) -> String {
    let mut parts: Vec<&str> = scopes.iter().map(|(name, _)| name.as_str()).filter(|n| !n.is_empty()).collect();
    if !tag.is_empty() {
        parts.push(tag);
    }
    parts.join("::").to_ascii_lowercase()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    Quoted,
    End,
    Open,
    Close,
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    text: String,
    line: usize,
}

fn tokenize(text: &str, file: &str) -> Result<Vec<Token>, ConfError> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let origin = |line: usize| format!("{file}:{line}");
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\n' => {
                line += 1;
                i += 1;
            }
            _ if c.is_ascii_whitespace() => i += 1,
            b'/' if bytes.get(i + 1) == Some(&b'/') => i = skip_line(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let start_line = line;
                let end =
                    text[i + 2..].find("*/").ok_or(ConfError::UnterminatedComment { origin: origin(start_line) })?;
                line += text[i..i + 2 + end].matches('\n').count();
                i += end + 4;
            }
            b'#' if !is_directive(&text[i..]) => i = skip_line(bytes, i),
            b'"' => {
                let end = memchr::memchr(b'"', &bytes[i + 1..])
                    .ok_or(ConfError::UnterminatedQuote { origin: origin(line) })?;
                let value = &text[i + 1..i + 1 + end];
                tokens.push(Token { kind: Kind::Quoted, text: value.to_string(), line });
                line += value.matches('\n').count();
                i += end + 2;
            }
            b';' | b'{' | b'}' => {
                let kind = match c {
                    b';' => Kind::End,
                    b'{' => Kind::Open,
                    _ => Kind::Close,
                };
                tokens.push(Token { kind, text: String::new(), line });
                i += 1;
            }
            _ => {
                let start = i;
                while i < bytes.len()
                    && !bytes[i].is_ascii_whitespace()
                    && !matches!(bytes[i], b';' | b'{' | b'}' | b'"')
                {
                    if bytes[i] == b'/' && matches!(bytes.get(i + 1), Some(b'/' | b'*')) {
                        break;
                    }
                    i += 1;
                }
                tokens.push(Token { kind: Kind::Word, text: text[start..i].to_string(), line });
            }
        }
    }
    Ok(tokens)
}

fn is_directive(rest: &str) -> bool {
    rest.starts_with("#clear") || rest.starts_with("#include")
}

fn skip_line(bytes: &[u8], from: usize) -> usize {
    memchr::memchr(b'\n', &bytes[from..]).map_or(bytes.len(), |n| from + n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(files: &[(&str, &str)]) -> AptConf {
        let mut conf = AptConf::new();
        for (name, text) in files {
            conf.read(text, name).unwrap();
        }
        conf
    }

    #[test]
    fn nested_scopes_and_comments() {
        let c = conf(&[(
            "20auto-upgrades",
            "// generated\nAPT {\n  Periodic { # inline\n    Update-Package-Lists \"1\";\n    /* old: \"0\" */ \
             Unattended-Upgrade \"1\"; // on\n  };\n};\n",
        )]);
        let s = c.get("apt::periodic::unattended-upgrade").unwrap();
        assert_eq!(s, &Setting { value: "1".into(), origin: "20auto-upgrades:5".into() });
        assert_eq!(c.get("APT::Periodic::Update-Package-Lists").unwrap().origin, "20auto-upgrades:4");
    }

    #[test]
    fn later_files_override_and_clear_removes() {
        let c = conf(&[
            ("10a", "APT::Periodic::Unattended-Upgrade \"1\";\nAPT::Default-Release \"stable\";\n"),
            ("99b", "APT::Periodic::Unattended-Upgrade \"0\";\n#clear APT::Default-Release;\n"),
        ]);
        assert_eq!(c.get("APT::Periodic::Unattended-Upgrade").unwrap().value, "0");
        assert_eq!(c.get("APT::Default-Release"), None);
    }

    #[test]
    fn lists_and_quoted_hashes() {
        let c = conf(&[("x", "APT::Architectures { \"amd64\"; \"i386\"; };\nA::B \"x#y//z\";\n")]);
        let archs: Vec<&str> = c.list("APT::Architectures").iter().map(|s| s.value.as_str()).collect();
        assert_eq!(archs, ["amd64", "i386"]);
        assert_eq!(c.get("a::b").unwrap().value, "x#y//z");
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(matches!(AptConf::new().read("A { B \"1\";\n", "f"), Err(ConfError::UnclosedScope { .. })));
        assert!(matches!(AptConf::new().read("A \"1;\n", "f"), Err(ConfError::UnterminatedQuote { .. })));
        assert!(matches!(AptConf::new().read("};\n", "f"), Err(ConfError::UnbalancedClose { .. })));
    }
}
