//! A read-only reader of bbolt (BoltDB) files, where containerd keeps its images, containers and snapshots and
//! Podman its containers' state.
//!
//! Written here rather than taken from a crate because the only Rust implementation (`bbolt-rs`) is a whole
//! read-write engine that pulls a command-line parser, random numbers and more into the agent, while an inventory
//! needs only to walk the B+tree of a file another process owns: the meta page, branch and leaf pages, nested and
//! inline buckets. Pages are read on demand with positioned reads, so a database of hundreds of MiB costs the few
//! pages looked at, and every offset is checked against the page it claims to be in; a damaged file is an error,
//! never a panic or a loop.
//!
//! The layout is bbolt's (`page.go`, `node.go`, `bucket.go`, `db.go`): two meta pages at the start, each naming the
//! root bucket's page and the transaction it committed; the valid one with the higher transaction id is current.
//! Integers are in the writer's byte order, little-endian on every platform containerd and Podman ship for.

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const BRANCH_PAGE: u16 = 0x01;
const LEAF_PAGE: u16 = 0x02;
const META_PAGE: u16 = 0x04;
const BUCKET_LEAF: u32 = 0x01;
/// The meta fields the checksum covers: magic, version, page size, flags, root bucket, freelist, high water, txid.
const META_SUMMED: usize = 56;
/// Deeper than any tree a real file holds (a B+tree of 4 KiB pages is a handful of levels even at terabytes); past
/// this the file is taken as damaged rather than followed.
const MAX_DEPTH: usize = 32;
/// A page larger than this (with its overflow) is not a real database's.
const MAX_PAGE_BYTES: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BoltError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("not a bbolt database, or both of its meta pages are damaged")]
    NoMeta,
    #[error("damaged database: {0}")]
    Damaged(String),
}

fn damaged(what: impl Into<String>) -> BoltError {
    BoltError::Damaged(what.into())
}

/// Where a database's bytes are read from: the file itself, or bytes in memory in tests.
pub trait Source {
    fn len(&self) -> Result<u64, std::io::Error>;
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), std::io::Error>;
}

impl Source for [u8] {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(<[u8]>::len(self) as u64)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), std::io::Error> {
        let start = usize::try_from(offset).map_err(|_| std::io::ErrorKind::UnexpectedEof)?;
        let bytes = start.checked_add(buf.len()).and_then(|end| self.get(start..end));
        buf.copy_from_slice(bytes.ok_or(std::io::ErrorKind::UnexpectedEof)?);
        Ok(())
    }
}

impl Source for std::fs::File {
    fn len(&self) -> Result<u64, std::io::Error> {
        Ok(self.metadata()?.len())
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), std::io::Error> {
        let mut done = 0;
        while done < buf.len() {
            let at = offset.checked_add(done as u64).ok_or(std::io::ErrorKind::UnexpectedEof)?;
            match crate::platform::read_at(self, &mut buf[done..], at)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => done += n,
            }
        }
        Ok(())
    }
}

/// A bucket: where its tree starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bucket {
    Page(u64),
    /// A small bucket stored inside its parent's leaf: the bytes of its one leaf page.
    Inline(Vec<u8>),
}

/// One key of a bucket: plain data or a nested bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    Data(Vec<u8>),
    Bucket(Bucket),
}

/// A key and its value.
pub type Entry = (Vec<u8>, Value);

/// An open database: the source and what its current meta page says.
pub struct Db<S: ?Sized> {
    page_size: u64,
    /// Pages at or past this id were never allocated (or lie past the end of the file): a reference to one is
    /// damage. The meta page's own count is not trusted beyond the file's length, since its checksum only says the
    /// page is whole, not that it is honest.
    high_water: u64,
    len: u64,
    root: Bucket,
    source: Box<S>,
}

