//! The Berkeley DB hash file `Packages` that rpm used before 4.16 (RHEL/CentOS ≤ 8, Amazon Linux 2, SLES ≤ 15 SP2).
//!
//! Only what reading package headers needs: the metadata page gives the page size, byte order and last page; every
//! hash page holds key/data item pairs, and a package header (always larger than a page) is a data item of type
//! "off-page" naming the first page of a chain of overflow pages. The format is described in Berkeley DB's
//! `dbinc/db_page.h`; go-rpmdb's reader was the reference for which parts rpm uses.

use crate::inventory::software::DbError;

const HASH_MAGIC: u32 = 0x0006_1561;
const PAGE_HEADER: usize = 26;
const PAGE_HASH_UNSORTED: u8 = 2;
const PAGE_OVERFLOW: u8 = 7;
const PAGE_HASH_META: u8 = 8;
const PAGE_HASH: u8 = 13;
const ITEM_OFFPAGE: u8 = 3;

/// The header blobs found in the file, and why the list may be incomplete.
pub(super) struct Blobs {
    pub blobs: Vec<Vec<u8>>,
    pub problems: Vec<DbError>,
}

#[derive(Clone, Copy)]
struct Order {
    big_endian: bool,
}

impl Order {
    fn u16(self, b: &[u8], at: usize) -> Option<u16> {
        let raw: [u8; 2] = b.get(at..at + 2)?.try_into().ok()?;
        Some(if self.big_endian { u16::from_be_bytes(raw) } else { u16::from_le_bytes(raw) })
    }

    fn u32(self, b: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = b.get(at..at + 4)?.try_into().ok()?;
        Some(if self.big_endian { u32::from_be_bytes(raw) } else { u32::from_le_bytes(raw) })
    }
}

pub(super) fn read(data: &[u8]) -> Result<Blobs, DbError> {
    let magic_le = data.get(12..16).map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    let order = match magic_le {
        None => return Err(DbError::Truncated("shorter than a Berkeley DB metadata page".to_string())),
        Some(HASH_MAGIC) => Order { big_endian: false },
        Some(m) if m.swap_bytes() == HASH_MAGIC => Order { big_endian: true },
        Some(_) => return Err(DbError::Corrupt("not a Berkeley DB hash database".to_string())),
    };
    let page_size = order.u32(data, 20).unwrap_or(0) as usize;
    if !(512..=65536).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(DbError::Corrupt(format!("Berkeley DB page size {page_size} is not valid")));
    }
    if data.get(24) != Some(&0) {
        return Err(DbError::Corrupt("the Berkeley DB file is encrypted".to_string()));
    }
    if data.get(25) != Some(&PAGE_HASH_META) {
        return Err(DbError::Corrupt("the first page is not a hash metadata page".to_string()));
    }
    let last_page = order.u32(data, 32).unwrap_or(0) as usize;

    let mut out = Blobs { blobs: Vec::new(), problems: Vec::new() };
    let pages_present = data.len() / page_size;
    if pages_present <= last_page {
        out.problems.push(DbError::Truncated(format!(
            "the database has {} of its {} pages",
            pages_present,
            last_page + 1
        )));
    }
    let file = File { data, page_size, order, pages: pages_present.min(last_page + 1) };
    for number in 0..file.pages {
        let Some(page) = file.page(number) else { break };
        if page[25] != PAGE_HASH && page[25] != PAGE_HASH_UNSORTED {
            continue;
        }
        if let Err(problem) = file.hash_page(page, &mut out.blobs) {
            out.problems.push(problem);
        }
    }
    Ok(out)
}

struct File<'a> {
    data: &'a [u8],
    page_size: usize,
    order: Order,
    pages: usize,
}

impl<'a> File<'a> {
    fn page(&self, number: usize) -> Option<&'a [u8]> {
        if number >= self.pages {
            return None;
        }
        self.data.get(number * self.page_size..(number + 1) * self.page_size)
    }

    /// Collects the off-page data items of one hash page; items alternate key, data.
    fn hash_page(&self, page: &[u8], blobs: &mut Vec<Vec<u8>>) -> Result<(), DbError> {
        let entries = usize::from(self.order.u16(page, 20).unwrap_or(0));
        if PAGE_HEADER + entries * 2 > page.len() {
            return Err(DbError::Corrupt(format!("a hash page claims {entries} items")));
        }
        for item in (1..entries).step_by(2) {
            let offset = usize::from(self.order.u16(page, PAGE_HEADER + item * 2).unwrap_or(0));
            let Some(&kind) = page.get(offset) else {
                return Err(DbError::Corrupt("a hash item points outside its page".to_string()));
            };
            if kind != ITEM_OFFPAGE {
                // Small items are rpm's own bookkeeping (the record counter), never a package header.
                continue;
            }
            let (Some(first), Some(total)) = (self.order.u32(page, offset + 4), self.order.u32(page, offset + 8))
            else {
                return Err(DbError::Corrupt("an off-page item is cut by its page end".to_string()));
            };
            blobs.push(self.overflow_chain(first as usize, total as usize)?);
        }
        Ok(())
    }

    /// Concatenates a chain of overflow pages holding `total` bytes.
    fn overflow_chain(&self, first: usize, total: usize) -> Result<Vec<u8>, DbError> {
        if total > self.data.len() {
            return Err(DbError::Corrupt(format!("an item claims {total} bytes, more than the file")));
        }
        let mut value = Vec::with_capacity(total);
        let mut number = first;
        // Each page is visited at most once; a longer chain is a loop.
        for _ in 0..self.pages {
            let page =
                self.page(number).ok_or_else(|| DbError::Truncated(format!("overflow page {number} is missing")))?;
            if page[25] != PAGE_OVERFLOW {
                return Err(DbError::Corrupt(format!("page {number} should be an overflow page")));
            }
            // On overflow pages the "free area offset" field holds the number of bytes stored on the page.
            let len = usize::from(self.order.u16(page, 22).unwrap_or(0));
            let bytes = page
                .get(PAGE_HEADER..PAGE_HEADER + len)
                .ok_or_else(|| DbError::Corrupt(format!("overflow page {number} claims {len} bytes")))?;
            value.extend_from_slice(bytes);
            let next = self.order.u32(page, 16).unwrap_or(0) as usize;
            if next == 0 {
                if value.len() != total {
                    return Err(DbError::Corrupt(format!("an item holds {} of its {total} bytes", value.len())));
                }
                return Ok(value);
            }
            number = next;
        }
        Err(DbError::Corrupt("an overflow chain loops".to_string()))
    }
}
