//! A repository's `InRelease`/`Release` header: who publishes it, which suite it is, and how apt pins it by default.

/// The fields of a Release file that decide pin priority and whether a suite carries security fixes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Release {
    pub origin: Option<String>,
    pub label: Option<String>,
    /// apt calls this the archive (`a=` in pins), e.g. `stable`, `oldstable-security`, `jammy-updates`.
    pub suite: Option<String>,
    pub codename: Option<String>,
    pub version: Option<String>,
    pub not_automatic: bool,
    pub but_automatic_upgrades: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReleaseError {
    #[error("the signed message has no body")]
    NoBody,
    #[error("not valid UTF-8")]
    NotUtf8,
}

impl Release {
    /// True for the suites that carry security fixes: `*-security` (Debian 11+, Ubuntu, ESM) or a Debian-Security
    /// label (also Debian 10's `buster/updates`).
    pub fn is_security(&self) -> bool {
        let security_suite = |s: &Option<String>| s.as_deref().is_some_and(|s| s.ends_with("-security"));
        security_suite(&self.suite)
            || security_suite(&self.codename)
            || self.label.as_deref().is_some_and(|l| l.eq_ignore_ascii_case("Debian-Security"))
    }

    /// How a report names this release, e.g. `Debian-Security/bookworm-security` or `Ubuntu/jammy-updates`.
    pub fn display_name(&self) -> Option<String> {
        let who = self.label.as_deref().or(self.origin.as_deref());
        let which = self.codename.as_deref().or(self.suite.as_deref());
        match (who, which) {
            (Some(who), Some(which)) => Some(format!("{who}/{which}")),
            (Some(one), None) | (None, Some(one)) => Some(one.to_string()),
            (None, None) => None,
        }
    }
}

/// Parses the header stanza of a Release file; an `InRelease` file's OpenPGP armour is stripped first.
pub fn parse(bytes: &[u8]) -> Result<Release, ReleaseError> {
    let text = std::str::from_utf8(bytes).map_err(|_| ReleaseError::NotUtf8)?;
    let body = if text.starts_with("-----BEGIN PGP SIGNED MESSAGE-----") {
        // The armour header lines (`Hash: ...`) end at the first empty line.
        let (_, rest) = text.split_once("\n\n").ok_or(ReleaseError::NoBody)?;
        rest
    } else {
        text
    };
    let mut release = Release::default();
    for line in body.lines() {
        if line.is_empty() || line.starts_with("-----BEGIN PGP SIGNATURE") {
            break;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else { continue };
        let value = value.trim();
        let owned = || (!value.is_empty()).then(|| value.to_string());
        match name.to_ascii_lowercase().as_str() {
            "origin" => release.origin = owned(),
            "label" => release.label = owned(),
            "suite" => release.suite = owned(),
            "codename" => release.codename = owned(),
            "version" => release.version = owned(),
            "notautomatic" => release.not_automatic = value.eq_ignore_ascii_case("yes"),
            "butautomaticupgrades" => release.but_automatic_upgrades = value.eq_ignore_ascii_case("yes"),
            _ => {}
        }
    }
    Ok(release)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clear_signed_header_is_read() {
        let text = b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: Debian Backports\n\
            Label: Debian Backports\nSuite: stable-backports\nCodename: bookworm-backports\nNotAutomatic: yes\n\
            ButAutomaticUpgrades: yes\nSHA256:\n 00 1 main/x\n-----BEGIN PGP SIGNATURE-----\n\nxx\n";
        let r = parse(text).unwrap();
        assert_eq!(r.suite.as_deref(), Some("stable-backports"));
        assert!(r.not_automatic && r.but_automatic_upgrades);
        assert!(!r.is_security());
        assert_eq!(r.display_name().as_deref(), Some("Debian Backports/bookworm-backports"));
    }
}
