//! Where request bodies wait for their handler: in memory while they are small, then in a
//! temporary file (a spool), each kind under a server-wide budget.
//!
//! A body longer than [`Limits::spool_threshold`](crate::Limits::spool_threshold) is
//! written to a file in the spool directory
//! ([`ServerBuilder::spool_dir`](crate::ServerBuilder::spool_dir), the system's temporary
//! directory by default) as it arrives, between the connection's waits for the client: a
//! slow upload costs a file descriptor and a small buffer, never a worker or its size in
//! memory. The handler gets it as a [`BodyFile`]
//! ([`Request::body_file`](crate::Request::body_file)). The file is removed when the request
//! ends, whether the handler returned, panicked, or the client left mid-upload; a handler
//! that keeps the upload [`persist`](BodyFile::persist)s it under a name of its own.
//!
//! The files are named `.switchyard-body-*`: a process killed outright (SIGKILL) cannot
//! remove its files, and a cleaner can find them by that name.

use std::fmt;
use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use tempfile::NamedTempFile;

/// Bytes that a kind of body storage may hold together, taken and given back as bodies
/// come and go.
#[derive(Debug)]
pub(crate) struct ByteBudget {
    limit: u64,
    used: AtomicU64,
}

impl ByteBudget {
    pub(crate) fn new(limit: u64) -> Self {
        Self {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// Takes `bytes` from the budget, unless that would exceed it.
    pub(crate) fn try_take(&self, bytes: u64) -> bool {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|total| *total <= self.limit)
            })
            .is_ok()
    }

    pub(crate) fn give_back(&self, bytes: u64) {
        let _ = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
    }

    /// Bytes held now.
    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used.load(Ordering::Acquire)
    }
}

/// Why a body could not be spooled.
#[derive(Debug)]
pub(crate) enum SpoolError {
    /// The spooled bodies would hold more than their budget on disk.
    Full,
    /// The file could not be created or written (a missing directory, a full disk).
    Io(io::Error),
}

/// The server's spool: where long bodies go, from what length, and what they may hold on
/// disk together.
#[derive(Debug)]
pub(crate) struct Spool {
    dir: PathBuf,
    threshold: u64,
    disk: Arc<ByteBudget>,
}

impl Spool {
    /// Bodies longer than `threshold` go to files in `dir`, `max_bytes` of them at most.
    pub(crate) fn new(dir: PathBuf, threshold: u64, max_bytes: u64) -> Self {
        Self {
            dir,
            threshold,
            disk: Arc::new(ByteBudget::new(max_bytes)),
        }
    }

    /// A spool nothing reaches: every body stays in memory.
    #[cfg(any(test, feature = "__internals"))]
    pub(crate) fn in_memory() -> Self {
        Self::new(std::env::temp_dir(), u64::MAX, 0)
    }

    /// Bodies longer than this many bytes are spooled.
    pub(crate) fn threshold(&self) -> u64 {
        self.threshold
    }

    /// Bytes the spooled bodies hold on disk now.
    #[cfg(test)]
    pub(crate) fn bytes_on_disk(&self) -> u64 {
        self.disk.used()
    }

    /// Starts a body's file.
    pub(crate) fn create(&self) -> Result<SpoolWriter, SpoolError> {
        let file = tempfile::Builder::new()
            .prefix(".switchyard-body-")
            .tempfile_in(&self.dir)
            .map_err(SpoolError::Io)?;
        Ok(SpoolWriter {
            file,
            written: 0,
            held: Held::new(&self.disk),
        })
    }
}

/// Bytes held in a budget, given back when this goes.
#[derive(Debug)]
pub(crate) struct Held {
    budget: Arc<ByteBudget>,
    bytes: u64,
}

impl Held {
    /// Holds nothing yet of `budget`.
    pub(crate) fn new(budget: &Arc<ByteBudget>) -> Self {
        Self {
            budget: Arc::clone(budget),
            bytes: 0,
        }
    }

    /// Holds exactly `bytes`: takes the difference from the budget (failing, and holding
    /// what it held, when the budget cannot give it) or gives the surplus back.
    pub(crate) fn hold(&mut self, bytes: u64) -> Result<(), SpoolError> {
        if bytes < self.bytes {
            self.budget.give_back(self.bytes - bytes);
            self.bytes = bytes;
        }
        self.grow_to(bytes)
    }