impl<S: Source + ?Sized> Db<S> {
    pub fn open(source: Box<S>) -> Result<Db<S>, BoltError> {
        let len = source.len()?;
        let mut best: Option<Meta> = None;
        // Meta 0 sits at 0 and names the page size that puts meta 1 after it; when meta 0 is damaged, meta 1 is
        // looked for at the page sizes bbolt is built with.
        let first = read_meta(&*source, 0, len);
        let sizes: Vec<u64> = match &first {
            Some(meta) => vec![meta.page_size],
            None => vec![4096, 8192, 16384, 65536],
        };
        best = better(best, first);
        for size in sizes {
            best = better(best, read_meta(&*source, size, len));
        }
        let meta = best.ok_or(BoltError::NoMeta)?;
        let high_water = meta.high_water.min(len / meta.page_size);
        Ok(Db { page_size: meta.page_size, high_water, len, root: Bucket::Page(meta.root), source })
    }

    pub fn root(&self) -> &Bucket {
        &self.root
    }

    /// The value of `key` in `bucket`, found by descending the tree.
    pub fn get(&self, bucket: &Bucket, key: &[u8]) -> Result<Option<Value>, BoltError> {
        let mut page = self.bucket_page(bucket)?;
        for _ in 0..MAX_DEPTH {
            match page.flags {
                LEAF_PAGE => {
                    for i in 0..page.count {
                        let (flags, k, v) = page.leaf(i)?;
                        if k == key {
                            return Ok(Some(value(flags, v)?));
                        }
                    }
                    return Ok(None);
                }
                BRANCH_PAGE => {
                    // Each branch element's key is the first key of its child: the child to descend is the last
                    // whose key is not past the one looked for.
                    let mut child = None;
                    for i in 0..page.count {
                        let (k, id) = page.branch(i)?;
                        if k > key && child.is_some() {
                            break;
                        }
                        child = Some(id);
                    }
                    let Some(id) = child else { return Ok(None) };
                    page = self.page(id)?;
                }
                other => return Err(damaged(format!("page {} has flags {other:#x} inside a tree", page.id))),
            }
        }
        Err(damaged("a tree deeper than any real one"))
    }

    /// The nested bucket at `path` from the root, or `None` when any part of it is missing (or is not a bucket).
    pub fn bucket_at(&self, path: &[&[u8]]) -> Result<Option<Bucket>, BoltError> {
        let mut bucket = self.root.clone();
        for name in path {
            match self.get(&bucket, name)? {
                Some(Value::Bucket(next)) => bucket = next,
                _ => return Ok(None),
            }
        }
        Ok(Some(bucket))
    }

    /// Every key of `bucket` in key order, at most `limit` of them (`true` when there were more).
    pub fn entries(&self, bucket: &Bucket, limit: usize) -> Result<(Vec<Entry>, bool), BoltError> {
        let mut walk = Walk { limit, out: Vec::new(), more: false, visited: 0 };
        self.walk(self.bucket_page(bucket)?, 0, &mut walk)?;
        Ok((walk.out, walk.more))
    }

    fn walk(&self, page: Page, depth: usize, walk: &mut Walk) -> Result<(), BoltError> {
        // A tree visits each page once, so more visits than pages mean branches that point back into the tree;
        // without this, a damaged branch page listing itself would be walked for ever.
        walk.visited += 1;
        if depth >= MAX_DEPTH || walk.visited > self.high_water {
            return Err(damaged("a tree whose branches loop"));
        }
        match page.flags {
            LEAF_PAGE => {
                for i in 0..page.count {
                    if walk.out.len() == walk.limit {
                        walk.more = true;
                        return Ok(());
                    }
                    let (flags, k, v) = page.leaf(i)?;
                    walk.out.push((k.to_vec(), value(flags, v)?));
                }
            }
            BRANCH_PAGE => {
                // Only the children's ids are kept while descending, not this page's bytes: a damaged file's large
                // pages would otherwise pile up one per level.
                let children =
                    (0..page.count).map(|i| page.branch(i).map(|(_, id)| id)).collect::<Result<Vec<_>, _>>()?;
                drop(page);
                for id in children {
                    self.walk(self.page(id)?, depth + 1, walk)?;
                    if walk.more {
                        return Ok(());
                    }
                }
            }
            other => return Err(damaged(format!("page {} has flags {other:#x} inside a tree", page.id))),
        }
        Ok(())
    }

    /// A bucket's data value, `None` when the key is missing or is a bucket.
    pub fn data(&self, bucket: &Bucket, key: &[u8]) -> Result<Option<Vec<u8>>, BoltError> {
        Ok(match self.get(bucket, key)? {
            Some(Value::Data(v)) => Some(v),
            _ => None,
        })
    }

