//! Reading a medium without ever writing to it: opened read-only, read front to back (full mode) or at the sample's
//! places (sample mode), each buffer handed to the checker as soon as it is read.

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::path::Path;

use super::plan::Segment;

/// Read size: dd's `bs=1M`, a multiple of every sector size, and small enough that a buffer just filled is still in
/// the core's L2 cache when the checker reads it. Reading and checking on one thread in 1 MiB pieces costs about as
/// much CPU as `dd bs=1M` alone (1.04× warm); the earlier 4 MiB buffers handed to a second thread cost 1.44×, the
/// check then reading every byte back from memory and the threads waking each other per buffer (BENCHMARKS.md). The
/// kernel's readahead keeps the device busy while this thread checks, as it does for dd.
pub const CHUNK: usize = 1 << 20;

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
        let shown = path.display().to_string();
        let mut file = File::open(path).map_err(|source| ReadError::Open { path: shown.clone(), source })?;
        let meta = file.metadata().map_err(|source| ReadError::Open { path: shown.clone(), source })?;
        let is_block_device = crate::platform::is_block_device(&meta);
        if !is_block_device && !meta.is_file() {
            return Err(ReadError::NotAMedium { path: shown });
        }
        // A block device's metadata length is 0; seeking to its end gives its size, as for a file.
        let size = file.seek(SeekFrom::End(0)).map_err(|source| ReadError::Size { path: shown.clone(), source })?;
        Ok(Medium { file, path: shown, size, is_block_device })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Reads the whole medium front to back, handing each buffer (offset, bytes) to `sink`.
    pub fn read_all(&self, sink: &mut dyn FnMut(u64, &[u8])) -> Result<(), ReadError> {
        crate::platform::advise(&self.file, crate::platform::Access::Sequential);
        let mut buffer = vec![0u8; CHUNK];
        let mut offset = 0u64;
        while offset < self.size {
            let want = usize::try_from((self.size - offset).min(CHUNK as u64)).unwrap_or(CHUNK);
            let piece = &mut buffer[..want];
            self.read_exact_at(piece, offset)?;
            sink(offset, piece);
            offset += want as u64;
        }
        Ok(())
    }

    /// Reads each segment (sorted by offset) and hands it to `sink`.
    pub fn read_segments(&self, segments: &[Segment], sink: &mut dyn FnMut(u64, &[u8])) -> Result<(), ReadError> {
        crate::platform::advise(&self.file, crate::platform::Access::Random);
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
            match crate::platform::read_at(&self.file, &mut buffer[done..], at) {
                Ok(0) => return Err(ReadError::ShortRead { path: self.path.clone(), offset: at, size: self.size }),
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(source) => return Err(ReadError::Read { path: self.path.clone(), offset: at, source }),
            }
        }
        Ok(())
    }
}