    /// Holds at least `bytes` in all, unless the budget cannot give the difference.
    fn grow_to(&mut self, bytes: u64) -> Result<(), SpoolError> {
        if bytes > self.bytes {
            if !self.budget.try_take(bytes - self.bytes) {
                return Err(SpoolError::Full);
            }
            self.bytes = bytes;
        }
        Ok(())
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.budget.give_back(self.bytes);
    }
}

/// A body's file while the body arrives.
#[derive(Debug)]
pub(crate) struct SpoolWriter {
    file: NamedTempFile,
    written: u64,
    /// What the file holds of the disk budget: what was written, or reserved ahead.
    held: Held,
}

impl SpoolWriter {
    /// Takes `bytes` of the disk budget ahead (a body's announced length), so that a body
    /// the spool has no room for is refused before its bytes arrive.
    pub(crate) fn reserve(&mut self, bytes: u64) -> Result<(), SpoolError> {
        self.held.grow_to(bytes)
    }

    /// Appends `bytes`, within the disk budget.
    pub(crate) fn write(&mut self, bytes: &[u8]) -> Result<(), SpoolError> {
        let written = self.written + bytes.len() as u64;
        self.held.grow_to(written)?;
        self.file
            .as_file_mut()
            .write_all(bytes)
            .map_err(SpoolError::Io)?;
        self.written = written;
        Ok(())
    }

    /// Bytes written so far.
    pub(crate) fn len(&self) -> u64 {
        self.written
    }

    /// The complete body, for the handler.
    pub(crate) fn finish(self) -> BodyFile {
        BodyFile {
            file: self.file,
            len: self.written,
            _held: self.held,
            loaded: OnceLock::new(),
        }
    }
}

/// A request body the server spooled to a temporary file while it arrived:
/// [`Request::body_file`](crate::Request::body_file).
///
/// A body longer than [`Limits::spool_threshold`](crate::Limits::spool_threshold) is
/// written to a file in the spool directory
/// ([`ServerBuilder::spool_dir`](crate::ServerBuilder::spool_dir)) as it arrives, so an
/// upload costs no worker and no memory while it arrives; the handler runs once it is
/// complete. The file (named `.switchyard-body-*`) is removed when the request ends,
/// whether the handler returned or panicked, or the client left mid-upload; only a
/// process killed outright leaves it. [`persist`](Self::persist) keeps it under a name
/// of your own. Read it with [`Request::body_reader`](crate::Request::body_reader),
/// [`open`](Self::open), or hand its [`path`](Self::path) to a tool.
///
/// # Examples
///
/// ```no_run
/// use switchyard::http::StatusCode;
/// use switchyard::{Handler, Request, Router};
///
/// let save = |req: &Request| {
///     let to = format!("/srv/videos/{}.mp4", req.param("name").unwrap_or("upload"));
///     let saved = match req.body_file() {
///         // Linked into place, not copied (on the spool directory's filesystem).
///         Some(file) => file.persist(&to),
///         // A body under the spool threshold stayed in memory.
///         None => std::fs::write(&to, req.body()),
///     };
///     match saved {
///         Ok(()) => StatusCode::CREATED,
///         Err(_) => StatusCode::INTERNAL_SERVER_ERROR,
///     }
/// };
/// let router = Router::new().post("/videos/{name}", save.max_body_bytes(8 << 30));
/// ```
pub struct BodyFile {
    file: NamedTempFile,
    len: u64,
    /// Its part of the disk budget, given back when the file goes.
    _held: Held,
    /// The body read into memory, for [`Request::body`](crate::Request::body).
    loaded: OnceLock<Vec<u8>>,
}

impl BodyFile {
    /// Where the file is, in the spool directory. It is removed when the request ends.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// The body's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the body is empty (never, for a body long enough to be spooled).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Opens the file for reading, from its start.
    ///
    /// # Errors
    ///
    /// When the operating system cannot open it again.
    pub fn open(&self) -> io::Result<File> {
        File::open(self.file.path())
    }

    /// Keeps the body as `to`, without copying it where the filesystem allows: a hard link
    /// in the spool directory's filesystem, else a copy (removed again if the copy fails).
    /// The spooled file itself is still removed when the request ends. A link shares the
    /// spooled file's permissions: readable and writable by the server's user only.
    ///
    /// # Errors
    ///
    /// When `to` exists already ([`io::ErrorKind::AlreadyExists`]), or cannot be written.
    pub fn persist(&self, to: impl AsRef<Path>) -> io::Result<()> {
        let to = to.as_ref();
        match std::fs::hard_link(self.file.path(), to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
            // Another filesystem, or one without links.
            Err(_) => {
                let mut target = File::options().write(true).create_new(true).open(to)?;
                let copied = io::copy(&mut self.open()?, &mut target).and_then(|_| target.flush());
                if copied.is_err() {
                    let _ = std::fs::remove_file(to);
                }
                copied
            }
        }
    }

