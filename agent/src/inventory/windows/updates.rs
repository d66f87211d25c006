//! Which updates a Windows has installed, and when it last installed one: the servicing stack's package store
//! (`Component Based Servicing\Packages`, what `Get-HotFix`, `Win32_QuickFixEngineering` and DISM list on Vista and
//! later) and the Uninstall entries that name a parent product (what "Installed updates" lists: Windows XP's
//! hotfixes, Office and .NET updates). Pure: the probe hands over the keys it read, the tests real exports.
//!
//! Only packages the servicing stack marks installed count (`CurrentState` 0x70 Installed, 0x80 Permanent);
//! staged, superseded, pending and removed ones are not installed updates, whatever their key says. The store
//! names a package by identity (`Package_for_KB5034441~31bf3856ad364e35~amd64~~10.0.1.3`); an update is the
//! knowledge-base article in that name, and its many sub-packages (`Package_1_for_KB…`) are one update. Windows
//! 10's cumulative updates (`Package_for_RollupFix`), servicing stack and .NET rollups carry no article number in
//! their identity, so the identity is their id: the article is not guessed.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use muster_shared::v1::InstalledUpdate;

use super::{RegValue, classify_uninstall_key, parse_install_date, strip_prefix_ignore_case};

/// The servicing stack's package store below HKEY_LOCAL_MACHINE.
pub const CBS_PACKAGES: &str = r"SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages";

/// `CurrentState` of an installed package, and of one installed for good (it cannot be removed any more).
const INSTALLED: u32 = 0x70;
const PERMANENT: u32 = 0x80;

/// Whether a package identity names an update (`Package_for_…`, `Package_<n>_for_…`) rather than a part of Windows
/// itself (`Microsoft-Windows-…`, language packs, features on demand), so the probe reads only those keys' values.
pub fn is_update_package(name: &str) -> bool {
    let Some(rest) = strip_prefix_ignore_case(name, "Package_") else { return false };
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix('_').unwrap_or(rest);
    strip_prefix_ignore_case(rest, "for_").is_some()
}

/// The installed updates of the package store, one per update (sub-packages merged, the latest install time kept),
/// from each package key's name and values; packages that are not installed, or not updates, are left out.
pub fn updates_from_cbs<'a>(
    packages: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, RegValue>)>,
) -> Vec<InstalledUpdate> {
    let mut by_id: BTreeMap<String, InstalledUpdate> = BTreeMap::new();
    for (name, values) in packages {
        if !is_update_package(name)
            || !matches!(values.get("CurrentState"), Some(RegValue::Dword(INSTALLED | PERMANENT)))
        {
            continue;
        }
        let id = kb_number(name).unwrap_or_else(|| name.to_string());
        let installed_at = install_time(values);
        let source = format!(r"HKLM\{CBS_PACKAGES}\{name}");
        match by_id.get_mut(&id) {
            Some(seen) => {
                seen.installed_at = seen.installed_at.max(installed_at);
                // The registry lists `Package_1_for_KB…` before `Package_for_KB…`; the update's own package names it.
                if is_sub_package(&seen.source) && !is_sub_package(&source) {
                    seen.source = source;
                }
            }
            None => {
                by_id.insert(
                    id.clone(),
                    InstalledUpdate { id, title: None, kind: None, product: None, installed_at, source },
                );
            }
        }
    }
    by_id.into_values().collect()
}

/// An Uninstall entry that updates another entry (it names a `ParentKeyName`), as "Installed updates" lists it;
/// `None` for programs and for entries without a `DisplayName`, which Windows does not list at all.
pub fn update_from_uninstall_key(path: &str, values: &BTreeMap<String, RegValue>) -> Option<InstalledUpdate> {
    let (_, _, key_name) = classify_uninstall_key(path)?;
    let text = |name: &str| values.get(name).and_then(RegValue::text).map(str::trim).filter(|s| !s.is_empty());
    let parent = text("ParentKeyName")?;
    let title = text("DisplayName")?;
    let id = kb_number(&key_name).or_else(|| kb_number(title)).unwrap_or(key_name);
    Some(InstalledUpdate {
        id,
        title: Some(title.to_string()),
        // Some installers leave the placeholder unexpanded (`%HOTFIX%`): that says nothing.
        kind: text("ReleaseType").filter(|k| !k.starts_with('%')).map(str::to_string),
        product: Some(text("ParentDisplayName").unwrap_or(parent).to_string()),
        installed_at: text("InstallDate")
            .and_then(parse_install_date)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc()),
        source: path.to_string(),
    })
}