    fn bucket_page(&self, bucket: &Bucket) -> Result<Page, BoltError> {
        match bucket {
            Bucket::Page(id) => self.page(*id),
            Bucket::Inline(bytes) => {
                let page = Page::parse(bytes.clone())?;
                if page.flags != LEAF_PAGE {
                    return Err(damaged("an inline bucket that is not a leaf"));
                }
                Ok(page)
            }
        }
    }

    fn page(&self, id: u64) -> Result<Page, BoltError> {
        // Pages 0 and 1 are the metas; anything at or past the high-water mark was never written in this state.
        if id < 2 || id >= self.high_water {
            return Err(damaged(format!("a reference to page {id}, outside 2..{}", self.high_water)));
        }
        // `id` is below the file's page count, so this cannot overflow.
        let offset = id * self.page_size;
        let mut header = [0u8; PAGE_HEADER];
        self.source.read_at(offset, &mut header)?;
        let overflow = u64::from(u32_at(&header, 12));
        let bytes = (overflow + 1).saturating_mul(self.page_size);
        if bytes > MAX_PAGE_BYTES || offset.saturating_add(bytes) > self.len {
            return Err(damaged(format!("page {id} claims {bytes} bytes")));
        }
        let mut buf = vec![0u8; bytes as usize];
        self.source.read_at(offset, &mut buf)?;
        let page = Page::parse(buf)?;
        if page.id != id {
            return Err(damaged(format!("page {id} says it is page {}", page.id)));
        }
        Ok(page)
    }
}

/// A listing in progress: what it found, how much it may, and how many pages it read.
struct Walk {
    limit: usize,
    out: Vec<Entry>,
    more: bool,
    visited: u64,
}

fn value(flags: u32, v: &[u8]) -> Result<Value, BoltError> {
    if flags & BUCKET_LEAF == 0 {
        return Ok(Value::Data(v.to_vec()));
    }
    if v.len() < 16 {
        return Err(damaged("a bucket value shorter than its header"));
    }
    Ok(Value::Bucket(match u64_at(v, 0) {
        0 => Bucket::Inline(v[16..].to_vec()),
        root => Bucket::Page(root),
    }))
}

struct Meta {
    page_size: u64,
    root: u64,
    high_water: u64,
    txid: u64,
}

fn better(a: Option<Meta>, b: Option<Meta>) -> Option<Meta> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b.txid > a.txid { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// The meta page at `offset`, if it is one whose checksum holds.
fn read_meta<S: Source + ?Sized>(source: &S, offset: u64, len: u64) -> Option<Meta> {
    let mut buf = [0u8; PAGE_HEADER + META_SUMMED + 8];
    if offset + buf.len() as u64 > len {
        return None;
    }
    source.read_at(offset, &mut buf).ok()?;
    if u16_at(&buf, 8) & META_PAGE == 0 {
        return None;
    }
    let meta = &buf[PAGE_HEADER..];
    if u32_at(meta, 0) != MAGIC || u32_at(meta, 4) != VERSION {
        return None;
    }
    if fnv1a64(&meta[..META_SUMMED]) != u64_at(meta, META_SUMMED) {
        return None;
    }
    let page_size = u64::from(u32_at(meta, 8));
    if !(512..=MAX_PAGE_BYTES).contains(&page_size) {
        return None;
    }
    Some(Meta { page_size, root: u64_at(meta, 16), high_water: u64_at(meta, 40), txid: u64_at(meta, 48) })
}

/// Recomputes the checksums of both meta pages in place (the second where the first's page size puts it), for the
/// fuzz target: mutated bytes then reach the trees instead of stopping at the checksum, as a crafted file would.
pub fn reseal_metas(bytes: &mut [u8]) {
    let at_size = |b: &[u8]| b.get(PAGE_HEADER + 8..PAGE_HEADER + 12).map(|s| u32_at(s, 0) as usize);
    let second = at_size(bytes).filter(|&size| size > 0);
    for at in std::iter::once(0).chain(second) {
        let meta = at.saturating_add(PAGE_HEADER);
        if let Some(end) = meta.checked_add(META_SUMMED + 8).filter(|&end| end <= bytes.len()) {
            let sum = fnv1a64(&bytes[meta..meta + META_SUMMED]);
            bytes[end - 8..end].copy_from_slice(&sum.to_le_bytes());
        }
    }
}

/// Go's `hash/fnv` New64a, the meta page's checksum.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3))
}

