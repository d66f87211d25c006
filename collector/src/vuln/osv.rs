//! Serde shapes of OSV records as real exports write them, borrowing strings from the input where it can.
//!
//! Tolerance lives here: every field but `id` is optional, `null` is accepted where exporters emit it, unknown
//! fields are ignored, and the free-form `database_specific`/`ecosystem_specific` objects only yield the few keys we
//! use, whatever shape the rest takes. Normalising into the matching model happens in `advisory.rs`.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A string borrowed from the input when it has no escapes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Str<'a>(#[serde(borrow)] pub Cow<'a, str>);

impl Str<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Deserialize)]
pub struct RawRecord<'a> {
    #[serde(borrow)]
    pub id: Str<'a>,
    #[serde(default, borrow)]
    pub modified: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub published: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub withdrawn: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub aliases: Option<Vec<Str<'a>>>,
    #[serde(default, borrow)]
    pub related: Option<Vec<Str<'a>>>,
    #[serde(default, borrow)]
    pub upstream: Option<Vec<Str<'a>>>,
    #[serde(default, borrow)]
    pub summary: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub details: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub severity: Option<Vec<RawSeverity<'a>>>,
    #[serde(default, borrow)]
    pub affected: Option<Vec<RawAffected<'a>>>,
    #[serde(default, borrow)]
    pub database_specific: Option<RawSpecific<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct RawSeverity<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub score: Option<Str<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct RawAffected<'a> {
    #[serde(default, borrow)]
    pub package: Option<RawPackage<'a>>,
    #[serde(default, borrow)]
    pub ranges: Option<Vec<RawRange<'a>>>,
    #[serde(default, borrow)]
    pub versions: Option<Vec<Str<'a>>>,
    #[serde(default, borrow)]
    pub severity: Option<Vec<RawSeverity<'a>>>,
    #[serde(default, borrow)]
    pub ecosystem_specific: Option<RawSpecific<'a>>,
    #[serde(default, borrow)]
    pub database_specific: Option<RawSpecific<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct RawPackage<'a> {
    #[serde(default, borrow)]
    pub ecosystem: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub name: Option<Str<'a>>,
}

#[derive(Debug, Deserialize)]
pub struct RawRange<'a> {
    #[serde(rename = "type", default, borrow)]
    pub kind: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub events: Option<Vec<RawEvent<'a>>>,
}

/// One range event; valid events carry exactly one of the four keys.
#[derive(Debug, Deserialize)]
pub struct RawEvent<'a> {
    #[serde(default, borrow)]
    pub introduced: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub fixed: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub last_affected: Option<Str<'a>>,
    #[serde(default, borrow)]
    pub limit: Option<Str<'a>>,
}

/// The keys of `database_specific`/`ecosystem_specific` objects that rank or describe findings.
#[derive(Debug, Default, Deserialize)]
pub struct RawSpecific<'a> {
    /// GitHub and others: `"HIGH"`, `"MODERATE"`…; ignored when it is not a string.
    #[serde(default, borrow)]
    pub severity: Option<Loose<'a>>,
    /// Debian: `"low"`, `"medium"`, `"not yet assigned"`…
    #[serde(default, borrow)]
    pub urgency: Option<Loose<'a>>,
    /// Ubuntu: the package's priority in this release.
    #[serde(default, borrow)]
    pub ubuntu_priority: Option<Loose<'a>>,
    /// Ubuntu: the binary packages built from the named source.
    #[serde(default, borrow)]
    pub binaries: Option<Binaries<'a>>,
    /// Ubuntu USN records: the CVEs the notice fixes in this release, each with its own `severity` list (the
    /// Ubuntu priority among them). Kept as a plain value: only USNs carry it, and any shape is accepted.
    #[serde(default)]
    pub cves_map: Option<serde_json::Value>,
}

