//! Reading a medium without ever writing to it: opened read-only, read sequentially by a reader thread while the
//! caller checks (full mode), or at the sample's places (sample mode).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::mpsc;

use super::plan::Segment;

/// Read size in full mode: as large as `dd bs=4M`, and a multiple of every sector size.
pub const CHUNK: usize = 4 << 20;
/// Buffers in flight between the reader thread and the checker.
const BUFFERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("opening {path} read-only: {source}")]
    Open { path: String, source: std::io::Error },
    #[error("{path}: not a block device or a regular file")]
    NotAMedium { path: String },
    #[error("{path}: finding its size: {source}")]
    Size { path: String, source: std::io::Error },
    #[error("reading {path} at offset {offset}: {source}")]
    Read { path: String, offset: u64, source: std::io::Error },
    #[error("{path} ended at offset {offset}, before its size of {size} bytes")]
    ShortRead { path: String, offset: u64, size: u64 },
    #[error("the reader thread stopped unexpectedly")]
    ReaderGone,
}

/// A medium opened for reading only.
#[derive(Debug)]
pub struct Medium {
    file: File,
    path: String,
    size: u64,
    pub is_block_device: bool,
}

impl Medium {
    /// Opens `path` with `O_RDONLY` (std's `File::open`): the kernel refuses any write through this descriptor.
    pub fn open(path: &Path) -> Result<Medium, ReadError> {
        use std::os::unix::fs::FileTypeExt;
        let shown = path.display().to_string();
        let mut file = File::open(path).map_err(|source| ReadError::Open { path: shown.clone(), source })?;
        let kind = file.metadata().map_err(|source| ReadError::Open { path: shown.clone(), source })?.file_type();
        if !kind.is_block_device() && !kind.is_file() {
            return Err(ReadError::NotAMedium { path: shown });
        }
        // A block device's metadata length is 0; seeking to its end gives its size, as for a file.
        let size = file.seek(SeekFrom::End(0)).map_err(|source| ReadError::Size { path: shown.clone(), source })?;
        Ok(Medium { file, path: shown, size, is_block_device: kind.is_block_device() })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads the whole medium front to back, handing each buffer (offset, bytes) to `sink` on this thread while
    /// a second thread reads the next ones.
    pub fn read_all(&self, sink: &mut dyn FnMut(u64, &[u8])) -> Result<(), ReadError> {
        let _ = rustix::fs::fadvise(&self.file, 0, None, rustix::fs::Advice::Sequential);
        let (full_tx, full_rx) = mpsc::sync_channel::<Result<(u64, Vec<u8>), ReadError>>(BUFFERS);
        let (empty_tx, empty_rx) = mpsc::sync_channel::<Vec<u8>>(BUFFERS);
        for _ in 0..BUFFERS {
            empty_tx.send(vec![0u8; CHUNK]).map_err(|_| ReadError::ReaderGone)?;
        }
        std::thread::scope(|scope| {
            // Owned by this closure so they drop, and the reader stops, before the scope waits for it.
            let (empty_tx, full_rx) = (empty_tx, full_rx);
            scope.spawn(move || {
                let mut offset = 0u64;
                while offset < self.size {
                    let Ok(mut buffer) = empty_rx.recv() else { return };
                    let want = usize::try_from((self.size - offset).min(CHUNK as u64)).unwrap_or(CHUNK);
                    buffer.resize(want, 0);
                    let result = self.read_exact_at(&mut buffer, offset).map(|()| (offset, buffer));
                    let failed = result.is_err();
                    if full_tx.send(result).is_err() || failed {
                        return;
                    }
                    offset += want as u64;
                }
            });
            let mut expected = 0u64;
            while expected < self.size {
                let (offset, buffer) = full_rx.recv().map_err(|_| ReadError::ReaderGone)??;
                sink(offset, &buffer);
                expected = offset + buffer.len() as u64;
                // The reader may have finished; a closed channel only matters if more was expected.
                let _ = empty_tx.send(buffer);
            }
            Ok(())
        })
    }

    /// Reads each segment (sorted by offset) and hands it to `sink`.
    pub fn read_segments(&self, segments: &[Segment], sink: &mut dyn FnMut(u64, &[u8])) -> Result<(), ReadError> {
        let _ = rustix::fs::fadvise(&self.file, 0, None, rustix::fs::Advice::Random);
        let mut buffer = Vec::new();
        for segment in segments {
            // Long segments (a full read of a small medium) go in chunks.
            let mut offset = segment.offset;
            let end = segment.offset + segment.len;
            while offset < end {
                let want = usize::try_from((end - offset).min(CHUNK as u64)).unwrap_or(CHUNK);
                buffer.resize(want, 0);
                self.read_exact_at(&mut buffer, offset)?;
                sink(offset, &buffer);
                offset += want as u64;
            }
        }
        Ok(())
    }

    fn read_exact_at(&self, buffer: &mut [u8], offset: u64) -> Result<(), ReadError> {
        let mut done = 0;
        while done < buffer.len() {
            let at = offset + done as u64;
            match self.file.read_at(&mut buffer[done..], at) {
                Ok(0) => return Err(ReadError::ShortRead { path: self.path.clone(), offset: at, size: self.size }),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => return Err(ReadError::Read { path: self.path.clone(), offset: at, source }),
            }
        }
        Ok(())
    }
}