/// The installed updates of both sources and when Windows last installed an update of itself: the package store's
/// packages (name and values) first, then the Uninstall entries (full key path and values); an Uninstall entry for
/// an update the store already has is the same update and is dropped. The last installation counts the store's
/// updates and Windows' own hotfixes ([`updates_windows`]), never a product's.
pub fn installed<'a>(
    packages: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, RegValue>)>,
    uninstall: impl IntoIterator<Item = (&'a str, &'a BTreeMap<String, RegValue>)>,
) -> (Vec<InstalledUpdate>, Option<DateTime<Utc>>) {
    let mut updates = updates_from_cbs(packages);
    let mut last_windows = last_installed(&updates);
    let known: std::collections::BTreeSet<String> = updates.iter().map(|u| u.id.clone()).collect();
    for (key, values) in uninstall {
        let Some(update) = update_from_uninstall_key(key, values) else { continue };
        if updates_windows(values) {
            last_windows = last_windows.max(update.installed_at);
        }
        if !known.contains(&update.id) {
            updates.push(update);
        }
    }
    (updates, last_windows)
}

/// When the last of `updates` was installed.
pub fn last_installed<'a>(updates: impl IntoIterator<Item = &'a InstalledUpdate>) -> Option<DateTime<Utc>> {
    updates.into_iter().filter_map(|u| u.installed_at).max()
}

/// Whether an Uninstall entry's update is one of Windows itself (`ParentKeyName` `OperatingSystem`, Windows XP's
/// hotfixes) rather than of a product such as Office or .NET. Only Windows' own updates, and the package store's,
/// make `last_update_installed_at`: an Office patch says nothing of whether Windows is kept up to date.
pub fn updates_windows(values: &BTreeMap<String, RegValue>) -> bool {
    values
        .get("ParentKeyName")
        .and_then(RegValue::text)
        .is_some_and(|p| p.trim().eq_ignore_ascii_case("OperatingSystem"))
}

/// The first `KB<digits>` in `text`, upper-cased (`KB2183461-IE8` and `{GUID}.KB2468871` name KB2183461 and
/// KB2468871).
fn kb_number(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    (0..bytes.len().saturating_sub(2)).find_map(|i| {
        if !bytes[i..i + 2].eq_ignore_ascii_case(b"KB") {
            return None;
        }
        let digits = bytes[i + 2..].iter().take_while(|b| b.is_ascii_digit()).count();
        (digits > 0).then(|| format!("KB{}", &text[i + 2..i + 2 + digits]))
    })
}

/// `InstallTimeHigh` and `InstallTimeLow`: the two halves of a FILETIME (100 ns ticks since 1601-01-01 UTC).
fn install_time(values: &BTreeMap<String, RegValue>) -> Option<DateTime<Utc>> {
    let (Some(RegValue::Dword(high)), Some(RegValue::Dword(low))) =
        (values.get("InstallTimeHigh"), values.get("InstallTimeLow"))
    else {
        return None;
    };
    // A zero or pre-1970 time is an unset value, not an update installed before Windows existed.
    super::filetime((u64::from(*high) << 32) | u64::from(*low))
}

