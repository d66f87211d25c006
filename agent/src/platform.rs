//! The few file-system facts whose answer differs by operating system, one documented function each, so the rest of
//! the agent stays the same code on Linux, macOS and Windows (as ripgrep keeps its per-OS code in one place).
//!
//! On Windows, file access is governed by ACLs, not permission bits: the state directory is created with, and checked
//! for, an access list of SYSTEM and Administrators only (`transport::access`), and [`mode`] answers the owner-only
//! modes the Unix checks expect. [`to_wide`] and [`from_wide`] make and read the strings Windows' own calls take
//! and hand back.

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::path::Path;

/// The permission bits (`st_mode & 0o7777`) of a file or directory. Windows: 0o700 for a directory and 0o600 for a
/// file; the access list is checked instead (see the module documentation).
pub fn mode(meta: &Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.permissions().mode()
    }
    #[cfg(not(unix))]
    {
        if meta.is_dir() { 0o700 } else { 0o600 }
    }
}

/// Creates one directory readable by its owner only (mode 0700 on Unix; Windows: SYSTEM and Administrators only,
/// not inheriting the parent's list).
pub fn create_private_dir(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().mode(0o700).create(path)
    }
    #[cfg(windows)]
    {
        crate::transport::access_windows::create_private_dir(path)
    }
    #[cfg(not(any(unix, windows)))]
    {
        std::fs::create_dir(path)
    }
}

/// Makes files created through `options` readable by their owner only (mode 0600 on Unix; Windows: inherited ACL).
pub fn private_on_create(options: &mut OpenOptions) -> &mut OpenOptions {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options
}

/// Makes an existing file readable by its owner only (mode 0600 on Unix; Windows: nothing yet).
pub fn make_private(file: &File) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

/// The bytes of a path as the operating system stores them (Unix), or its UTF-8 form (Windows paths are UTF-16).
pub fn path_bytes(path: &Path) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        path.as_os_str().as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        path.to_string_lossy().as_bytes().to_vec()
    }
}

/// True for a block device (a disk, as opposed to a file holding an image). Windows: never, until raw volumes
/// (`\\.\PhysicalDriveN`) are supported.
pub fn is_block_device(meta: &Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        meta.file_type().is_block_device()
    }
    #[cfg(not(unix))]
    {
        let _ = meta;
        false
    }
}

/// Reads at `offset` without moving a shared cursor (`pread`; `ReadFile` with an offset on Windows, which does move
/// the cursor, harmless as every read here names its offset).
pub fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileExt;
        file.read_at(buffer, offset)
    }
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        file.seek_read(buffer, offset)
    }
}

/// How a file will be read, as a hint to the kernel's read-ahead.
#[derive(Debug, Clone, Copy)]
pub enum Access {
    Sequential,
    Random,
}

/// Tells the kernel how `file` will be read (`posix_fadvise` on Linux; elsewhere no hint, only slower reads).
pub fn advise(file: &File, access: Access) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let advice = match access {
            Access::Sequential => rustix::fs::Advice::Sequential,
            Access::Random => rustix::fs::Advice::Random,
        };
        let _ = rustix::fs::fadvise(file, 0, None, advice);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        let _ = (file, access);
    }
}

/// A mounted filesystem's size: (block size, total blocks, free blocks, blocks available to unprivileged users).
/// `None` where statvfs does not exist (Windows) or fails.
pub fn filesystem_usage(mount_point: &str) -> Option<(u64, u64, u64, u64)> {
    #[cfg(unix)]
    {
        let u = rustix::fs::statvfs(mount_point).ok()?;
        let block = if u.f_frsize > 0 { u.f_frsize } else { u.f_bsize };
        Some((block, u.f_blocks, u.f_bfree, u.f_bavail))
    }
    #[cfg(not(unix))]
    {
        let _ = mount_point;
        None
    }
}

/// `text` as the NUL-terminated UTF-16 string Windows' calls take.
#[cfg(windows)]
pub fn to_wide(text: impl AsRef<std::ffi::OsStr>) -> Vec<u16> {
    use std::os::windows::ffi::OsStrExt;
    text.as_ref().encode_wide().chain(std::iter::once(0)).collect()
}

/// A NUL-terminated UTF-16 string a Windows call returned, as text (empty for null); lossy, as Windows' own
/// conversions are.
///
/// # Safety
/// `text` is null or points to a NUL-terminated UTF-16 string that stays valid for the call.
#[cfg(windows)]
pub unsafe fn from_wide(text: *const u16) -> String {
    if text.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller: the units up to the NUL are readable.
    unsafe {
        let len = (0..).take_while(|&i| *text.add(i) != 0).count();
        String::from_utf16_lossy(std::slice::from_raw_parts(text, len))
    }
}