/// One page's bytes (with its overflow) and header.
struct Page {
    id: u64,
    flags: u16,
    count: usize,
    bytes: Vec<u8>,
}

impl Page {
    fn parse(bytes: Vec<u8>) -> Result<Page, BoltError> {
        if bytes.len() < PAGE_HEADER {
            return Err(damaged("a page shorter than its header"));
        }
        let count = usize::from(u16_at(&bytes, 10));
        if PAGE_HEADER + count * ELEMENT > bytes.len() {
            return Err(damaged(format!("page {} lists {count} elements past its end", u64_at(&bytes, 0))));
        }
        Ok(Page { id: u64_at(&bytes, 0), flags: u16_at(&bytes, 8), count, bytes })
    }

    /// `len` bytes at `pos` from element `i`'s own offset, as bbolt addresses keys and values.
    fn slice(&self, i: usize, pos: u32, len: usize) -> Result<&[u8], BoltError> {
        let start = (PAGE_HEADER + i * ELEMENT).checked_add(pos as usize);
        start
            .and_then(|s| Some(s..s.checked_add(len)?))
            .and_then(|range| self.bytes.get(range))
            .ok_or_else(|| damaged(format!("element {i} of page {} points past the page", self.id)))
    }

    fn element(&self, i: usize) -> &[u8] {
        let at = PAGE_HEADER + i * ELEMENT;
        &self.bytes[at..at + ELEMENT]
    }

    fn branch(&self, i: usize) -> Result<(&[u8], u64), BoltError> {
        let e = self.element(i);
        let (pos, ksize, id) = (u32_at(e, 0), u32_at(e, 4) as usize, u64_at(e, 8));
        Ok((self.slice(i, pos, ksize)?, id))
    }

    fn leaf(&self, i: usize) -> Result<(u32, &[u8], &[u8]), BoltError> {
        let e = self.element(i);
        let (flags, pos, ksize, vsize) = (u32_at(e, 0), u32_at(e, 4), u32_at(e, 8) as usize, u32_at(e, 12) as usize);
        let both = self.slice(i, pos, ksize.saturating_add(vsize))?;
        let (k, v) = both.split_at(ksize);
        Ok((flags, k, v))
    }
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(bytes)
}

#[cfg(test)]
mod tests {
    //! The reader against bbolt itself: real containerd databases and one written by bbolt 1.3.6 with the shapes a
    //! small database lacks (testdata/containers/bolt, see the testdata README), each compared key by key with what
    //! bbolt's own cursor lists (`bolt/dump.go`).

    use std::io::Read;
    use std::path::PathBuf;

    use super::*;