/// `…\Package_<n>_for_…`: one of an update's parts rather than the update's own package.
fn is_sub_package(source: &str) -> bool {
    let name = source.rsplit('\\').next().unwrap_or(source);
    strip_prefix_ignore_case(name, "Package_").is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::super::regfile::parse_reg_export;
    use super::*;

    fn xp_updates() -> Vec<InstalledUpdate> {
        let path = format!("{}/testdata/windows/registry/winxp-Uninstall.reg", env!("CARGO_MANIFEST_DIR"));
        let keys = parse_reg_export(&std::fs::read(path).unwrap()).unwrap();
        keys.iter().filter_map(|k| update_from_uninstall_key(&k.path, &k.values)).collect()
    }

    fn find<'a>(updates: &'a [InstalledUpdate], source_ends: &str) -> &'a InstalledUpdate {
        updates.iter().find(|u| u.source.ends_with(source_ends)).unwrap()
    }

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<DateTime<Utc>> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, s).single()
    }

    #[test]
    fn windows_xp_lists_its_hotfixes_and_product_updates_as_installed_updates() {
        // The 323 entries naming a ParentKeyName and a DisplayName (one more has an empty DisplayName); 252 carry an
        // InstallDate, the latest 2012-04-17; 303 name an article in the key or the title (counted with a separate
        // script over the same export).
        let updates = xp_updates();
        assert_eq!(updates.len(), 323);
        assert_eq!(updates.iter().filter(|u| u.installed_at.is_some()).count(), 252);
        assert_eq!(last_installed(&updates), utc(2012, 4, 17, 0, 0, 0));
        // Windows' own hotfixes (ParentKeyName OperatingSystem: 227 of them, the latest also dated 2012-04-17).
        let path = format!("{}/testdata/windows/registry/winxp-Uninstall.reg", env!("CARGO_MANIFEST_DIR"));
        let keys = parse_reg_export(&std::fs::read(path).unwrap()).unwrap();
        let windows: Vec<InstalledUpdate> = keys
            .iter()
            .filter(|k| updates_windows(&k.values))
            .filter_map(|k| update_from_uninstall_key(&k.path, &k.values))
            .collect();
        assert_eq!(windows.len(), 227);
        assert_eq!(last_installed(&windows), utc(2012, 4, 17, 0, 0, 0));
        // Their products as the export names them (ParentDisplayName, else the ParentKeyName itself).
        let products = windows.iter().fold(BTreeMap::<&str, usize>::new(), |mut m, u| {
            *m.entry(u.product.as_deref().unwrap()).or_default() += 1;
            m
        });
        assert_eq!(
            products,
            BTreeMap::from([("OperatingSystem", 20), ("Windows Updates", 2), ("Windows XP - Software Updates", 205)])
        );
        assert_eq!(updates.iter().filter(|u| u.id.starts_with("KB")).count(), 303);
        assert_eq!(
            find(&updates, r"\Uninstall\KB2079403"),
            &InstalledUpdate {
                id: "KB2079403".into(),
                title: Some("Security Update for Windows XP (KB2079403)".into()),
                kind: Some("Security Update".into()),
                product: Some("Windows XP - Software Updates".into()),
                installed_at: utc(2010, 8, 16, 0, 0, 0),
                source: r"HKEY_LOCAL_MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Uninstall\KB2079403".into(),
            }
        );
        // The article from a suffixed key, from a product code's key, from the title; none where none is named.
        assert_eq!(find(&updates, r"\KB971961-IE8").id, "KB971961");
        let net = find(&updates, r"\{3C3901C5-3455-3E0A-A214-0B093A5070A6}.KB2468871");
        assert_eq!(
            (net.id.as_str(), net.product.as_deref()),
            ("KB2468871", Some("Microsoft .NET Framework 4 Client Profile"))
        );
        assert_eq!(find(&updates, r"\M2656353").id, "KB2656353");
        assert_eq!(find(&updates, r"\Uninstall\WIC").id, "WIC");
        // An unexpanded `%HOTFIX%` release type says nothing.
        assert_eq!(find(&updates, r"\Uninstall\KB971513").kind, None);
        // The same article for two products stays two entries, as Windows lists them.
        assert_eq!(updates.iter().filter(|u| u.id == "KB971961").count(), 2);
    }

    #[test]
    fn programs_and_exports_without_updates_give_none() {
        for name in ["mssql-Uninstall.reg", "win10-ru-Uninstall.reg"] {
            let path = format!("{}/testdata/windows/registry/{name}", env!("CARGO_MANIFEST_DIR"));
            let keys = parse_reg_export(&std::fs::read(path).unwrap()).unwrap();
            assert!(!keys.is_empty());
            assert!(keys.iter().all(|k| update_from_uninstall_key(&k.path, &k.values).is_none()), "{name}");
        }
    }

    /// A package key's values as the servicing stack writes them: its state, and its install time as a FILETIME's
    /// halves (computed separately from the UTC times in the comments).
    fn package(state: u32, high: u32, low: u32) -> BTreeMap<String, RegValue> {
        BTreeMap::from([
            ("CurrentState".to_string(), RegValue::Dword(state)),
            ("InstallTimeHigh".to_string(), RegValue::Dword(high)),
            ("InstallTimeLow".to_string(), RegValue::Dword(low)),
            ("Visibility".to_string(), RegValue::Dword(1)),
        ])
    }

    #[test]
    fn the_package_store_gives_one_update_per_article_of_its_installed_packages() {
        // Identities as Microsoft's documentation and `dism /get-packages` listings print them; states as the
        // servicing stack keeps them (0x70 installed, 0x50 superseded, 0x40 staged).
        let may_15 = package(INSTALLED, 0x01d9_86fc, 0x1f59_ce00); // 2023-05-15 07:09:00 UTC
        let may_16 = package(INSTALLED, 0x01d9_8792, 0x069b_f780); // 2023-05-16 01:02:03 UTC
        let superseded = package(0x50, 0x01d9_86fc, 0x1f59_ce00);
        let staged = package(0x40, 0x01da_4329, 0xda89_4400); // 2024-01-09 18:30:00 UTC
        let permanent = package(PERMANENT, 0x01da_4329, 0xda89_4400);
        // In the registry's order: the sub-package before the update's own package.
        let packages = [
            ("Package_1_for_KB4474419~31bf3856ad364e35~amd64~~6.1.3.2", &may_16),
            ("Package_for_KB4474419~31bf3856ad364e35~amd64~~6.1.3.2", &may_15),
            ("Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.2913.1.7", &superseded),
            ("Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.2965.1.8", &may_15),
            ("Package_for_KB5034441~31bf3856ad364e35~amd64~~19041.3920.1.2", &staged),
            ("Package_for_ServicingStack_3920~31bf3856ad364e35~amd64~~19041.3920.1.2", &permanent),
            ("Microsoft-Windows-Client-LanguagePack-Package~31bf3856ad364e35~amd64~en-US~10.0.19041.2965", &may_16),
        ];
        let updates = updates_from_cbs(packages.iter().map(|(n, v)| (*n, *v)));
        let ids: Vec<&str> = updates.iter().map(|u| u.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "KB4474419",
                "Package_for_RollupFix~31bf3856ad364e35~amd64~~19041.2965.1.8",
                "Package_for_ServicingStack_3920~31bf3856ad364e35~amd64~~19041.3920.1.2",
            ]
        );
        // The sub-package installed a day later makes the update's time; the update's own package is its source.
        assert_eq!(updates[0].installed_at, utc(2023, 5, 16, 1, 2, 3));
        assert_eq!(
            updates[0].source,
            r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\Packages\Package_for_KB4474419~31bf3856ad364e35~amd64~~6.1.3.2"
        );
        assert_eq!(updates[1].installed_at, utc(2023, 5, 15, 7, 9, 0));
        assert_eq!(last_installed(&updates), utc(2024, 1, 9, 18, 30, 0));
        assert!(updates.iter().all(|u| u.title.is_none() && u.kind.is_none() && u.product.is_none()));
    }

    #[test]
    fn a_package_without_state_or_time_is_read_for_what_it_has() {
        let no_state = BTreeMap::from([("InstallTimeHigh".to_string(), RegValue::Dword(1))]);
        let no_time = BTreeMap::from([("CurrentState".to_string(), RegValue::Dword(INSTALLED))]);
        let zero_time = package(INSTALLED, 0, 0);
        let packages = [
            ("Package_for_KB1000001~31bf3856ad364e35~amd64~~10.0.1.0", &no_state),
            ("Package_for_KB1000002~31bf3856ad364e35~amd64~~10.0.1.0", &no_time),
            ("Package_for_KB1000003~31bf3856ad364e35~amd64~~10.0.1.0", &zero_time),
        ];
        let updates = updates_from_cbs(packages.iter().map(|(n, v)| (*n, *v)));
        let read: Vec<(&str, Option<DateTime<Utc>>)> =
            updates.iter().map(|u| (u.id.as_str(), u.installed_at)).collect();
        assert_eq!(read, [("KB1000002", None), ("KB1000003", None)]);
    }

    #[test]
    fn update_packages_are_told_from_parts_of_windows() {
        for name in [
            "Package_for_KB5005565~x",
            "package_12_for_KB1~x",
            "Package_for_RollupFix~x",
            "PACKAGE_FOR_DotNetRollup_481~x",
        ] {
            assert!(is_update_package(name), "{name}");
        }
        for name in [
            "Microsoft-Windows-Foundation-Package~x",
            "Package_",
            "Package_12",
            "Packages_for_KB1",
            "WinEmb-Package_for_KB1",
        ] {
            assert!(!is_update_package(name), "{name}");
        }
    }

    #[test]
    fn an_update_both_sources_list_is_listed_once() {
        let path = format!("{}/testdata/windows/registry/winxp-Uninstall.reg", env!("CARGO_MANIFEST_DIR"));
        let keys = parse_reg_export(&std::fs::read(path).unwrap()).unwrap();
        let uninstall = || keys.iter().map(|k| (k.path.as_str(), &k.values));
        // The Uninstall entries alone: every update, and the last of Windows' own.
        let (alone, last) = installed([], uninstall());
        assert_eq!((alone.len(), last), (323, utc(2012, 4, 17, 0, 0, 0)));
        let cbs_values = package(INSTALLED, 0x01d9_86fc, 0x1f59_ce00);
        let cbs_name = "Package_for_KB2079403~31bf3856ad364e35~x86~~6.0.1.0";
        let (merged, last) = installed([(cbs_name, &cbs_values)], uninstall());
        assert_eq!(merged.len(), 323);
        let kb = merged.iter().filter(|u| u.id == "KB2079403").collect::<Vec<_>>();
        assert_eq!(kb.len(), 1);
        assert!(kb[0].source.contains("Component Based Servicing"));
        // The store's later installation is the last.
        assert!(kb[0].installed_at > utc(2012, 4, 17, 0, 0, 0));
        assert_eq!(last, kb[0].installed_at);
    }
}
