//! The live reads behind the Windows inventory, feeding the pure modules the tests run on real exports and
//! captures: the registry (each Uninstall key's subkeys for [`super::program_from_key`] and
//! [`super::packages::package_from_program`], the package repositories' subkey names for [`super::appx::listings`],
//! the reboot flags for [`super::reboot::reboot_required`], the installed
//! updates for [`super::updates`], the posture keys for [`super::posture`], the displays' EDIDs for
//! [`super::monitors`]); WMI (BitLocker's volumes for [`super::bitlocker`], the disks and adapters for
//! [`super::devices`], the TPM for [`super::tpm`], the batteries for [`super::battery`]); and the network
//! management calls (the domain or workgroup, `NetGetJoinInformation`, with the Entra ID keys for [`super::directory`]; the account policy, `NetUserModalsGet`, for [`super::password`]; the
//! local accounts, `NetUserEnum`, for [`super::guest`] and, with the Administrators group's members,
//! `NetLocalGroupGetMembers`, for [`super::admins`]).

use std::collections::BTreeMap;
use std::io;

use chrono::{DateTime, Utc};

use winreg::enums::{HKEY_LOCAL_MACHINE, HKEY_USERS, KEY_READ, KEY_WOW64_64KEY, RegType};
use winreg::{RegKey, RegValue as WinValue};

use muster_shared::v1::{
    Battery, Check, Directory, Disk, ErrorKind, Filesystem, Host, InstalledUpdate, Monitor, NetworkInterface, Os,
    PackageSource, Patches, SectionName, Software, Tpm,
};

use super::appx::{self, RepositoryRead};
use super::packages::{package_from_program, source};
use super::posture::{self, Snapshot, WmiRead};
use super::reboot::{CBS_REBOOT_PENDING, RebootFlags, SESSION_MANAGER, WU_REBOOT_REQUIRED, reboot_required};
use super::version::{CURRENT_VERSION_KEY, os_from_version, windows_version};
use super::{
    RegValue, UNINSTALL_32, UNINSTALL_64, WindowsInventory, admins, battery, bitlocker, devices, directory, guest,
    monitors, password, tpm, updates,
};
use super::{update_agent, wua};
use crate::inventory::patches::pending_counts;
use crate::inventory::software::{DbError, Listing, assemble};
use crate::root::ErrorLog;

/// The CurrentVersion key below HKEY_LOCAL_MACHINE.
const CURRENT_VERSION: &str = r"SOFTWARE\Microsoft\Windows NT\CurrentVersion";

/// The `os` section of a live Windows, from the registry's CurrentVersion key; `None` with an error when unreadable.
pub fn collect_os(errors: &mut ErrorLog) -> Option<Os> {
    match RegKey::predef(HKEY_LOCAL_MACHINE).open_subkey_with_flags(CURRENT_VERSION, KEY_READ | KEY_WOW64_64KEY) {
        Ok(key) => {
            let mut os = os_from_version(&windows_version(&values(&key)));
            os.architecture = Some(std::env::consts::ARCH.to_string());
            Some(os)
        }
        Err(err) => {
            errors.io(SectionName::Os, CURRENT_VERSION_KEY, &err);
            None
        }
    }
}

/// The CurrentVersion values the wire types have no field for, for `muster-agent inventory`'s `windows` object.
pub fn collect() -> WindowsInventory {
    let version = RegKey::predef(HKEY_LOCAL_MACHINE)
        .open_subkey_with_flags(CURRENT_VERSION, KEY_READ | KEY_WOW64_64KEY)
        .ok()
        .map(|k| windows_version(&values(&k)));
    WindowsInventory { version }
}

/// The 64-bit registry view's architecture as a package's `arch`: this build's own. An x86_64 agent emulated on
/// ARM64 Windows would call ARM64 programs x64; no such build exists yet.
const NATIVE_ARCH: Option<&str> = if cfg!(target_arch = "x86_64") { Some("x64") } else { None };

/// The software section of a live Windows: the Uninstall keys of HKEY_LOCAL_MACHINE and of every hive loaded under
/// HKEY_USERS (a signed-in or service user's), in both views, one package source each. Always the 64-bit view of
/// the registry itself (`KEY_WOW64_64KEY`), so the WOW6432Node path is read literally and nothing is redirected.
pub fn collect_software(errors: &mut ErrorLog) -> Software {
    let mut found = Vec::new();
    let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
    for path in [UNINSTALL_64, UNINSTALL_32] {
        found.extend(read_uninstall(&hklm, "HKEY_LOCAL_MACHINE", path));
    }
    let users = RegKey::predef(HKEY_USERS);
    // `.DEFAULT` is LocalSystem's profile again (S-1-5-18); `<sid>_Classes` hold file associations, not software.
    let sids: Vec<String> = users
        .enum_keys()
        .filter_map(Result::ok)
        .filter(|sid| !sid.eq_ignore_ascii_case(".DEFAULT") && !sid.ends_with("_Classes"))
        .collect();
    for sid in &sids {
        for path in [UNINSTALL_64, UNINSTALL_32] {
            found.extend(read_uninstall(&users, "HKEY_USERS", &format!(r"{sid}\{path}")));
        }
    }
    if found.is_empty() {
        errors.record(SectionName::Software, "Uninstall keys", ErrorKind::NotFound, "no Uninstall key was found");
    }
    // MSIX packages: the machine's repository first, so a user's lists only what it does not.
    let mut repositories: Vec<RepositoryRead> =
        read_repository(&hklm, "HKEY_LOCAL_MACHINE", appx::MACHINE_REPOSITORY).into_iter().collect();
    for sid in &sids {
        repositories.extend(read_repository(&users, "HKEY_USERS", &format!(r"{sid}\{}", appx::USER_REPOSITORY)));
    }
    found.extend(appx::listings(repositories));
    assemble(found, errors)
}