    /// Reads `buf.len()` bytes or fewer at `offset` (no cursor of the request's readers
    /// is shared).
    pub(crate) fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        crate::io::read_at(self.file.as_file(), buf, offset)
    }

    /// The whole body in memory, read once (see [`Request::body`](crate::Request::body)).
    /// Empty if the file cannot be read (and logged: it is the server's fault).
    pub(crate) fn contents(&self) -> &[u8] {
        self.loaded.get_or_init(|| self.read_whole())
    }

    /// The whole body in memory, as [`contents`](Self::contents), without keeping a copy.
    pub(crate) fn into_contents(mut self) -> Vec<u8> {
        match self.loaded.take() {
            Some(bytes) => bytes,
            None => self.read_whole(),
        }
    }

    fn read_whole(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        let read = self.open().and_then(|mut file| {
            bytes.reserve_exact(usize::try_from(self.len).unwrap_or(0));
            io::Read::read_to_end(&mut file, &mut bytes)
        });
        if let Err(error) = read {
            crate::logging::log_warn!("cannot read a spooled request body back: {error}");
            bytes.clear();
        }
        bytes
    }
}

impl fmt::Debug for BodyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BodyFile")
            .field("path", &self.path())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool_in(dir: &Path, max_bytes: u64) -> Spool {
        Spool::new(dir.to_path_buf(), 4, max_bytes)
    }

    fn files_in(dir: &Path) -> usize {
        std::fs::read_dir(dir).unwrap().count()
    }

    #[test]
    fn a_spooled_body_is_readable_and_removed_with_its_budget_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool_in(dir.path(), 100);
        let mut writer = spool.create().unwrap();
        writer.write(b"hello ").unwrap();
        writer.write(b"world").unwrap();
        assert_eq!(spool.bytes_on_disk(), 11);
        let body = writer.finish();
        assert_eq!(body.len(), 11);
        let mut buf = [0; 5];
        assert_eq!(body.read_at(&mut buf, 6).unwrap(), 5);
        assert_eq!(&buf, b"world");
        assert_eq!(body.contents(), b"hello world");
        assert!(body.path().starts_with(dir.path()));
        assert_eq!(files_in(dir.path()), 1);
        drop(body);
        assert_eq!(files_in(dir.path()), 0, "removed");
        assert_eq!(spool.bytes_on_disk(), 0, "given back");
    }

    #[test]
    fn a_body_over_the_disk_budget_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool_in(dir.path(), 10);
        let mut writer = spool.create().unwrap();
        writer.write(b"0123456789").unwrap();
        assert!(matches!(writer.write(b"x"), Err(SpoolError::Full)));
        assert_eq!(writer.len(), 10);
        drop(writer);
        assert_eq!(spool.bytes_on_disk(), 0);
        // A reservation takes the announced length at once, and writes within it no more.
        let mut writer = spool.create().unwrap();
        assert!(matches!(writer.reserve(11), Err(SpoolError::Full)));
        writer.reserve(8).unwrap();
        assert_eq!(spool.bytes_on_disk(), 8);
        writer.write(b"12345").unwrap();
        assert_eq!(spool.bytes_on_disk(), 8);
        let body = writer.finish();
        assert_eq!(body.len(), 5);
        drop(body);
        assert_eq!(files_in(dir.path()), 0);
        assert_eq!(spool.bytes_on_disk(), 0);
    }

    #[test]
    fn persist_links_the_file_and_keeps_it_after_the_request() {
        let dir = tempfile::tempdir().unwrap();
        let spool = spool_in(dir.path(), 100);
        let mut writer = spool.create().unwrap();
        writer.write(b"keep me").unwrap();
        let body = writer.finish();
        let kept = dir.path().join("kept.bin");
        body.persist(&kept).unwrap();
        let again = body.persist(&kept).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        drop(body);
        assert_eq!(std::fs::read(&kept).unwrap(), b"keep me");
        assert_eq!(files_in(dir.path()), 1, "only the kept file");
    }

    #[test]
    fn a_missing_directory_is_an_io_error() {
        let spool = Spool::new(PathBuf::from("/nonexistent/switchyard/spool"), 4, 100);
        assert!(matches!(spool.create(), Err(SpoolError::Io(_))));
    }
}
