//! apt's configured repositories (`sources.list` one-line entries and deb822 `.sources` stanzas), and the names
//! apt gives their downloaded files under `/var/lib/apt/lists`.

/// One `deb` repository suite with the components and architectures apt downloads for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Always ends with `/`, as apt normalises it.
    pub uri: String,
    /// A distribution (`bookworm`) or, for a flat repository, a path ending in `/` (`./`).
    pub suite: String,
    pub components: Vec<String>,
    /// Architectures to fetch; `None` means the system's configured ones.
    pub architectures: Option<Vec<String>>,
    /// Architectures added (`arch+=`, `Architectures-Add`) or removed on top of the system's ones.
    pub add_architectures: Vec<String>,
    pub remove_architectures: Vec<String>,
    /// `file:line` where the entry is written.
    pub origin: String,
}

/// One `Packages` index of a source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageList {
    /// The name under `/var/lib/apt/lists`, without a compression suffix.
    pub file_name: String,
    /// Empty for flat repositories.
    pub component: String,
    pub arch: String,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("{origin}: malformed entry: {reason}")]
    Malformed { origin: String, reason: &'static str },
}

impl Source {
    fn is_flat(&self) -> bool {
        self.suite.ends_with('/')
    }

    /// The list-directory names of the signed and unsigned Release files, `InRelease` first.
    pub fn release_file_names(&self) -> [String; 2] {
        let base = self.dist_uri();
        [uri_to_file_name(&format!("{base}InRelease")), uri_to_file_name(&format!("{base}Release"))]
    }

    /// Every `Packages` index apt downloads for this entry, named as in the lists directory.
    pub fn package_lists(&self, system_archs: &[String]) -> Vec<PackageList> {
        let archs = self.effective_architectures(system_archs);
        let base = self.dist_uri();
        if self.is_flat() {
            return vec![PackageList {
                file_name: uri_to_file_name(&format!("{base}Packages")),
                component: String::new(),
                arch: archs.first().cloned().unwrap_or_default(),
            }];
        }
        let mut lists = Vec::new();
        for component in &self.components {
            for arch in &archs {
                lists.push(PackageList {
                    file_name: uri_to_file_name(&format!("{base}{component}/binary-{arch}/Packages")),
                    component: component.clone(),
                    arch: arch.clone(),
                });
            }
        }
        lists
    }

    /// The host apt's `Pin: origin` matches; empty for local (`file:`, `cdrom:`) repositories.
    pub fn site(&self) -> &str {
        let Some((_, rest)) = self.uri.split_once("://") else { return "" };
        let authority = rest.split('/').next().unwrap_or("");
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            _ => host,
        }
    }

    fn effective_architectures(&self, system_archs: &[String]) -> Vec<String> {
        let mut archs: Vec<String> = self.architectures.clone().unwrap_or_else(|| system_archs.to_vec());
        for add in &self.add_architectures {
            if !archs.contains(add) {
                archs.push(add.clone());
            }
        }
        archs.retain(|a| !self.remove_architectures.contains(a));
        archs
    }

    fn dist_uri(&self) -> String {
        if self.is_flat() {
            if self.suite == "/" { self.uri.clone() } else { format!("{}{}", self.uri, self.suite) }
        } else {
            format!("{}dists/{}/", self.uri, self.suite)
        }
    }
}

/// apt's `URItoFileName`: drop the scheme and credentials, percent-quote unsafe bytes, turn `/` into `_`.
pub fn uri_to_file_name(uri: &str) -> String {
    let without_scheme = match uri.split_once(':') {
        Some((scheme, rest)) if !scheme.is_empty() && !scheme.contains('/') => rest,
        _ => uri,
    };
    let (authority_and_path, had_authority) = match without_scheme.strip_prefix("//") {
        Some(rest) => (rest, true),
        None => (without_scheme, false),
    };
    let cleaned = if had_authority {
        let (authority, path) = match authority_and_path.find('/') {
            Some(i) => authority_and_path.split_at(i),
            None => (authority_and_path, ""),
        };
        let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
        format!("{host}{path}")
    } else {
        authority_and_path.to_string()
    };
    let mut out = String::with_capacity(cleaned.len());
    for byte in cleaned.bytes() {
        let bad = b"\\|{}[]<>\"^~_=!@#$%^&*".contains(&byte);
        if bad || byte <= 0x20 || byte >= 0x7f {
            out.push_str(&format!("%{byte:02x}"));
        } else if byte == b'/' {
            out.push('_');
        } else {
            out.push(byte as char);
        }
    }
    out
}

