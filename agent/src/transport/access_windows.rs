//! The Windows calls behind the state directory's access rule (see `access.rs`): create the directory with its
//! protected list, and read a directory's list back as [`AccessEntry`]s. Thin glue over the documented Win32
//! security API; the decision is made in `access.rs`.

use std::io;
use std::path::Path;
use std::ptr;

use windows_sys::Win32::Foundation::{ERROR_SUCCESS, LocalFree};
use windows_sys::Win32::Security::Authorization::{
    ConvertSidToStringSidW, ConvertStringSecurityDescriptorToSecurityDescriptorW, GetNamedSecurityInfoW,
    SDDL_REVISION_1, SE_FILE_OBJECT,
};
use windows_sys::Win32::Security::{
    ACCESS_ALLOWED_ACE, ACE_HEADER, ACL, ACL_SIZE_INFORMATION, AclSizeInformation, DACL_SECURITY_INFORMATION, GetAce,
    GetAclInformation, INHERIT_ONLY_ACE, OWNER_SECURITY_INFORMATION, PSECURITY_DESCRIPTOR, PSID, SECURITY_ATTRIBUTES,
};
use windows_sys::Win32::Storage::FileSystem::CreateDirectoryW;
use windows_sys::Win32::System::SystemServices::{ACCESS_ALLOWED_ACE_TYPE, ACCESS_DENIED_ACE_TYPE};

use super::access::{AccessEntry, STATE_DIR_SDDL};
use crate::platform::to_wide;

/// Memory the security API allocated with `LocalAlloc`, freed on drop.
struct Local(*mut core::ffi::c_void);

impl Drop for Local {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: the pointer came from an API documented to allocate it with LocalAlloc, and is freed once.
            unsafe { LocalFree(self.0) };
        }
    }
}

/// Creates one directory whose DACL is [`STATE_DIR_SDDL`] from the start, so no other account ever sees it open.
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    let sddl = to_wide(STATE_DIR_SDDL);
    let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: `sddl` is NUL-terminated UTF-16; the descriptor pointer is written by the call.
    let ok = unsafe {
        ConvertStringSecurityDescriptorToSecurityDescriptorW(
            sddl.as_ptr(),
            SDDL_REVISION_1,
            &mut descriptor,
            ptr::null_mut(),
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let descriptor = Local(descriptor);
    let attributes = SECURITY_ATTRIBUTES {
        nLength: size_of::<SECURITY_ATTRIBUTES>() as u32,
        lpSecurityDescriptor: descriptor.0,
        bInheritHandle: 0,
    };
    let name = to_wide(path);
    // SAFETY: `name` is NUL-terminated UTF-16 and `attributes` points at a valid descriptor for the call's length.
    if unsafe { CreateDirectoryW(name.as_ptr(), &attributes) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A directory's owner and access list as [`super::access::check_dir_acl`] takes them.
pub struct DirAccess {
    /// The owner's SID string; `None` when the descriptor names none.
    pub owner: Option<String>,
    /// The DACL's entries, in order; `None` for a NULL DACL (no list: everyone has full control).
    pub dacl: Option<Vec<AccessEntry>>,
}

/// The owner and DACL of `path`.
pub fn read_access(path: &Path) -> io::Result<DirAccess> {
    let name = to_wide(path);
    let mut owner: PSID = ptr::null_mut();
    let mut dacl: *mut ACL = ptr::null_mut();
    let mut descriptor: PSECURITY_DESCRIPTOR = ptr::null_mut();
    // SAFETY: `name` is NUL-terminated; the DACL pointer points into the descriptor, which outlives its use below.
    let status = unsafe {
        GetNamedSecurityInfoW(
            name.as_ptr(),
            SE_FILE_OBJECT,
            DACL_SECURITY_INFORMATION | OWNER_SECURITY_INFORMATION,
            &mut owner,
            ptr::null_mut(),
            &mut dacl,
            ptr::null_mut(),
            &mut descriptor,
        )
    };
    if status != ERROR_SUCCESS {
        return Err(io::Error::from_raw_os_error(status as i32));
    }
    let _descriptor = Local(descriptor);
    let owner = if owner.is_null() { None } else { Some(sid_string(owner)?) };
    if dacl.is_null() {
        return Ok(DirAccess { owner, dacl: None });
    }
    let mut size = ACL_SIZE_INFORMATION::default();
    // SAFETY: `dacl` is a valid ACL and `size` has the length passed.
    let ok = unsafe {
        GetAclInformation(
            dacl,
            (&mut size as *mut ACL_SIZE_INFORMATION).cast(),
            size_of::<ACL_SIZE_INFORMATION>() as u32,
            AclSizeInformation,
        )
    };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let mut entries = Vec::with_capacity(size.AceCount as usize);
    for index in 0..size.AceCount {
        let mut ace: *mut core::ffi::c_void = ptr::null_mut();
        // SAFETY: the index is below the ACL's entry count.
        if unsafe { GetAce(dacl, index, &mut ace) } == 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: every ACE starts with an ACE_HEADER.
        let header = unsafe { ptr::read_unaligned(ace.cast::<ACE_HEADER>()) };
        let inherit_only = u32::from(header.AceFlags) & INHERIT_ONLY_ACE != 0;
        let kind = u32::from(header.AceType);
        if kind != ACCESS_ALLOWED_ACE_TYPE && kind != ACCESS_DENIED_ACE_TYPE {
            // Object and callback entries do not appear on files; judged as an unknown grant, never skipped.
            entries.push(AccessEntry { sid: format!("an entry of type {kind}"), allow: true, mask: 1, inherit_only });
            continue;
        }
        // SAFETY: allowed and denied entries share ACCESS_ALLOWED_ACE's layout, the SID starting at SidStart.
        let (mask, sid) = unsafe {
            let entry = ace.cast::<ACCESS_ALLOWED_ACE>();
            (ptr::read_unaligned(ptr::addr_of!((*entry).Mask)), ptr::addr_of_mut!((*entry).SidStart).cast())
        };
        let sid = sid_string(sid)?;
        entries.push(AccessEntry { sid, allow: kind == ACCESS_ALLOWED_ACE_TYPE, mask, inherit_only });
    }
    Ok(DirAccess { owner, dacl: Some(entries) })
}

/// A SID as its string form, `S-1-5-18`.
pub(crate) fn sid_string(sid: PSID) -> io::Result<String> {
    let mut text: *mut u16 = ptr::null_mut();
    // SAFETY: `sid` points at a valid SID; the string is allocated by the call and freed by `Local`.
    if unsafe { ConvertSidToStringSidW(sid, &mut text) } == 0 {
        return Err(io::Error::last_os_error());
    }
    let text = Local(text.cast());
    // SAFETY: the call returned a NUL-terminated UTF-16 string, freed only when `text` drops after this.
    Ok(unsafe { crate::platform::from_wide(text.0.cast::<u16>()) })
}