    fn testdata(rel: &str) -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/containers").join(rel)
    }

    fn unxz(rel: &str) -> Vec<u8> {
        let mut out = Vec::new();
        liblzma::read::XzDecoder::new(std::fs::File::open(testdata(rel)).unwrap()).read_to_end(&mut out).unwrap();
        out
    }

    /// Every key, depth first in key order, as `dump.go` prints it.
    fn dump<S: Source + ?Sized>(db: &Db<S>) -> Result<Vec<String>, BoltError> {
        fn walk<S: Source + ?Sized>(
            db: &Db<S>,
            bucket: &Bucket,
            path: &str,
            out: &mut Vec<String>,
        ) -> Result<(), BoltError> {
            let (entries, more) = db.entries(bucket, usize::MAX)?;
            assert!(!more);
            for (key, value) in entries {
                let p = format!("{path}/{}", hex::encode(&key));
                match value {
                    Value::Data(v) => out.push(format!("{p}\t{}", hex::encode(v))),
                    Value::Bucket(b) => {
                        out.push(format!("{p}\tbucket"));
                        walk(db, &b, &p, out)?;
                    }
                }
            }
            Ok(())
        }
        let mut out = Vec::new();
        walk(db, db.root(), "", &mut out)?;
        Ok(out)
    }

    fn expected(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn shapes() -> Vec<u8> {
        unxz("bolt/shapes.db.xz")
    }

    #[test]
    fn containerd_databases_read_as_bbolt_reads_them() {
        for (db, dump_file) in [
            ("containerd-root/var/lib/containerd/io.containerd.metadata.v1.bolt/meta.db", "bbolt-dump-meta.db.txt"),
            (
                "containerd-root/var/lib/containerd/io.containerd.snapshotter.v1.overlayfs/metadata.db",
                "bbolt-dump-overlayfs-metadata.db.txt",
            ),
        ] {
            let file = std::fs::File::open(testdata(db)).unwrap();
            let db = Db::open(Box::new(file)).unwrap();
            let want = expected(&std::fs::read_to_string(testdata(&format!("expected/{dump_file}"))).unwrap());
            assert!(want.len() > 30);
            assert_eq!(dump(&db).unwrap(), want, "{dump_file}");
        }
    }

    #[test]
    fn branch_pages_overflow_and_inline_buckets_read_as_bbolt_reads_them() {
        let bytes = shapes();
        let db = Db::open(bytes.into_boxed_slice()).unwrap();
        let mut want = String::new();
        liblzma::read::XzDecoder::new(std::fs::File::open(testdata("bolt/shapes.dump.txt.xz")).unwrap())
            .read_to_string(&mut want)
            .unwrap();
        assert_eq!(dump(&db).unwrap(), expected(&want));

        // 2,500 keys (3,000 written, 500 deleted) span leaves under branch pages: every one is found by descending.
        let many = db.bucket_at(&[b"many"]).unwrap().unwrap();
        assert!(matches!(&many, Bucket::Page(_)));
        for i in (0..3000).step_by(7) {
            let key = format!("key-{i:05}");
            let got = db.data(&many, key.as_bytes()).unwrap();
            if (1000..1500).contains(&i) {
                assert_eq!(got, None, "{key} was deleted");
            } else {
                assert_eq!(got, Some(key.repeat(1 + i % 7).into_bytes()), "{key}");
            }
        }
        for absent in ["", "a", "key-", "key-99999", "zzz"] {
            assert_eq!(db.get(&many, absent.as_bytes()).unwrap(), None, "{absent}");
        }
        let (first, more) = db.entries(&many, 10).unwrap();
        assert!(more);
        assert_eq!(first.last().map(|(k, _)| k.as_slice()), Some(&b"key-00009"[..]));

        // 20,000 bytes span overflow pages.
        let big = db.bucket_at(&[b"big"]).unwrap().unwrap();
        assert_eq!(db.data(&big, b"value").unwrap(), Some("0123456789".repeat(2000).into_bytes()));

        let inline = db.bucket_at(&[b"nested", b"inline"]).unwrap().unwrap();
        assert!(matches!(&inline, Bucket::Inline(_)));
        assert_eq!(db.data(&inline, b"a").unwrap(), Some(b"1".to_vec()));
        let paged = db.bucket_at(&[b"nested", b"paged"]).unwrap().unwrap();
        assert!(matches!(&paged, Bucket::Page(_)));
        assert_eq!(db.entries(&paged, usize::MAX).unwrap().0.len(), 200);
        let empty = db.bucket_at(&[b"nested", b"empty"]).unwrap().unwrap();
        assert_eq!(db.entries(&empty, usize::MAX).unwrap().0, vec![]);
        // A data key is not a bucket to descend into.
        assert_eq!(db.bucket_at(&[b"nested", b"inline", b"a"]).unwrap(), None);
    }

    /// bbolt writes its two meta pages in turn; when the newer one is damaged (a torn write), the older one's
    /// transaction is read, as bbolt itself does: here the state before the 500 deletions.
    #[test]
    fn a_damaged_meta_page_falls_back_to_the_other() {
        let bytes = shapes();
        let txid = |at: usize| u64_at(&bytes, at + PAGE_HEADER + 48);
        let (txid0, txid1) = (txid(0), txid(4096));
        let newer = if txid0 > txid1 { 0 } else { 4096 };
        let mut torn = bytes.clone();
        torn[newer + PAGE_HEADER + 20] ^= 0xff;
        let db = Db::open(torn.clone().into_boxed_slice()).unwrap();
        let many = db.bucket_at(&[b"many"]).unwrap().unwrap();
        assert_eq!(db.data(&many, b"key-01200").unwrap(), Some(b"key-01200".repeat(1 + 1200 % 7)));

        let older = 4096 - newer;
        torn[older + PAGE_HEADER + 20] ^= 0xff;
        assert!(matches!(Db::open(torn.into_boxed_slice()), Err(BoltError::NoMeta)));
        assert!(matches!(Db::open(b"not a database".to_vec().into_boxed_slice()), Err(BoltError::NoMeta)));
    }

    /// A meta page that claims more pages than the file holds, its checksum recomputed (a crafted file, not a torn
    /// one): the count is cut to the file's, so a looping tree is still caught in as many visits as the file has
    /// pages, and no page past the end is read.
    #[test]
    fn a_meta_page_claiming_more_pages_than_the_file_has_is_not_believed() {
        let mut bytes = shapes();
        let pages = (bytes.len() / 4096) as u64;
        for at in [0, 4096] {
            let meta = at + PAGE_HEADER;
            bytes[meta + 40..meta + 48].copy_from_slice(&u64::MAX.to_le_bytes());
            let sum = fnv1a64(&bytes[meta..meta + META_SUMMED]);
            bytes[meta + META_SUMMED..meta + META_SUMMED + 8].copy_from_slice(&sum.to_le_bytes());
        }
        let db = Db::open(bytes.clone().into_boxed_slice()).unwrap();
        assert_eq!(db.high_water, pages);
        assert!(matches!(db.page(pages), Err(BoltError::Damaged(_))));
        // Still the same database.
        let many = db.bucket_at(&[b"many"]).unwrap().unwrap();
        assert_eq!(db.entries(&many, usize::MAX).unwrap().0.len(), 2500);
    }

    #[test]
    fn damaged_pages_are_errors_not_panics() {
        let bytes = shapes();
        // Cut short: the pages past the cut cannot be read.
        let cut = Db::open(bytes[..bytes.len() / 2].to_vec().into_boxed_slice()).unwrap();
        assert!(dump(&cut).is_err());

        // A page that says it is another page.
        let db = Db::open(bytes.clone().into_boxed_slice()).unwrap();
        let Some(Bucket::Page(root)) = db.bucket_at(&[b"many"]).unwrap() else { panic!("many is paged") };
        let mut moved = bytes.clone();
        let at = root as usize * 4096;
        moved[at..at + 8].copy_from_slice(&7u64.to_le_bytes());
        let db = Db::open(moved.into_boxed_slice()).unwrap();
        let many = db.bucket_at(&[b"many"]).unwrap().unwrap();
        assert!(matches!(db.get(&many, b"key-00001"), Err(BoltError::Damaged(_))));

        // A branch page whose every element points back at itself: an error, not a walk for ever.
        let mut looped = bytes.clone();
        let at = root as usize * 4096;
        assert_eq!(u16_at(&looped, at + 8), BRANCH_PAGE, "the root of `many` is a branch page");
        for i in 0..usize::from(u16_at(&looped, at + 10)) {
            let element = at + PAGE_HEADER + i * ELEMENT;
            looped[element + 8..element + 16].copy_from_slice(&root.to_le_bytes());
        }
        let db = Db::open(looped.into_boxed_slice()).unwrap();
        let many = db.bucket_at(&[b"many"]).unwrap().unwrap();
        assert!(matches!(db.entries(&many, usize::MAX), Err(BoltError::Damaged(_))));
        assert!(matches!(db.get(&many, b"key-00001"), Err(BoltError::Damaged(_))));

        // Each byte of a page header and its first element flipped in turn, on every third page: an error or a
        // (different) answer, never a panic or a hang. (The fuzz target `bolt` covers the rest.)
        let pages = bytes.len() / 4096;
        for page in (2..pages).step_by(3) {
            for offset in 0..(PAGE_HEADER + ELEMENT) {
                let mut flipped = bytes.clone();
                flipped[page * 4096 + offset] ^= 0xa5;
                if let Ok(db) = Db::open(flipped.into_boxed_slice()) {
                    let _ = dump(&db);
                }
            }
        }
    }
}
