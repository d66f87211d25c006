//! Size limits checked while scanning the JSON once, before any typed value is built.
//!
//! The scan allocates nothing per value, so an oversized list or string is refused at the first item over the
//! limit instead of after materialising it.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::config::Limits;

/// Which limit a document broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitHit {
    Packages,
    ListItems,
    StringLength,
}

impl LimitHit {
    pub fn name(self) -> &'static str {
        match self {
            LimitHit::Packages => "max_packages",
            LimitHit::ListItems => "max_list_items",
            LimitHit::StringLength => "max_string_length",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("limit {} exceeded", .0.name())]
    Limit(LimitHit),
    #[error("invalid JSON: {0}")]
    Json(serde_json::Error),
}

/// Scans a report envelope's JSON for the list and string limits.
pub fn check(json: &[u8], limits: &Limits) -> Result<(), ScanError> {
    let hit = Cell::new(None);
    let image_packages = Cell::new(0);
    let mut de = serde_json::Deserializer::from_slice(json);
    let walk = Walk { limits, hit: &hit, image_packages: &image_packages, place: Place::Envelope };
    let result = walk.deserialize(&mut de).and_then(|()| de.end());
    match (hit.get(), result) {
        (Some(limit), _) => Err(ScanError::Limit(limit)),
        (None, Err(e)) => Err(ScanError::Json(e)),
        (None, Ok(())) => Ok(()),
    }
}

/// Where in the envelope a value sits, as far as limits care: the host's packages (`report.software.packages`) have
/// their own limit, and the packages of all its container images together (`report.software.container_images[].
/// packages`) the same one again: the collector stores and matches each image's list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Envelope,
    Report,
    Software,
    PackageList,
    ImageList,
    Image,
    ImagePackageList,
    Other,
}

impl Place {
    fn child(self, key: &str) -> Place {
        match (self, key) {
            (Place::Envelope, "report") => Place::Report,
            (Place::Report, "software") => Place::Software,
            (Place::Software, "packages") => Place::PackageList,
            (Place::Software, "container_images") => Place::ImageList,
            (Place::Image, "packages") => Place::ImagePackageList,
            _ => Place::Other,
        }
    }
}

#[derive(Clone, Copy)]
struct Walk<'a> {
    limits: &'a Limits,
    hit: &'a Cell<Option<LimitHit>>,
    /// Packages seen so far in every image's list.
    image_packages: &'a Cell<usize>,
    place: Place,
}

impl Walk<'_> {
    fn fail<E: de::Error>(&self, limit: LimitHit) -> E {
        self.hit.set(Some(limit));
        E::custom(limit.name())
    }

    fn string<E: de::Error>(&self, s: &str) -> Result<(), E> {
        if s.len() > self.limits.max_string_length { Err(self.fail(LimitHit::StringLength)) } else { Ok(()) }
    }
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<(), E> {
        self.string(s)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let (max, limit) = match self.place {
            Place::PackageList | Place::ImagePackageList => (self.limits.max_packages, LimitHit::Packages),
            _ => (self.limits.max_list_items, LimitHit::ListItems),
        };
        let item = Walk { place: if self.place == Place::ImageList { Place::Image } else { Place::Other }, ..self };
        let mut count = 0usize;
        while seq.next_element_seed(item)?.is_some() {
            count += 1;
            if count > max {
                return Err(self.fail(limit));
            }
            if self.place == Place::ImagePackageList {
                self.image_packages.set(self.image_packages.get() + 1);
                if self.image_packages.get() > self.limits.max_packages {
                    return Err(self.fail(LimitHit::Packages));
                }
            }
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(place) = map.next_key_seed(Key(self))? {
            map.next_value_seed(Walk { place, ..self })?;
        }
        Ok(())
    }
}

/// Reads an object key, checks its length and says where its value sits.
struct Key<'a>(Walk<'a>);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = Place;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Place, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = Place;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object key")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Place, E> {
        self.0.string(key)?;
        Ok(self.0.place.child(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits { max_packages: 3, max_list_items: 2, max_string_length: 8, ..Limits::default() }
    }

    fn scan(json: &str) -> Result<(), LimitHit> {
        match check(json.as_bytes(), &limits()) {
            Ok(()) => Ok(()),
            Err(ScanError::Limit(l)) => Err(l),
            Err(ScanError::Json(e)) => panic!("unexpected json error {e}"),
        }
    }

    #[test]
    fn package_list_has_its_own_limit() {
        assert_eq!(scan(r#"{"report":{"software":{"packages":[1,2,3]}}}"#), Ok(()));
        assert_eq!(scan(r#"{"report":{"software":{"packages":[1,2,3,4]}}}"#), Err(LimitHit::Packages));
        assert_eq!(scan(r#"{"report":{"patches":{"packages":[1,2,3]}}}"#), Err(LimitHit::ListItems));
        assert_eq!(scan(r#"{"report":{"errors":[[1,2],[3]]}}"#), Ok(()));
    }

    #[test]
    fn the_images_packages_share_one_package_limit() {
        let images = |lists: &[&str]| {
            let images: Vec<String> = lists.iter().map(|l| format!(r#"{{"id":"i","packages":{l}}}"#)).collect();
            format!(r#"{{"report":{{"software":{{"packages":[1,2,3],"container_images":[{}]}}}}}}"#, images.join(","))
        };
        // Keys as long as the real ones.
        let limits = Limits { max_packages: 3, max_list_items: 3, max_string_length: 16, ..Limits::default() };
        let scan = |json: String| match check(json.as_bytes(), &limits) {
            Ok(()) => Ok(()),
            Err(ScanError::Limit(l)) => Err(l),
            Err(ScanError::Json(e)) => panic!("unexpected json error {e}"),
        };
        assert_eq!(scan(images(&["[1,2]", "[3]"])), Ok(()), "three in all, beside the host's three");
        assert_eq!(scan(images(&["[1,2]", "[3,4]"])), Err(LimitHit::Packages), "four in all");
        assert_eq!(scan(images(&["[1,2,3,4]"])), Err(LimitHit::Packages), "one image's list is a package list");
        let limits = Limits { max_list_items: 2, ..limits.clone() };
        let json = images(&["[1,2,3]"]);
        assert!(check(json.as_bytes(), &limits).is_ok(), "a package list, not a list of items");
        assert_eq!(scan(images(&["[]", "[]", "[]", "[]"])), Err(LimitHit::ListItems), "images are list items");
    }

    #[test]
    fn strings_and_keys_are_bounded() {
        assert_eq!(scan(r#"{"a":"12345678"}"#), Ok(()));
        assert_eq!(scan(r#"{"a":"123456789"}"#), Err(LimitHit::StringLength));
        assert_eq!(scan(r#"{"abcdefghi":1}"#), Err(LimitHit::StringLength));
        assert_eq!(scan(r#"["a\"bcdefg"]"#), Ok(()));
    }

    #[test]
    fn broken_json_is_a_json_error() {
        assert!(matches!(check(b"{\"a\":", &limits()), Err(ScanError::Json(_))));
        assert!(matches!(check(b"{} x", &limits()), Err(ScanError::Json(_))));
    }
}