impl RawSpecific<'_> {
    /// The qualitative labels this object carries: `severity`, Debian's `urgency`, Ubuntu's `ubuntu_priority`, and
    /// the non-CVSS severities of a USN's `cves_map`.
    pub fn labels(&self) -> Vec<&str> {
        let mut out: Vec<&str> = [&self.severity, &self.urgency, &self.ubuntu_priority]
            .into_iter()
            .flatten()
            .filter_map(|l| l.0.as_deref())
            .collect();
        let cves = self.cves_map.as_ref().and_then(|m| m.get("cves")).and_then(|c| c.as_array());
        for cve in cves.into_iter().flatten() {
            let severities = cve.get("severity").and_then(|s| s.as_array());
            for s in severities.into_iter().flatten() {
                let kind = s.get("type").and_then(|t| t.as_str()).unwrap_or_default();
                if let (false, Some(score)) = (kind.starts_with("CVSS_"), s.get("score").and_then(|s| s.as_str())) {
                    out.push(score);
                }
            }
        }
        out
    }
}

/// A string value, or `None` when the exporter put something else (an object, a number) there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Loose<'a>(pub Option<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for Loose<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Loose<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Loose(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Loose(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Loose(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Loose(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Loose(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Loose(None))
            }
        }
        deserializer.deserialize_any(V)
    }
}

/// Ubuntu's binary package list, in either shape its exports use:
/// `[{"binary_name": "libfoo1", "binary_version": "1.2-3"}, …]` (current) or `[{"libfoo1": "1.2-3", …}]` / a bare
/// `{"libfoo1": "1.2-3"}` object (older records). Each entry is `(name, version)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Binaries<'a>(pub Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>);

impl<'de: 'a, 'a> Deserialize<'de> for Binaries<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Entry<'a>(Vec<(Cow<'a, str>, Option<Cow<'a, str>>)>);
        impl<'de: 'a, 'a> Deserialize<'de> for Entry<'a> {
            fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = Entry<'de>;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a binary package object or name")
                    }
                    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                        Ok(Entry(vec![(Cow::Borrowed(v), None)]))
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                        Ok(Entry(vec![(Cow::Owned(v.to_owned()), None)]))
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                        let mut pairs = Vec::new();
                        let (mut name, mut version) = (None, None);
                        while let Some(key) = map.next_key::<Str<'de>>()? {
                            let value = map.next_value::<Loose<'de>>()?.0;
                            match key.0.as_ref() {
                                "binary_name" => name = value,
                                "binary_version" => version = value,
                                _ => pairs.push((key.0, value)),
                            }
                        }
                        if let Some(name) = name {
                            return Ok(Entry(vec![(name, version)]));
                        }
                        Ok(Entry(pairs))
                    }
                }
                deserializer.deserialize_any(V)
            }
        }

        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Binaries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list or map of binary packages")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(entry) = seq.next_element::<Entry<'de>>()? {
                    all.extend(entry.0);
                }
                Ok(Binaries(all))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                let entry = Entry::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(Binaries(entry.0))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Binaries::default())
            }
        }
        deserializer.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_ubuntu_binaries_shapes() {
        let current: RawSpecific<'_> = serde_json::from_str(
            r#"{"binaries": [{"binary_name": "unzip", "binary_version": "6.0-9ubuntu1.6"}], "availability": "x"}"#,
        )
        .unwrap();
        assert_eq!(current.binaries.unwrap().0, vec![("unzip".into(), Some("6.0-9ubuntu1.6".into()))]);
        let older: RawSpecific<'_> =
            serde_json::from_str(r#"{"binaries": [{"libwayland-bin": "1.16.0-1", "libwayland-client0": "1.16.0-1"}]}"#)
                .unwrap();
        assert_eq!(
            older.binaries.unwrap().0,
            vec![
                ("libwayland-bin".into(), Some("1.16.0-1".into())),
                ("libwayland-client0".into(), Some("1.16.0-1".into()))
            ]
        );
        let odd: RawSpecific<'_> = serde_json::from_str(r#"{"severity": {"nested": 1}, "urgency": null}"#).unwrap();
        assert_eq!(odd.severity, Some(Loose(None)));
    }
}
