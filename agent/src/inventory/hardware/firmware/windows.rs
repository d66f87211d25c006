//! The raw SMBIOS table on Windows: `GetSystemFirmwareTable('RSMB')` returns it behind an 8-byte header, the same
//! format as the RSMB dumps `source::from_dump` already decodes, so only this read is Windows-specific.

use std::io;

use windows_sys::Win32::System::SystemInformation::{GetSystemFirmwareTable, RSMB};

/// The RSMB blob (header and table), read twice as documented: once for its size, once into a buffer that size.
pub fn read_rsmb() -> io::Result<Vec<u8>> {
    // SAFETY: a null buffer of size 0 only asks for the size the table needs.
    let size = unsafe { GetSystemFirmwareTable(RSMB, 0, std::ptr::null_mut(), 0) };
    if size == 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buffer = vec![0u8; size as usize];
    // SAFETY: `buffer` is valid for writes of `size` bytes, the size passed.
    let written = unsafe { GetSystemFirmwareTable(RSMB, 0, buffer.as_mut_ptr(), size) };
    if written == 0 {
        return Err(io::Error::last_os_error());
    }
    if written > size {
        return Err(io::Error::other(format!(
            "the SMBIOS table grew from {size} to {written} bytes between two reads"
        )));
    }
    buffer.truncate(written as usize);
    Ok(buffer)
}