/// Parses a one-line-style file (`sources.list`, `sources.list.d/*.list`); only `deb` lines are kept.
pub fn parse_one_line(text: &str, file: &str) -> (Vec<Source>, Vec<SourceError>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    for (number, raw) in text.lines().enumerate() {
        let origin = format!("{file}:{}", number + 1);
        let line = raw.split_once('#').map_or(raw, |(before, _)| before).trim();
        if line.is_empty() {
            continue;
        }
        match parse_line(line, origin.clone()) {
            Ok(Some(mut found)) => sources.append(&mut found),
            Ok(None) => {}
            Err(reason) => errors.push(SourceError::Malformed { origin, reason }),
        }
    }
    (sources, errors)
}

fn parse_line(line: &str, origin: String) -> Result<Option<Vec<Source>>, &'static str> {
    let (kind, rest) = line.split_once(char::is_whitespace).ok_or("no repository after the type")?;
    if kind != "deb" {
        return if kind == "deb-src" { Ok(None) } else { Err("unknown type") };
    }
    let mut rest = rest.trim_start();
    let mut options = Options::default();
    if let Some(after) = rest.strip_prefix('[') {
        let (inside, after) = after.split_once(']').ok_or("unterminated [options]")?;
        for option in inside.split_whitespace() {
            options.apply_one_line(option);
        }
        rest = after;
    }
    let mut words = rest.split_whitespace();
    let uri = words.next().ok_or("no URI")?;
    let suite = words.next().ok_or("no suite")?;
    let components: Vec<String> = words.map(str::to_string).collect();
    if options.disabled {
        return Ok(None);
    }
    let source = options.into_source(uri, suite, components, origin)?;
    Ok(Some(vec![source]))
}

#[derive(Default)]
struct Options {
    architectures: Option<Vec<String>>,
    add: Vec<String>,
    remove: Vec<String>,
    disabled: bool,
}

impl Options {
    fn apply_one_line(&mut self, option: &str) {
        let list = |v: &str| v.split(',').filter(|a| !a.is_empty()).map(str::to_string).collect::<Vec<_>>();
        if let Some(v) = option.strip_prefix("arch+=") {
            self.add.extend(list(v));
        } else if let Some(v) = option.strip_prefix("arch-=") {
            self.remove.extend(list(v));
        } else if let Some(v) = option.strip_prefix("arch=") {
            self.architectures = Some(list(v));
        } else if let Some(v) = option.strip_prefix("enabled=") {
            self.disabled = v.eq_ignore_ascii_case("no");
        }
    }

    fn into_source(
        self,
        uri: &str,
        suite: &str,
        components: Vec<String>,
        origin: String,
    ) -> Result<Source, &'static str> {
        if suite.ends_with('/') && !components.is_empty() {
            return Err("a flat repository (suite ending in /) takes no components");
        }
        if !suite.ends_with('/') && components.is_empty() {
            return Err("no components");
        }
        let uri = if uri.ends_with('/') { uri.to_string() } else { format!("{uri}/") };
        Ok(Source {
            uri,
            suite: suite.to_string(),
            components,
            architectures: self.architectures,
            add_architectures: self.add,
            remove_architectures: self.remove,
            origin,
        })
    }
}

/// Parses a deb822 `.sources` file: stanzas of `Types`, `URIs`, `Suites`, `Components` and options.
pub fn parse_deb822(text: &str, file: &str) -> (Vec<Source>, Vec<SourceError>) {
    let mut sources = Vec::new();
    let mut errors = Vec::new();
    let mut fields: Vec<(String, String)> = Vec::new();
    let mut start_line = 1;
    let lines: Vec<&str> = text.lines().collect();
    for (index, line) in lines.iter().enumerate() {
        if line.starts_with('#') {
            continue;
        }
        if line.trim().is_empty() {
            if !fields.is_empty() {
                deb822_stanza(&fields, format!("{file}:{start_line}"), &mut sources, &mut errors);
                fields.clear();
            }
            start_line = index + 2;
            continue;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = fields.last_mut() {
                value.push('\n');
                value.push_str(line.trim());
            }
            continue;
        }
        if fields.is_empty() {
            start_line = index + 1;
        }
        match line.split_once(':') {
            Some((name, value)) => fields.push((name.trim().to_ascii_lowercase(), value.trim().to_string())),
            None => errors.push(SourceError::Malformed {
                origin: format!("{file}:{}", index + 1),
                reason: "a line is neither a field nor a continuation",
            }),
        }
    }
    if !fields.is_empty() {
        deb822_stanza(&fields, format!("{file}:{start_line}"), &mut sources, &mut errors);
    }
    (sources, errors)
}