/// The subkey names of one MSIX package repository; `None` when it does not exist (Windows before 8, Wine, a user
/// without packages). A failure part-way keeps what was read with the error.
fn read_repository(base: &RegKey, root_name: &str, path: &str) -> Option<RepositoryRead> {
    let key = format!(r"{root_name}\{path}");
    match subkey_names(base, path) {
        Ok(None) => None,
        Ok(Some((_, names))) => Some(RepositoryRead { key, names, problem: None }),
        Err((_, names, err)) => Some(RepositoryRead { key, names, problem: Some(DbError::Io(err)) }),
    }
}

/// One Uninstall key: every subkey with a DisplayName that Windows lists becomes a package. A key that does not
/// exist is normal (no per-user installs, a 32-bit Windows) and is not a source; any other failure is, with its
/// error, so an unreadable hive is reported rather than silently missing.
fn read_uninstall(base: &RegKey, root_name: &str, path: &str) -> Option<(PackageSource, Listing)> {
    let full = format!(r"{root_name}\{path}");
    let (keys, problem) = match subkeys(base, path, &|_| true) {
        Ok(keys) => (keys?, None),
        Err((keys, err)) => (keys, Some(DbError::Io(err))),
    };
    let packages = keys
        .iter()
        .filter_map(|(name, values)| super::program_from_key(&format!(r"{full}\{name}"), values))
        .filter_map(|program| package_from_program(&program, NATIVE_ARCH))
        .collect();
    Some((source(&full), Listing { packages, problems: problem.into_iter().collect() }))
}

/// The patches section of a live Windows: the reboot flags, the automatic-updates policy, the installed updates
/// (the servicing stack's package store and the Uninstall entries of updates) with when the last was installed, and
/// the pending updates the Windows Update Agent's last search found ([`super::wua`]) with when it searched.
pub fn collect_patches(errors: &mut ErrorLog) -> Patches {
    let keys = [CBS_REBOOT_PENDING, WU_REBOOT_REQUIRED, SESSION_MANAGER, posture::WINDOWS_UPDATE_GPO];
    let snapshot = hklm_snapshot(&keys, SectionName::Patches, errors);
    let flags = RebootFlags {
        cbs_reboot_pending: snapshot.keys.contains_key(CBS_REBOOT_PENDING),
        wu_reboot_required: snapshot.keys.contains_key(WU_REBOOT_REQUIRED),
        session_manager: snapshot.keys.get(SESSION_MANAGER).cloned().unwrap_or_default(),
        unreadable: keys[..3].iter().any(|k| snapshot.unreadable.contains(*k)),
    };
    let (pending, lists_updated_at) = update_agent::pending_updates(errors);
    let (pending_count, security_count) = pending_counts(pending.as_deref());
    let (installed_updates, last_update_installed_at) = installed_updates(errors);
    Patches {
        manager: Some(wua::MANAGER.to_string()),
        pending_count,
        security_count,
        pending,
        lists_updated_at,
        reboot_required: reboot_required(&flags),
        automatic_updates: posture::automatic_updates(&snapshot),
        last_update_installed_at,
        installed_updates,
        ..Patches::default()
    }
}

/// The installed updates: the package store's update packages (only their keys' values are read, of the thousands
/// of packages a Windows 10 store holds), then HKEY_LOCAL_MACHINE's Uninstall entries of updates in both views. A
/// store or Uninstall key that does not exist (Windows XP has no store; Wine has neither) is not an error. With them,
/// when Windows last installed an update of itself (the store's, and XP's hotfixes; not Office's or .NET's).
fn installed_updates(errors: &mut ErrorLog) -> (Vec<InstalledUpdate>, Option<DateTime<Utc>>) {
    let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
    let mut read = |path: &str, wanted: &dyn Fn(&str) -> bool| {
        read_subkeys(&hklm, path, wanted, (SectionName::Patches, format!(r"HKLM\{path}")), errors)
    };
    let packages = read(updates::CBS_PACKAGES, &updates::is_update_package);
    let mut uninstall = Vec::new();
    for path in [UNINSTALL_64, UNINSTALL_32] {
        let keys = read(path, &|_| true);
        uninstall.extend(keys.into_iter().map(|(name, values)| (format!(r"HKEY_LOCAL_MACHINE\{path}\{name}"), values)));
    }
    updates::installed(
        packages.iter().map(|(name, values)| (name.as_str(), values)),
        uninstall.iter().map(|(key, values)| (key.as_str(), values)),
    )
}

/// [`subkeys`] below HKLM, a failure recorded as `item` of `section` and what was read kept; a key that does not
/// exist has none.
fn read_subkeys(
    hklm: &RegKey,
    path: &str,
    wanted: &dyn Fn(&str) -> bool,
    (section, item): (SectionName, String),
    errors: &mut ErrorLog,
) -> Subkeys {
    match subkeys(hklm, path, wanted) {
        Ok(keys) => keys.unwrap_or_default(),
        Err((keys, err)) => {
            errors.io(section, item, &err);
            keys
        }
    }
}

/// A key's subkeys, each with its values.
type Subkeys = Vec<(String, BTreeMap<String, RegValue>)>;

/// The values of each subkey of `path` whose name `wanted` accepts; `None` for a key that does not exist. On a
/// failure part-way, what was read so far comes back with the error.
fn subkeys(base: &RegKey, path: &str, wanted: &dyn Fn(&str) -> bool) -> Result<Option<Subkeys>, (Subkeys, io::Error)> {
    let read = |key: &RegKey, names: Vec<String>| -> Subkeys {
        // A subkey removed or locked between the listing and the open is skipped, as Windows' own listings do.
        names
            .into_iter()
            .filter(|name| wanted(name))
            .filter_map(|name| {
                key.open_subkey_with_flags(&name, KEY_READ | KEY_WOW64_64KEY).ok().map(|s| (name, values(&s)))
            })
            .collect()
    };
    match subkey_names(base, path) {
        Ok(None) => Ok(None),
        Ok(Some((key, names))) => Ok(Some(read(&key, names))),
        Err((Some(key), names, err)) => Err((read(&key, names), err)),
        Err((None, _, err)) => Err((Vec::new(), err)),
    }
}