fn deb822_stanza(fields: &[(String, String)], origin: String, out: &mut Vec<Source>, errors: &mut Vec<SourceError>) {
    let get = |name: &str| fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str());
    let words = |name: &str| get(name).map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>());
    if get("enabled").is_some_and(|v| v.eq_ignore_ascii_case("no")) {
        return;
    }
    let types = words("types").unwrap_or_default();
    if !types.iter().any(|t| t == "deb") {
        if !types.iter().any(|t| t == "deb-src") {
            errors.push(SourceError::Malformed { origin, reason: "no Types: deb" });
        }
        return;
    }
    let (Some(uris), Some(suites)) = (words("uris"), words("suites")) else {
        errors.push(SourceError::Malformed { origin, reason: "URIs and Suites are required" });
        return;
    };
    let components = words("components").unwrap_or_default();
    for uri in &uris {
        for suite in &suites {
            let options = Options {
                architectures: words("architectures"),
                add: words("architectures-add").unwrap_or_default(),
                remove: words("architectures-remove").unwrap_or_default(),
                disabled: false,
            };
            match options.into_source(uri, suite, components.clone(), origin.clone()) {
                Ok(source) => out.push(source),
                Err(reason) => errors.push(SourceError::Malformed { origin: origin.clone(), reason }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_match_apt() {
        assert_eq!(
            uri_to_file_name("http://deb.debian.org/debian/dists/bookworm/main/binary-amd64/Packages"),
            "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages"
        );
        assert_eq!(
            uri_to_file_name("https://user:secret@ppa.launchpadcontent.net/a_b/~x/ubuntu/dists/jammy/InRelease"),
            "ppa.launchpadcontent.net_a%5fb_%7ex_ubuntu_dists_jammy_InRelease"
        );
        assert_eq!(uri_to_file_name("file:/srv/repo/./Packages"), "_srv_repo_._Packages");
        assert_eq!(uri_to_file_name("http://host:8080/r/InRelease"), "host:8080_r_InRelease");
    }

    #[test]
    fn one_line_entries_with_options() {
        let text = "# c\ndeb [arch=amd64 signed-by=/k.gpg] http://deb.debian.org/debian bookworm main contrib\n\
                    deb-src http://x/ y z\ndeb http://repo/flat ./\n";
        let (sources, errors) = parse_one_line(text, "sources.list");
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(sources.len(), 2);
        let archs = ["amd64".to_string(), "i386".to_string()];
        let names: Vec<String> = sources[0].package_lists(&archs).into_iter().map(|l| l.file_name).collect();
        assert_eq!(
            names,
            [
                "deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages",
                "deb.debian.org_debian_dists_bookworm_contrib_binary-amd64_Packages"
            ]
        );
        assert_eq!(sources[1].release_file_names()[0], "repo_flat_._InRelease");
        assert_eq!(sources[1].package_lists(&archs)[0].file_name, "repo_flat_._Packages");
        assert_eq!((sources[0].site(), sources[1].site()), ("deb.debian.org", "repo"));
        assert_eq!(sources[0].origin, "sources.list:2");
    }

    #[test]
    fn deb822_stanzas_expand_uris_and_suites() {
        let text = "Types: deb deb-src\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\n\
                    Components: main\nSigned-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n x\n\n\
                    Types: deb\nURIs: http://off/\nSuites: s\nComponents: c\nEnabled: no\n";
        let (sources, errors) = parse_deb822(text, "debian.sources");
        assert!(errors.is_empty(), "{errors:?}");
        let suites: Vec<&str> = sources.iter().map(|s| s.suite.as_str()).collect();
        assert_eq!(suites, ["bookworm", "bookworm-updates"]);
        assert_eq!(sources[1].release_file_names()[0], "deb.debian.org_debian_dists_bookworm-updates_InRelease");
    }
}