/// A key and its subkeys' names; on a failure part-way, the key (when it opened) and the names listed so far with
/// the error.
type SubkeyNames = Result<Option<(RegKey, Vec<String>)>, (Option<RegKey>, Vec<String>, io::Error)>;

/// The key at `path` and its subkeys' names; `None` for a key that does not exist.
fn subkey_names(base: &RegKey, path: &str) -> SubkeyNames {
    let key = match base.open_subkey_with_flags(path, KEY_READ | KEY_WOW64_64KEY) {
        Ok(key) => key,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(err) => return Err((None, Vec::new(), err)),
    };
    let mut names = Vec::new();
    for name in key.enum_keys() {
        match name {
            Ok(name) => names.push(name),
            Err(err) => return Err((Some(key), names, err)),
        }
    }
    Ok(Some((key, names)))
}

/// HKLM keys (64-bit view) by path, with all their values: absent keys left out, keys that exist but cannot be read
/// marked unreadable and recorded under `section`.
fn hklm_snapshot(paths: &[&str], section: SectionName, errors: &mut ErrorLog) -> Snapshot {
    let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
    let mut snapshot = Snapshot::default();
    for &path in paths {
        let below = path.strip_prefix(r"HKLM\").unwrap_or(path);
        match hklm.open_subkey_with_flags(below, KEY_READ | KEY_WOW64_64KEY) {
            Ok(key) => {
                snapshot.keys.insert(path.to_string(), values(&key));
            }
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => {
                errors.io(section, path, &err);
                snapshot.unreadable.insert(path.to_string());
            }
        }
    }
    snapshot
}

/// The host section of a live Windows (the caller adds virtualization): the computer's DNS host name, the
/// installation's `MachineGuid` as its machine id, and the boot time; each that cannot be read is recorded.
pub fn collect_host(errors: &mut ErrorLog) -> Host {
    let mut host = Host::default();
    match sysinfo::System::host_name() {
        Ok(name) if !name.trim().is_empty() => host.hostname = Some(name.trim().to_string()),
        Ok(_) => errors.record(SectionName::Host, "hostname", ErrorKind::NotFound, "Windows reports no host name"),
        Err(err) => errors.record(SectionName::Host, "hostname", ErrorKind::Io, err.to_string()),
    }
    let guid = RegKey::predef(HKEY_LOCAL_MACHINE)
        .open_subkey_with_flags(super::CRYPTOGRAPHY_KEY, KEY_READ | KEY_WOW64_64KEY)
        .and_then(|key| key.get_value::<String, _>("MachineGuid"));
    match guid {
        Ok(text) => match super::machine_id_from_guid(&text) {
            Some(id) => host.machine_id = Some(id),
            None => errors.record(
                SectionName::Host,
                "machine_id",
                ErrorKind::Parse,
                format!(r"HKLM\{}\MachineGuid is not a GUID: {text:?}", super::CRYPTOGRAPHY_KEY),
            ),
        },
        Err(err) => errors.io(SectionName::Host, "machine_id", &err),
    }
    match sysinfo::System::boot_time() {
        Ok(secs) => host.boot_time = i64::try_from(secs).ok().and_then(|s| DateTime::from_timestamp(s, 0)),
        Err(err) => errors.record(SectionName::Host, "boot_time", ErrorKind::Io, err.to_string()),
    }
    host.accounts = host_accounts(errors);
    host
}

/// The host's accounts ([`admins::accounts`]): the local accounts and the Administrators group's members. Without
/// the members none are reported, since every account would read as no administrator; the error says why.
fn host_accounts(errors: &mut ErrorLog) -> Vec<muster_shared::v1::Account> {
    let mut local = local_accounts().unwrap_or_else(|why| {
        errors.record(SectionName::Host, "accounts", ErrorKind::Io, format!("NetUserEnum: {why}"));
        Vec::new()
    });
    if local.len() > MAX_ACCOUNTS {
        errors.record(
            SectionName::Host,
            "accounts",
            ErrorKind::Truncated,
            format!(
                "{} accounts, of which the first {MAX_ACCOUNTS} are listed (a domain controller lists its domain's)",
                local.len()
            ),
        );
        local.truncate(MAX_ACCOUNTS);
    }
    let members = administrators_name().and_then(|group| {
        let members = admins::listed(&group, administrators_members(&group)?)?;
        Ok((group, members, account_domain_sid()?))
    });
    match members {
        Ok((group, members, domain)) => admins::accounts(&local, &domain, &group, &members),
        Err(why) => {
            errors.record(SectionName::Host, "accounts.admin", ErrorKind::Io, why);
            Vec::new()
        }
    }
}

/// The SID of the domain this machine's own accounts belong to (`LsaQueryInformationPolicy`,
/// PolicyAccountDomainInformation): the machine's SID, or on a domain controller the domain's.
fn account_domain_sid() -> Result<String, String> {
    use windows_sys::Win32::Security::Authentication::Identity::{
        LSA_OBJECT_ATTRIBUTES, LsaClose, LsaFreeMemory, LsaNtStatusToWinError, LsaOpenPolicy,
        LsaQueryInformationPolicy, POLICY_ACCOUNT_DOMAIN_INFO, POLICY_VIEW_LOCAL_INFORMATION,
        PolicyAccountDomainInformation,
    };
    let attributes = LSA_OBJECT_ATTRIBUTES::default();
    let mut policy = 0;
    // SAFETY: a null system name is this machine; the zeroed attributes are what the call documents; the handle is
    // written by the call and closed below.
    let status =
        unsafe { LsaOpenPolicy(std::ptr::null(), &attributes, POLICY_VIEW_LOCAL_INFORMATION as u32, &mut policy) };
    if status != 0 {
        // SAFETY: converting a status code has no preconditions.
        return Err(format!("LsaOpenPolicy failed with error {}", unsafe { LsaNtStatusToWinError(status) }));
    }
    let mut buffer: *mut core::ffi::c_void = std::ptr::null_mut();
    // SAFETY: `policy` is the open handle; on success `buffer` holds a POLICY_ACCOUNT_DOMAIN_INFO freed below.
    let status = unsafe { LsaQueryInformationPolicy(policy, PolicyAccountDomainInformation, &mut buffer) };
    let sid = if status != 0 || buffer.is_null() {
        // SAFETY: as above.
        Err(format!("LsaQueryInformationPolicy failed with error {}", unsafe { LsaNtStatusToWinError(status) }))
    } else {
        // SAFETY: the buffer holds the documented structure; its SID stays valid until the buffer is freed.
        let info = unsafe { &*buffer.cast::<POLICY_ACCOUNT_DOMAIN_INFO>() };
        crate::transport::access_windows::sid_string(info.DomainSid).map_err(|e| format!("the domain SID: {e}"))
    };
    if !buffer.is_null() {
        // SAFETY: freeing the buffer the query allocated, once.
        unsafe { LsaFreeMemory(buffer) };
    }
    // SAFETY: closing the handle opened above, once.
    unsafe { LsaClose(policy) };
    sid
}

/// The Administrators group's name in this system's language (`Administrateurs` on a French Windows), from its
/// well-known SID.
fn administrators_name() -> Result<String, String> {
    use windows_sys::Win32::Security::Authorization::ConvertStringSidToSidW;
    use windows_sys::Win32::Security::{LookupAccountSidW, PSID, SID_NAME_USE};
    let text = crate::platform::to_wide(admins::ADMINISTRATORS_SID);
    let mut sid: PSID = std::ptr::null_mut();
    // SAFETY: `text` is NUL-terminated UTF-16; the SID is allocated by the call and freed below with LocalFree.
    if unsafe { ConvertStringSidToSidW(text.as_ptr(), &mut sid) } == 0 {
        return Err(format!("ConvertStringSidToSidW({}): {}", admins::ADMINISTRATORS_SID, io::Error::last_os_error()));
    }
    let (mut name, mut domain) = ([0u16; 256], [0u16; 256]);
    let (mut name_len, mut domain_len) = (name.len() as u32, domain.len() as u32);
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: `sid` is the valid SID made above; both buffers' lengths are passed and updated by the call.
    let ok = unsafe {
        LookupAccountSidW(
            std::ptr::null(),
            sid,
            name.as_mut_ptr(),
            &mut name_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut kind,
        )
    };
    let error = io::Error::last_os_error();
    // SAFETY: freeing the SID ConvertStringSidToSidW allocated, once.
    unsafe { windows_sys::Win32::Foundation::LocalFree(sid) };
    if ok == 0 {
        return Err(format!("LookupAccountSidW({}): {error}", admins::ADMINISTRATORS_SID));
    }
    Ok(String::from_utf16_lossy(&name[..(name_len as usize).min(name.len())]))
}

/// The members of the local group `group` (`NetLocalGroupGetMembers` level 2: SID, kind, `DOMAIN\name`), every
/// page of them.
fn administrators_members(group: &str) -> Result<Vec<admins::Member>, String> {
    use windows_sys::Win32::NetworkManagement::NetManagement::{
        LOCALGROUP_MEMBERS_INFO_2, MAX_PREFERRED_LENGTH, NetLocalGroupGetMembers,
    };
    let name = crate::platform::to_wide(group);
    let mut members = Vec::new();
    let mut resume: usize = 0;
    let page = |buffer: *mut *mut u8, read: *mut u32, total: *mut u32| {
        // SAFETY: a null server is this machine and `name` is NUL-terminated; the out-pointers are net_pages' own.
        unsafe {
            NetLocalGroupGetMembers(
                std::ptr::null(),
                name.as_ptr(),
                2,
                buffer,
                MAX_PREFERRED_LENGTH,
                read,
                total,
                &mut resume,
            )
        }
    };
    let each = |entry: &LOCALGROUP_MEMBERS_INFO_2| {
        members.push(admins::Member {
            // SAFETY: a NUL-terminated string inside the page's buffer, alive while `entry` is.
            name: unsafe { crate::platform::from_wide(entry.lgrmi2_domainandname) },
            sid: crate::transport::access_windows::sid_string(entry.lgrmi2_sid).unwrap_or_default(),
            kind: admins::MemberKind::from_sid_name_use(entry.lgrmi2_sidusage),
        })
    };
    // SAFETY: level 2 fills the buffer with LOCALGROUP_MEMBERS_INFO_2 entries.
    unsafe { net_pages(&format!("NetLocalGroupGetMembers({group}) level 2"), page, each) }?;
    Ok(members)
}

/// Every page of a network management enumeration (`NetUserEnum`, `NetLocalGroupGetMembers`): `call` makes one call
/// (keeping its own resume handle) into the buffer and counts it is given, `each` reads one entry while its page's
/// buffer is alive, and the buffer is freed after each page. A page of nothing with more promised is an error, since
/// what was read is not the whole list.
///
/// # Safety
/// On success or ERROR_MORE_DATA, `call` must leave a buffer the API allocated holding `read` entries of type `T`.
unsafe fn net_pages<T>(
    what: &str,
    mut call: impl FnMut(*mut *mut u8, *mut u32, *mut u32) -> u32,
    mut each: impl FnMut(&T),
) -> Result<(), String> {
    use windows_sys::Win32::Foundation::ERROR_MORE_DATA;
    use windows_sys::Win32::NetworkManagement::NetManagement::NetApiBufferFree;
    loop {
        let mut buffer: *mut u8 = std::ptr::null_mut();
        let (mut read, mut total) = (0u32, 0u32);
        let code = call(&mut buffer, &mut read, &mut total);
        // ERROR_MORE_DATA: this page was read, more follow.
        if code != 0 && code != ERROR_MORE_DATA {
            return Err(format!("{what} failed with status {code}"));
        }
        if !buffer.is_null() {
            // SAFETY: guaranteed by the caller: `read` entries of T, valid until the buffer is freed just below.
            unsafe { std::slice::from_raw_parts(buffer.cast::<T>(), read as usize) }.iter().for_each(&mut each);
            // SAFETY: freeing the buffer the call allocated, once.
            unsafe { NetApiBufferFree(buffer.cast()) };
        }
        if code != ERROR_MORE_DATA {
            return Ok(());
        }
        if read == 0 {
            return Err(format!("{what} promised more entries and gave none"));
        }
    }
}

/// The fixed volumes of a live Windows, by drive letter (`GetLogicalDriveStringsW`): file system, size and free
/// space; removable, network and optical drives left out, as on Linux. A drive that cannot be read is recorded.
pub fn collect_filesystems(errors: &mut ErrorLog) -> Vec<Filesystem> {
    use windows_sys::Win32::Storage::FileSystem::{
        GetDiskFreeSpaceExW, GetDriveTypeW, GetLogicalDriveStringsW, GetVolumeInformationW,
    };
    /// `GetDriveTypeW`'s DRIVE_FIXED; FILE_READ_ONLY_VOLUME among a volume's flags.
    const DRIVE_FIXED: u32 = 3;
    const FILE_READ_ONLY_VOLUME: u32 = 0x0008_0000;
    let mut buffer = [0u16; 512];
    // SAFETY: the buffer's length is passed; the call writes at most that many UTF-16 units.
    let len = unsafe { GetLogicalDriveStringsW(buffer.len() as u32, buffer.as_mut_ptr()) } as usize;
    if len == 0 || len > buffer.len() {
        errors.record(SectionName::Hardware, "filesystems", ErrorKind::Io, "GetLogicalDriveStringsW listed no drive");
        return Vec::new();
    }
    let mut filesystems = Vec::new();
    // `C:\` NUL `D:\` NUL ... NUL: each root NUL-terminated, the list ended by one more NUL.
    for root in buffer[..len].split(|&u| u == 0).filter(|r| !r.is_empty()) {
        let mut root_z: Vec<u16> = root.to_vec();
        root_z.push(0);
        let mount_point = String::from_utf16_lossy(root);
        // SAFETY: `root_z` is NUL-terminated and outlives the calls below.
        if unsafe { GetDriveTypeW(root_z.as_ptr()) } != DRIVE_FIXED {
            continue;
        }
        let mut fs_name = [0u16; 64];
        let mut flags = 0u32;
        // SAFETY: every out pointer is valid or null as the API allows; buffer sizes are passed.
        let named = unsafe {
            GetVolumeInformationW(
                root_z.as_ptr(),
                std::ptr::null_mut(),
                0,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
                &mut flags,
                fs_name.as_mut_ptr(),
                fs_name.len() as u32,
            )
        } != 0;
        let (mut available, mut total) = (0u64, 0u64);
        // SAFETY: as above.
        let sized =
            unsafe { GetDiskFreeSpaceExW(root_z.as_ptr(), &mut available, &mut total, std::ptr::null_mut()) } != 0;
        if !named || !sized {
            errors.io(SectionName::Hardware, format!("filesystems {mount_point}"), &io::Error::last_os_error());
            continue;
        }
        let fs_len = fs_name.iter().position(|&u| u == 0).unwrap_or(fs_name.len());
        filesystems.push(Filesystem {
            device: mount_point.trim_end_matches('\\').to_string(),
            mount_point,
            fs_type: String::from_utf16_lossy(&fs_name[..fs_len]),
            total_bytes: Some(total),
            available_bytes: Some(available),
            used_bytes: Some(total.saturating_sub(available)),
            read_only: flags & FILE_READ_ONLY_VOLUME != 0,
        });
    }
    filesystems
}

/// The physical disks (CIM's `Win32_DiskDrive`) and network adapters (`Win32_NetworkAdapter` with their IP
/// configuration), over one WMI connection. A failed query is recorded and lists none; adapters whose
/// configuration cannot be read are still listed, with no addresses.
pub fn collect_devices(errors: &mut ErrorLog) -> (Vec<Disk>, Vec<NetworkInterface>) {
    let connection = match wmi::WMIConnection::new() {
        Ok(connection) => connection,
        Err(err) => {
            for item in ["disks", "network_interfaces"] {
                errors.record(SectionName::Hardware, item, ErrorKind::Io, format!("WMI ROOT\\CIMV2: {err}"));
            }
            return (Vec::new(), Vec::new());
        }
    };
    let disks = cim_rows::<devices::DiskDrive>(&connection, "Win32_DiskDrive", "disks", errors)
        .map(|drives| devices::disks(&drives))
        .unwrap_or_default();
    let interfaces =
        cim_rows::<devices::NetworkAdapter>(&connection, "Win32_NetworkAdapter", "network_interfaces", errors)
            .map(|adapters| {
                let class = "Win32_NetworkAdapterConfiguration";
                let configurations = cim_rows(&connection, class, "network_interfaces", errors).unwrap_or_default();
                devices::network_interfaces(&adapters, &configurations)
            })
            .unwrap_or_default();
    (disks, interfaces)
}

/// The attached displays, from the EDIDs Windows saved in the registry ([`monitors`]). No display key at all (a
/// server, a session without a screen) is no monitor, not an error.
pub fn collect_monitors(errors: &mut ErrorLog) -> Vec<Monitor> {
    let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
    let models = match hklm.open_subkey_with_flags(monitors::DISPLAY_ENUM, KEY_READ) {
        Ok(key) => key,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(err) => {
            errors.io(SectionName::Hardware, format!(r"monitors HKLM\{}", monitors::DISPLAY_ENUM), &err);
            return Vec::new();
        }
    };
    let mut devices = Vec::new();
    for model in models.enum_keys().filter_map(Result::ok) {
        let Ok(model_key) = models.open_subkey_with_flags(&model, KEY_READ) else { continue };
        for instance in model_key.enum_keys().filter_map(Result::ok) {
            let Ok(key) = model_key.open_subkey_with_flags(&instance, KEY_READ) else { continue };
            let edid = key
                .open_subkey_with_flags("Device Parameters", KEY_READ)
                .and_then(|params| params.get_raw_value("EDID"))
                .ok()
                .map(|value| value.bytes.to_vec());
            devices.push(monitors::DisplayDevice {
                instance: format!(r"DISPLAY\{model}\{instance}"),
                present: key.open_subkey_with_flags("Control", KEY_READ).is_ok(),
                edid,
            });
        }
    }
    let (found, failed) = monitors::monitors(&devices);
    for (instance, why) in failed {
        errors.record(SectionName::Hardware, format!("monitors {instance}"), ErrorKind::Parse, why);
    }
    found
}

/// The TPM from `Win32_Tpm`. No instance is no TPM (none fitted, or switched off in the firmware); a namespace that
/// cannot be read (not an administrator; Wine has none) is recorded and leaves the TPM unknown.
pub fn collect_tpm(errors: &mut ErrorLog) -> Option<Tpm> {
    // The security providers (BitLocker's, the TPM's) answer only calls whose packets are encrypted.
    let connection = wmi::WMIConnection::with_namespace_path(tpm::NAMESPACE)
        .and_then(|connection| connection.set_proxy_blanket(wmi::AuthLevel::PktPrivacy).map(|()| connection));
    let connection = hardware_connection(connection, tpm::NAMESPACE, "tpm", errors)?;
    cim_rows::<tpm::Win32Tpm>(&connection, "Win32_Tpm", "tpm", errors).and_then(|rows| tpm::tpm(&rows))
}

/// A WMI connection for the hardware section, or `None` with why recorded under `item`.
fn hardware_connection(
    connection: Result<wmi::WMIConnection, wmi::WMIError>,
    namespace: &str,
    item: &str,
    errors: &mut ErrorLog,
) -> Option<wmi::WMIConnection> {
    connection
        .map_err(|err| {
            let why = format!("WMI {namespace}: {}", super::describe_wmi_error(&err.to_string()));
            errors.record(SectionName::Hardware, item, ErrorKind::Io, why);
        })
        .ok()
}

/// The batteries: `Win32_Battery` says whether there are any (a desktop has no instance, and then nothing else is
/// asked); the battery driver's classes say what each is and how worn. When those cannot be read the packs are
/// still listed from `Win32_Battery`, and why their wear is missing is recorded.
pub fn collect_batteries(errors: &mut ErrorLog) -> Vec<Battery> {
    let present = hardware_connection(wmi::WMIConnection::new(), r"ROOT\CIMV2", "batteries", errors)
        .and_then(|connection| cim_rows::<battery::Win32Battery>(&connection, "Win32_Battery", "batteries", errors))
        .unwrap_or_default();
    if present.is_empty() {
        return Vec::new();
    }
    let driver = wmi::WMIConnection::with_namespace_path(battery::DRIVER_NAMESPACE);
    let driver = hardware_connection(driver, battery::DRIVER_NAMESPACE, "batteries", errors).and_then(|connection| {
        cim_rows(&connection, "BatteryStaticData", "batteries", errors).map(|statics| battery::DriverData {
            statics,
            full: cim_rows(&connection, "BatteryFullChargedCapacity", "batteries", errors).unwrap_or_default(),
            cycles: cim_rows(&connection, "BatteryCycleCount", "batteries", errors).unwrap_or_default(),
        })
    });
    battery::batteries(&present, driver.as_ref())
}

/// Every row of a `ROOT\CIMV2` class. `SELECT *` and missing properties left empty, rather than the wmi crate's
/// typed query, which names each field in its `SELECT` (refused whole when the class lacks one) and reads each by
/// name: Wine's classes have fewer properties than Windows' (no `FirmwareRevision`), and so may an older Windows.
fn cim_rows<T: serde::de::DeserializeOwned>(
    connection: &wmi::WMIConnection,
    class: &str,
    item: &str,
    errors: &mut ErrorLog,
) -> Option<Vec<T>> {
    let rows: Result<Vec<std::collections::HashMap<String, wmi::Variant>>, _> =
        connection.raw_query(format!("SELECT * FROM {class}"));
    let parsed = rows.map_err(|e| super::describe_wmi_error(&e.to_string())).and_then(|rows| {
        rows.into_iter()
            .map(|row| {
                let object = row.into_iter().map(|(name, value)| (name, json(value))).collect();
                serde_json::from_value(serde_json::Value::Object(object)).map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<T>, String>>()
    });
    parsed.map_err(|err| errors.record(SectionName::Hardware, item, ErrorKind::Io, format!("WMI {class}: {err}"))).ok()
}

/// A WMI value as JSON, so the pure types deserialize from it by name; references and embedded objects, which no
/// property read here has, become null.
fn json(value: wmi::Variant) -> serde_json::Value {
    use serde_json::Value;
    use wmi::Variant;
    match value {
        Variant::String(s) => Value::String(s),
        Variant::Bool(b) => Value::Bool(b),
        Variant::I1(n) => n.into(),
        Variant::I2(n) => n.into(),
        Variant::I4(n) => n.into(),
        Variant::I8(n) => n.into(),
        Variant::UI1(n) => n.into(),
        Variant::UI2(n) => n.into(),
        Variant::UI4(n) => n.into(),
        Variant::UI8(n) => n.into(),
        Variant::R4(f) => f64::from(f).into(),
        Variant::R8(f) => f.into(),
        Variant::Array(items) => Value::Array(items.into_iter().map(json).collect()),
        _ => Value::Null,
    }
}

/// The host's directories: `NetGetJoinInformation`'s domain or workgroup, and the Entra ID joins in the registry.
/// A failed call is recorded and leaves the whole directory unknown (`None`), so a domain member is never taken
/// for an unmanaged machine; missing CloudDomainJoin keys mean no Entra ID join.
pub fn collect_directory(errors: &mut ErrorLog) -> Option<Directory> {
    use windows_sys::Win32::NetworkManagement::NetManagement::{NetApiBufferFree, NetGetJoinInformation};
    let mut name: windows_sys::core::PWSTR = std::ptr::null_mut();
    let mut status: i32 = 0;
    // SAFETY: a null server name asks about this machine; on success `name` is a NUL-terminated buffer the API
    // allocated, read once here and freed with NetApiBufferFree.
    let code = unsafe { NetGetJoinInformation(std::ptr::null(), &mut name, &mut status) };
    if code != 0 || name.is_null() {
        let why = if code != 0 { format!("failed with status {code}") } else { "returned no name".to_string() };
        errors.record(SectionName::Host, "directory.domain", ErrorKind::Io, format!("NetGetJoinInformation {why}"));
        return None;
    }
    // SAFETY: see above; the buffer stays valid until freed below.
    let text = unsafe { crate::platform::from_wide(name) };
    // SAFETY: freeing the buffer NetGetJoinInformation allocated, once.
    unsafe { NetApiBufferFree(name.cast()) };
    let join = (u32::try_from(status).unwrap_or(0), text);
    let hklm = RegKey::predef(HKEY_LOCAL_MACHINE);
    let mut read = |path: &str| {
        read_subkeys(&hklm, path, &|_| true, (SectionName::Host, format!(r"directory.entra HKLM\{path}")), errors)
    };
    let joins: Vec<BTreeMap<String, RegValue>> = read(directory::JOIN_INFO).into_iter().map(|(_, v)| v).collect();
    let tenants: BTreeMap<String, BTreeMap<String, RegValue>> = read(directory::TENANT_INFO).into_iter().collect();
    Some(directory::directory(join, &joins, &tenants))
}

/// The posture checks' keys: [`posture::KEYS`], and [`posture::USER_KEYS`] below each person's hive.
fn posture_snapshot(errors: &mut ErrorLog) -> Snapshot {
    let mut snapshot = hklm_snapshot(&posture::KEYS, SectionName::Checks, errors);
    // People's hives only (local accounts S-1-5-21-…, Entra ID accounts S-1-12-1-…): the service accounts' hives
    // never show a screen.
    let users = RegKey::predef(HKEY_USERS);
    let sids = users
        .enum_keys()
        .filter_map(Result::ok)
        .filter(|sid| (sid.starts_with("S-1-5-21-") || sid.starts_with("S-1-12-1-")) && !sid.ends_with("_Classes"));
    for sid in sids {
        for below in posture::USER_KEYS {
            if let Ok(key) = users.open_subkey_with_flags(format!(r"{sid}\{below}"), KEY_READ) {
                snapshot.keys.insert(format!(r"HKU\{sid}\{below}"), values(&key));
            }
        }
    }
    snapshot.defender_mode = defender_mode();
    if posture::smb1_needs_features(&snapshot) {
        snapshot.smb1_features = smb1_features();
    }
    snapshot
}

/// Defender's running mode from its WMI status (`Get-MpComputerStatus`'s `AMRunningMode`).
fn defender_mode() -> WmiRead<String> {
    let rows = wmi::WMIConnection::with_namespace_path(posture::DEFENDER_NAMESPACE)
        .and_then(|connection| connection.query::<posture::MpComputerStatus>());
    match rows {
        Ok(rows) => match rows.into_iter().find_map(|row| row.am_running_mode) {
            Some(mode) => WmiRead::Read(mode),
            None => WmiRead::Unreadable("MSFT_MpComputerStatus gives no AMRunningMode".to_string()),
        },
        Err(err) => WmiRead::Unreadable(err.to_string()),
    }
}

/// The SMB 1.0 server's optional features (`Get-WindowsOptionalFeature`'s source).
fn smb1_features() -> WmiRead<Vec<posture::OptionalFeature>> {
    match wmi::WMIConnection::with_namespace_path(r"ROOT\CIMV2")
        .and_then(|connection| connection.raw_query::<posture::OptionalFeature>(posture::SMB1_FEATURES_QUERY))
    {
        Ok(features) => WmiRead::Read(features),
        Err(err) => WmiRead::Unreadable(err.to_string()),
    }
}

/// The posture checks of a live Windows: the registry ones, then those decided from the patches section
/// (`updates.*`, `kernel.reboot_required`).
pub fn collect_checks(from_patches: Vec<Check>, now: DateTime<Utc>, errors: &mut ErrorLog) -> Vec<Check> {
    let mut checks = posture::checks(&posture_snapshot(errors), now);
    let (ages, lockout) = account_policy();
    checks.extend(password::checks(
        ages.as_ref().copied().map_err(String::as_str),
        lockout.as_ref().copied().map_err(String::as_str),
    ));
    checks.push(guest::check(local_accounts().as_deref().map_err(String::as_str)));
    let volumes = encryptable_volumes();
    checks.push(bitlocker::check(volumes.as_deref().map_err(String::as_str)));
    checks.extend(from_patches);
    checks
}

/// The local account policy (`net accounts`): `NetUserModalsGet` level 0 (password ages) and level 3 (lockout),
/// each read on its own so one refused level leaves the other's check standing.
fn account_policy() -> (Result<u32, String>, Result<password::Lockout, String>) {
    use windows_sys::Win32::NetworkManagement::NetManagement::{USER_MODALS_INFO_0, USER_MODALS_INFO_3};
    // SAFETY: each level is read into the structure Microsoft documents for it.
    let ages = unsafe { modals_level::<USER_MODALS_INFO_0>(0) }.map(|info| info.usrmod0_max_passwd_age);
    // SAFETY: as above.
    let lockout = unsafe { modals_level::<USER_MODALS_INFO_3>(3) }.map(|info| password::Lockout {
        threshold: info.usrmod3_lockout_threshold,
        duration: info.usrmod3_lockout_duration,
    });
    (ages, lockout)
}

/// One level of `NetUserModalsGet`, copied out of the buffer the API allocated, which is then freed.
///
/// # Safety
/// `T` must be the structure the API returns for `level` (`USER_MODALS_INFO_<level>`).
unsafe fn modals_level<T: Copy>(level: u32) -> Result<T, String> {
    use windows_sys::Win32::NetworkManagement::NetManagement::{NetApiBufferFree, NetUserModalsGet};
    let mut buffer: *mut u8 = std::ptr::null_mut();
    // SAFETY: a null server is this machine; on success `buffer` points to the level's structure, allocated by the
    // API, read once and freed with NetApiBufferFree.
    let code = unsafe { NetUserModalsGet(std::ptr::null(), level, &mut buffer) };
    if code != 0 || buffer.is_null() {
        return Err(format!("level {level} failed with status {code}"));
    }
    // SAFETY: the caller guarantees T is this level's structure; the buffer holds one.
    let value = unsafe { std::ptr::read_unaligned(buffer.cast::<T>()) };
    // SAFETY: freeing the buffer the call allocated, once.
    unsafe { NetApiBufferFree(buffer.cast()) };
    Ok(value)
}

/// The most accounts reported in `host.accounts`: on a domain controller `NetUserEnum` lists the whole domain, which
/// is the directory's inventory, not this machine's.
const MAX_ACCOUNTS: usize = 2_000;

/// The local accounts with their relative ids and flags (`NetUserEnum` level 20), every page of them (the Guest
/// check needs the whole list: its order is not documented).
fn local_accounts() -> Result<Vec<guest::LocalAccount>, String> {
    use windows_sys::Win32::NetworkManagement::NetManagement::{
        FILTER_NORMAL_ACCOUNT, MAX_PREFERRED_LENGTH, NetUserEnum, USER_INFO_20,
    };
    let mut accounts = Vec::new();
    let mut resume: u32 = 0;
    let page = |buffer: *mut *mut u8, read: *mut u32, total: *mut u32| {
        // SAFETY: a null server is this machine; the out-pointers are net_pages' own.
        unsafe {
            NetUserEnum(
                std::ptr::null(),
                20,
                FILTER_NORMAL_ACCOUNT,
                buffer,
                MAX_PREFERRED_LENGTH,
                read,
                total,
                &mut resume,
            )
        }
    };
    let each = |entry: &USER_INFO_20| {
        accounts.push(guest::LocalAccount {
            // SAFETY: a NUL-terminated string inside the page's buffer, alive while `entry` is.
            name: unsafe { crate::platform::from_wide(entry.usri20_name) },
            rid: entry.usri20_user_id,
            flags: entry.usri20_flags,
        })
    };
    // SAFETY: level 20 fills the buffer with USER_INFO_20 entries.
    unsafe { net_pages("level 20", page, each) }?;
    Ok(accounts)
}

/// BitLocker's volumes from WMI. Needs an administrator (the service runs as LocalSystem); the error says why not
/// and becomes the check's `unknown` reason.
fn encryptable_volumes() -> Result<Vec<bitlocker::EncryptableVolume>, String> {
    let connection = wmi::WMIConnection::with_namespace_path(bitlocker::NAMESPACE).map_err(|e| e.to_string())?;
    // BitLocker's provider answers only calls whose packets are encrypted, even locally.
    connection.set_proxy_blanket(wmi::AuthLevel::PktPrivacy).map_err(|e| e.to_string())?;
    connection.query::<bitlocker::EncryptableVolume>().map_err(|e| e.to_string())
}

/// Every value of a key by name (values that cannot be read are left out).
fn values(key: &RegKey) -> BTreeMap<String, RegValue> {
    key.enum_values().filter_map(Result::ok).filter_map(|(n, v)| convert(&v).map(|v| (n, v))).collect()
}

/// winreg's raw value (bytes and a type) as the pure code's [`RegValue`].
fn convert(value: &WinValue) -> Option<RegValue> {
    let utf16_all = || {
        let units: Vec<u16> = value.bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
        String::from_utf16_lossy(&units)
    };
    let utf16 = || utf16_all().split('\0').next().unwrap_or_default().to_string();
    Some(match value.vtype {
        RegType::REG_SZ => RegValue::Sz(utf16()),
        RegType::REG_EXPAND_SZ => RegValue::ExpandSz(utf16()),
        RegType::REG_MULTI_SZ => RegValue::MultiSz(super::multi_sz(&utf16_all())),
        RegType::REG_DWORD => RegValue::Dword(u32::from_le_bytes(value.bytes.get(..4)?.try_into().ok()?)),
        RegType::REG_QWORD => RegValue::Qword(u64::from_le_bytes(value.bytes.get(..8)?.try_into().ok()?)),
        _ => RegValue::Binary(value.bytes.to_vec()),
    })
}
