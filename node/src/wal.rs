//! The consensus write-ahead log on disk: what this node signed, and what it received, at the height
//! it is deciding, made durable before anything leaves the node.
//!
//! The consensus core owns no storage (see `cairn_consensus::wal` for the contract). Every message it
//! signs comes out as `Output::PersistAndBroadcast`; the driver appends it here as an
//! [`RecordKind::OwnSigned`] record and broadcasts it only after [`Wal::append`] returns. On a restart
//! the driver feeds the own records of the height it resumes back in `Input::StartHeight`, so the core
//! re-sends what it signed instead of signing something that conflicts with it. Messages received from
//! peers are logged as [`RecordKind::Received`] records, in batches ([`Wal::append_batch`]), and fed
//! again after a restart: that is for liveness only.
//!
//! The log is byte-oriented: a payload is whatever bytes the driver chose to encode a message as; this
//! module never looks inside one.
//!
//! # File format
//!
//! One file, [`FILE_NAME`], in the directory given to [`Wal::open`]. It has no file header: it is a
//! sequence of records, each framed as follows (all integers little-endian):
//!
//! ```text
//!  offset  size  field
//!  0       4     length    u32: payload length in bytes, at most MAX_PAYLOAD_LEN
//!  4       4     checksum  u32: CRC-32 (IEEE) of the bytes from offset 8 to the record's end
//!  8       1     kind      u8: 1 = OwnSigned, 2 = Received, 3 = HeightStarted, 4 = Block
//!  9       8     height    u64: the consensus height the record belongs to
//!  17      len   payload
//! ```
//!
//! The checksum does not cover the length field; a damaged length is still caught, because it
//! moves the record's end, so the checksum is computed over the wrong bytes (or the record runs past
//! the end of the file, or exceeds [`MAX_PAYLOAD_LEN`]).
//!
//! # Durability
//!
//! [`Wal::append`] and [`Wal::append_batch`] write the whole frame (or batch) with one `write`, then
//! call `fdatasync` (`File::sync_data`), and return only after it succeeds. A record is *acknowledged*
//! once the call returns; the driver must not broadcast a message before its record is acknowledged.
//! Creating the file and every rename also sync the directory, so the file's name survives a power
//! loss as well as its contents.
//!
//! If a write or a sync fails, the state of the file is unknown (after a failed `fsync` the kernel
//! may have dropped the dirty pages and a retry may wrongly succeed), so the log refuses every
//! further write with [`WalError::Broken`]. The node should stop; reopening the log recovers what
//! reached the disk.
//!
//! # Recovery
//!
//! [`Wal::open`] reads the whole file and decodes records from the start. The first record that does
//! not decode ends the valid prefix:
//!
//! - a header or payload cut short by the end of the file: an append interrupted by a crash, never
//!   acknowledged ([`Defect::ShortHeader`], [`Defect::ShortPayload`]);
//! - a length above [`MAX_PAYLOAD_LEN`] ([`Defect::Oversized`]);
//! - a checksum that does not match ([`Defect::BadChecksum`]).
//!
//! Everything from that record on is cut: the file is truncated to the end of the last valid record
//! and synced, and [`Recovered::damage`] reports where, why and how many bytes went. Records after a
//! damaged one are dropped even if they look valid: their framing rests on the damaged one, and a
//! log with a hole in it is not a log of what happened. A torn tail is expected after a crash; damage
//! anywhere else means the disk lost acknowledged data, and the caller should log it loudly (a lost
//! own record is a message this node may sign differently again).
//!
//! A record whose checksum matches but whose kind this version does not know was written by another
//! version of the node. It is not cut: [`Wal::open`] fails with [`WalError::UnknownRecordKind`] and
//! leaves the file alone.
//!
//! [`decode`] is the same decoding without a disk: it never panics, whatever the bytes.
//!
//! # Height rollover
//!
//! Once height `h - 1` is decided and its commit is durable in the store, nothing before `h` is
//! needed. [`Wal::start_height`] then rewrites the log so that it holds a
//! [`RecordKind::HeightStarted`] record for `h` followed by the records of heights `h` and above,
//! crash-safely:
//!
//! 1. write the new log to [`TEMP_FILE_NAME`] and `fsync` it;
//! 2. rename it over [`FILE_NAME`] (atomic);
//! 3. `fsync` the directory, so the rename itself is durable;
//! 4. append to the new file from then on.
//!
//! A crash before step 2 leaves the old log whole (plus a temporary file that [`Wal::open`] deletes);
//! a crash after it leaves the new log whole. Never a mix: the new file is complete before it gets
//! the name. Appends go to the new file only after step 3, so an acknowledged record can never be
//! lost with an undone rename.
//!
//! # How the driver uses it
//!
//! ```text
//! open(dir)             -> (wal, recovered)      resume at h = committed height + 1
//! start_height(h)                                 drops the decided heights
//! own records at h      -> Input::StartHeight { wal }, received records at h -> inputs again
//! PersistAndBroadcast m -> append(OwnSigned, h, bytes(m)), then broadcast m
//! messages received     -> append_batch([Received, ...]) before or while feeding them to the core
//! Decide(h)             -> commit to the store, then start_height(h + 1)
//! ```
//!
//! The whole file is read into memory on open; it holds one height's messages (plus whatever a
//! crash left of the previous one), each at most [`MAX_PAYLOAD_LEN`] bytes. One process at a time
//! may own a log directory; the node guards its data directory.
//!
//! # Simulating a crash in tests
//!
//! A crash in the middle of an append is a file cut short: truncate [`FILE_NAME`] at any byte offset
//! (`std::fs::OpenOptions::new().write(true).open(path)?.set_len(offset)`). Record boundaries are the
//! running sums of [`Record::frame_len`] over [`decode`]'s records, so the last record of a file of
//! `n` bytes starts at `n - last.frame_len()`. A crash in the middle of a rollover is a
//! [`TEMP_FILE_NAME`] with any contents left next to the log.

use std::{
    fmt,
    fs::{self, File, OpenOptions},
    io::{self, Read, Write},
    path::{Path, PathBuf},
};

use cairn_consensus::Height;

/// The name of the log file inside the log directory.
pub const FILE_NAME: &str = "consensus.wal";

/// The name of the file a rollover writes before renaming it over [`FILE_NAME`].
pub const TEMP_FILE_NAME: &str = "consensus.wal.tmp";

/// Bytes in a record's header: length, checksum, kind, height.
pub const HEADER_LEN: usize = 17;

/// The largest payload a record may carry: the largest block the ledger accepts, and room to
/// spare. Larger is refused on write; a larger length on read is damage.
pub const MAX_PAYLOAD_LEN: usize = cairn_ledger::block::MAX_BLOCK_BYTES + (64 << 10);

/// What a record holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A message this node signed. Safety-critical: it must be on disk before the message leaves
    /// the node, and survive every restart until its height is decided.
    OwnSigned,
    /// A message received from a peer; logged so that a restarted node sees it again (liveness).
    Received,
    /// The node started this height; written by [`Wal::start_height`] as the first record of the
    /// rewritten log. The payload is empty.
    HeightStarted,
    /// A block this node signed a message about (proposed it, or voted for it), logged ahead of
    /// that message: a restarted node that re-sends the message has the block to go with it. If
    /// every validator stopped after precommitting a block and before committing it, the block
    /// would otherwise exist nowhere, and the chain could never go on.
    Block,
}

impl RecordKind {
    /// The kind's byte in the file format.
    pub const fn to_byte(self) -> u8 {
        match self {
            RecordKind::OwnSigned => 1,
            RecordKind::Received => 2,
            RecordKind::HeightStarted => 3,
            RecordKind::Block => 4,
        }
    }

    /// The kind a byte stands for, if any.
    pub const fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(RecordKind::OwnSigned),
            2 => Some(RecordKind::Received),
            3 => Some(RecordKind::HeightStarted),
            4 => Some(RecordKind::Block),
            _ => None,
        }
    }
}

/// One record of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// What it holds.
    pub kind: RecordKind,
    /// The consensus height it belongs to.
    pub height: Height,
    /// The driver's bytes; opaque here.
    pub payload: Vec<u8>,
}

impl Record {
    /// A record.
    pub fn new(kind: RecordKind, height: Height, payload: impl Into<Vec<u8>>) -> Self {
        Record {
            kind,
            height,
            payload: payload.into(),
        }
    }

    /// The record's size in the file: header and payload.
    pub fn frame_len(&self) -> u64 {
        (HEADER_LEN + self.payload.len()) as u64
    }
}

/// Why a record failed to decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Defect {
    /// The file ends inside a record header.
    ShortHeader {
        /// Bytes left in the file.
        available: usize,
    },
    /// The file ends inside a record's payload.
    ShortPayload {
        /// The payload length the header declares.
        declared: usize,
        /// Payload bytes left in the file.
        available: usize,
    },
    /// The header declares a payload above [`MAX_PAYLOAD_LEN`].
    Oversized {
        /// The declared payload length.
        declared: u32,
    },
    /// The checksum does not match the record's bytes.
    BadChecksum {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the bytes.
        computed: u32,
    },
    /// The checksum matches but the kind byte is unknown to this version.
    UnknownKind {
        /// The kind byte.
        kind: u8,
    },
}

impl Defect {
    /// Whether this is what an append interrupted by a crash leaves: a record cut short by the end
    /// of the file. Other defects mean bytes changed after they were written.
    pub fn is_torn_write(&self) -> bool {
        matches!(
            self,
            Defect::ShortHeader { .. } | Defect::ShortPayload { .. }
        )
    }
}

impl fmt::Display for Defect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Defect::ShortHeader { available } => write!(
                f,
                "record header cut short ({available} of {HEADER_LEN} bytes)"
            ),
            Defect::ShortPayload {
                declared,
                available,
            } => write!(
                f,
                "record payload cut short ({available} of {declared} bytes)"
            ),
            Defect::Oversized { declared } => write!(
                f,
                "record length {declared} exceeds the limit of {MAX_PAYLOAD_LEN}"
            ),
            Defect::BadChecksum { stored, computed } => write!(
                f,
                "record checksum mismatch (stored {stored:#010x}, computed {computed:#010x})"
            ),
            Defect::UnknownKind { kind } => write!(f, "unknown record kind {kind}"),
        }
    }
}

/// Where the valid prefix of a log ends, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Damage {
    /// The byte offset of the first record that failed to decode: the end of the valid prefix.
    pub offset: u64,
    /// How many bytes from `offset` to the end of the file were not trusted (and, on
    /// [`Wal::open`], cut).
    pub cut_bytes: u64,
    /// Why the record failed to decode.
    pub defect: Defect,
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} at byte {}; {} bytes from there on not trusted",
            self.defect, self.offset, self.cut_bytes
        )
    }
}

/// What a log holds: its valid records in the order written, and the damage that ended them, if any.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovered {
    /// The valid prefix of the log, in the order written.
    pub records: Vec<Record>,
    /// Why decoding stopped before the end of the file; `None` when the whole file was valid.
    pub damage: Option<Damage>,
}

impl Recovered {
    /// The length of the valid prefix in bytes.
    pub fn valid_len(&self) -> u64 {
        self.records.iter().map(Record::frame_len).sum()
    }

    /// The highest height of any record.
    pub fn latest_height(&self) -> Option<Height> {
        self.records.iter().map(|r| r.height).max()
    }

    /// The records of one height, in the order written.
    pub fn at_height(&self, height: Height) -> impl Iterator<Item = &Record> + '_ {
        self.records.iter().filter(move |r| r.height == height)
    }
}

/// Decodes a log's bytes: the valid prefix and what ended it. Never panics.
pub fn decode(bytes: &[u8]) -> Recovered {
    let mut records = Vec::new();
    let mut offset = 0usize;
    let damage = loop {
        let rest = bytes.get(offset..).unwrap_or_default();
        if rest.is_empty() {
            break None;
        }
        match decode_frame(rest) {
            Ok((record, frame_len)) => {
                records.push(record);
                offset += frame_len;
            }
            Err(defect) => {
                break Some(Damage {
                    offset: offset as u64,
                    cut_bytes: rest.len() as u64,
                    defect,
                })
            }
        }
    };
    Recovered { records, damage }
}

/// Decodes the record at the start of `bytes` (not empty); returns it with its frame length.
fn decode_frame(bytes: &[u8]) -> Result<(Record, usize), Defect> {
    let Some(header) = bytes.first_chunk::<HEADER_LEN>() else {
        return Err(Defect::ShortHeader {
            available: bytes.len(),
        });
    };
    let declared = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
    let stored = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    let kind_byte = header[8];
    let height = u64::from_le_bytes([
        header[9], header[10], header[11], header[12], header[13], header[14], header[15],
        header[16],
    ]);
    let len = match usize::try_from(declared) {
        Ok(len) if len <= MAX_PAYLOAD_LEN => len,
        _ => return Err(Defect::Oversized { declared }),
    };
    let body = bytes.get(HEADER_LEN..).unwrap_or_default();
    let Some(payload) = body.get(..len) else {
        return Err(Defect::ShortPayload {
            declared: len,
            available: body.len(),
        });
    };
    let computed = checksum(kind_byte, height, payload);
    if computed != stored {
        return Err(Defect::BadChecksum { stored, computed });
    }
    let Some(kind) = RecordKind::from_byte(kind_byte) else {
        return Err(Defect::UnknownKind { kind: kind_byte });
    };
    Ok((Record::new(kind, height, payload), HEADER_LEN + len))
}

fn checksum(kind: u8, height: Height, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&[kind]);
    hasher.update(&height.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

/// Appends one record's frame to `buf`.
fn encode_frame(
    buf: &mut Vec<u8>,
    kind: RecordKind,
    height: Height,
    payload: &[u8],
) -> Result<(), WalError> {
    let len = match u32::try_from(payload.len()) {
        Ok(len) if payload.len() <= MAX_PAYLOAD_LEN => len,
        _ => {
            return Err(WalError::RecordTooLarge {
                len: payload.len(),
                max: MAX_PAYLOAD_LEN,
            })
        }
    };
    let kind = kind.to_byte();
    buf.reserve(HEADER_LEN + payload.len());
    buf.extend_from_slice(&len.to_le_bytes());
    buf.extend_from_slice(&checksum(kind, height, payload).to_le_bytes());
    buf.push(kind);
    buf.extend_from_slice(&height.to_le_bytes());
    buf.extend_from_slice(payload);
    Ok(())
}

/// Everything that can go wrong with the write-ahead log.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An operation on a file or directory failed.
    #[error("write-ahead log: {op} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },

    /// A payload above [`MAX_PAYLOAD_LEN`] was refused; nothing was written.
    #[error("write-ahead log: record payload of {len} bytes exceeds the limit of {max}")]
    RecordTooLarge {
        /// The payload's length.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The log holds a well-formed record of a kind this version does not know: it was written by
    /// another version of the node. The file is left as it is.
    #[error(
        "write-ahead log {}: record at byte {offset} has kind {kind}, unknown to this version",
        .path.display()
    )]
    UnknownRecordKind {
        /// The log file.
        path: PathBuf,
        /// The record's offset.
        offset: u64,
        /// Its kind byte.
        kind: u8,
    },

    /// The file no longer holds what this log wrote to it (found while rewriting it).
    #[error(
        "write-ahead log {}: changed on disk: {expected_len} bytes written, {valid_len} valid",
        .path.display()
    )]
    ChangedOnDisk {
        /// The log file.
        path: PathBuf,
        /// The bytes this log wrote.
        expected_len: u64,
        /// The bytes of the file that decode as records.
        valid_len: u64,
    },

    /// An earlier write or sync failed, so the file's state is unknown; the log must be reopened.
    #[error(
        "write-ahead log {}: an earlier write failed; reopen the log",
        .path.display()
    )]
    Broken {
        /// The log file.
        path: PathBuf,
    },
}

/// A closure turning an I/O error into [`WalError::Io`].
fn io_err(op: &'static str, path: &Path) -> impl FnOnce(io::Error) -> WalError {
    let path = path.to_path_buf();
    move |source| WalError::Io { op, path, source }
}

/// Makes a directory's entries (a created or renamed file) durable.
fn sync_dir(dir: &Path) -> Result<(), WalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync directory", dir))
}

/// The write-ahead log of one node, open for appending.
#[derive(Debug)]
pub struct Wal {
    dir: PathBuf,
    path: PathBuf,
    file: File,
    /// Bytes of valid records in the file.
    size: u64,
    /// A write or sync failed; refuse everything until reopened.
    broken: bool,
}

impl Wal {
    /// Opens the log in `dir` (creating both if missing), recovers its valid records and cuts any
    /// damaged tail (see the [module docs](self)). A leftover [`TEMP_FILE_NAME`] from a rollover
    /// interrupted by a crash is deleted.
    pub fn open(dir: impl AsRef<Path>) -> Result<(Wal, Recovered), WalError> {
        let dir = dir.as_ref().to_path_buf();
        if !dir.is_dir() {
            fs::create_dir_all(&dir).map_err(io_err("create directory", &dir))?;
            match dir.parent() {
                Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
                _ => sync_dir(Path::new("."))?,
            }
        }

        let temp = dir.join(TEMP_FILE_NAME);
        match fs::remove_file(&temp) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &temp)(e)),
        }

        let path = dir.join(FILE_NAME);
        let mut file = match OpenOptions::new()
            .read(true)
            .append(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => {
                sync_dir(&dir)?;
                file
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => OpenOptions::new()
                .read(true)
                .append(true)
                .open(&path)
                .map_err(io_err("open", &path))?,
            Err(e) => return Err(io_err("create", &path)(e)),
        };

        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)
            .map_err(io_err("read", &path))?;
        let recovered = decode(&bytes);
        if let Some(damage) = recovered.damage {
            if let Defect::UnknownKind { kind } = damage.defect {
                return Err(WalError::UnknownRecordKind {
                    path,
                    offset: damage.offset,
                    kind,
                });
            }
            file.set_len(damage.offset)
                .and_then(|()| file.sync_all())
                .map_err(io_err("truncate", &path))?;
        }
        let size = recovered.valid_len();
        let wal = Wal {
            dir,
            path,
            file,
            size,
            broken: false,
        };
        Ok((wal, recovered))
    }

    /// Appends one record and makes it durable (`fdatasync`) before returning: once this returns,
    /// the message may leave the node. A payload above [`MAX_PAYLOAD_LEN`] is refused and nothing is
    /// written.
    pub fn append(
        &mut self,
        kind: RecordKind,
        height: Height,
        payload: &[u8],
    ) -> Result<(), WalError> {
        self.check_usable()?;
        let mut buf = Vec::new();
        encode_frame(&mut buf, kind, height, payload)?;
        self.write_durably(&buf)
    }

    /// Appends several records with one write and one `fdatasync`. If any payload is too large,
    /// nothing is written. A crash during the call may keep any prefix of the batch.
    pub fn append_batch(&mut self, records: &[Record]) -> Result<(), WalError> {
        self.check_usable()?;
        if records.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        for record in records {
            encode_frame(&mut buf, record.kind, record.height, &record.payload)?;
        }
        self.write_durably(&buf)
    }

    /// Rolls the log over to `height`: rewrites it, crash-safely, to a
    /// [`RecordKind::HeightStarted`] record for `height` followed by the records of heights `height`
    /// and above, in their order. Call it once the height before is durably committed.
    pub fn start_height(&mut self, height: Height) -> Result<(), WalError> {
        self.check_usable()?;
        let bytes = fs::read(&self.path).map_err(io_err("read", &self.path))?;
        let current = decode(&bytes);
        let valid_len = current.valid_len();
        if current.damage.is_some() || valid_len != self.size {
            self.broken = true;
            return Err(WalError::ChangedOnDisk {
                path: self.path.clone(),
                expected_len: self.size,
                valid_len,
            });
        }

        let mut buf = Vec::new();
        encode_frame(&mut buf, RecordKind::HeightStarted, height, &[])?;
        for record in current.records.iter().filter(|r| r.height >= height) {
            encode_frame(&mut buf, record.kind, record.height, &record.payload)?;
        }

        // Until the rename, the log itself is untouched: a failure leaves it usable.
        let temp = self.dir.join(TEMP_FILE_NAME);
        let mut new_file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&temp)
            .map_err(io_err("create", &temp))?;
        let written = new_file.set_len(0).and_then(|()| new_file.write_all(&buf));
        written
            .and_then(|()| new_file.sync_all())
            .map_err(io_err("write", &temp))?;

        // From the rename on, a failure leaves it unknown which file a restart finds.
        if let Err(e) = fs::rename(&temp, &self.path) {
            self.broken = true;
            return Err(io_err("rename", &temp)(e));
        }
        self.file = new_file;
        self.size = buf.len() as u64;
        if let Err(e) = sync_dir(&self.dir) {
            self.broken = true;
            return Err(e);
        }
        Ok(())
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes of records in the log.
    pub fn size_bytes(&self) -> u64 {
        self.size
    }

    fn check_usable(&self) -> Result<(), WalError> {
        if self.broken {
            return Err(WalError::Broken {
                path: self.path.clone(),
            });
        }
        Ok(())
    }

    /// Writes `buf` at the end of the log and syncs it; any failure breaks the log.
    fn write_durably(&mut self, buf: &[u8]) -> Result<(), WalError> {
        let result = self
            .file
            .write_all(buf)
            .and_then(|()| self.file.sync_data())
            .map_err(io_err("append to", &self.path));
        match result {
            Ok(()) => {
                self.size += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.broken = true;
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Record> {
        vec![
            Record::new(RecordKind::HeightStarted, 7, Vec::new()),
            Record::new(RecordKind::OwnSigned, 7, b"prevote r0".to_vec()),
            Record::new(RecordKind::Received, 7, vec![0u8; 40]),
            Record::new(RecordKind::OwnSigned, 7, b"precommit r0".to_vec()),
        ]
    }

    fn encode_all(records: &[Record]) -> Vec<u8> {
        let mut buf = Vec::new();
        for r in records {
            encode_frame(&mut buf, r.kind, r.height, &r.payload).unwrap();
        }
        buf
    }

    #[test]
    fn frame_layout_matches_the_documented_format() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, RecordKind::Received, 0x0102, b"xy").unwrap();
        assert_eq!(buf.len(), HEADER_LEN + 2);
        assert_eq!(&buf[0..4], &2u32.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&buf[8..]);
        assert_eq!(&buf[4..8], &crc.finalize().to_le_bytes());
        assert_eq!(buf[8], 2);
        assert_eq!(&buf[9..17], &0x0102u64.to_le_bytes());
        assert_eq!(&buf[17..], b"xy");
    }

    #[test]
    fn torn_at_every_offset_of_the_last_record_decodes_the_records_before_it() {
        let records = sample();
        let bytes = encode_all(&records);
        let last_start = bytes.len() - records[3].payload.len() - HEADER_LEN;
        assert_eq!(decode(&bytes).records, records);
        for cut in last_start..bytes.len() {
            let decoded = decode(&bytes[..cut]);
            assert_eq!(decoded.records, records[..3], "cut at {cut}");
            let damage = decoded.damage;
            if cut == last_start {
                assert_eq!(damage, None, "a cut on a record boundary is a clean log");
            } else {
                let damage = damage.unwrap();
                assert_eq!(damage.offset, last_start as u64);
                assert_eq!(damage.cut_bytes, (cut - last_start) as u64);
                assert!(damage.defect.is_torn_write(), "cut at {cut}: {damage}");
            }
        }
    }

    #[test]
    fn oversized_length_is_damage_and_oversized_payload_is_refused() {
        let mut bytes = encode_all(&sample()[..1]);
        bytes[0..4].copy_from_slice(&(MAX_PAYLOAD_LEN as u32 + 1).to_le_bytes());
        let decoded = decode(&bytes);
        assert!(decoded.records.is_empty());
        assert_eq!(
            decoded.damage.map(|d| d.defect),
            Some(Defect::Oversized {
                declared: MAX_PAYLOAD_LEN as u32 + 1
            })
        );
        let too_big = vec![0u8; MAX_PAYLOAD_LEN + 1];
        let mut buf = Vec::new();
        assert!(matches!(
            encode_frame(&mut buf, RecordKind::Received, 1, &too_big),
            Err(WalError::RecordTooLarge { .. })
        ));
        assert!(buf.is_empty());
        encode_frame(&mut buf, RecordKind::Received, 1, &too_big[1..]).unwrap();
        assert_eq!(
            decode(&buf).records.len(),
            1,
            "exactly the limit is allowed"
        );
    }

    #[test]
    fn a_checksummed_unknown_kind_is_reported_as_such() {
        let mut bytes = encode_all(&sample()[..2]);
        let second = HEADER_LEN; // the first record has an empty payload
        bytes[second + 8] = 9;
        let crc = checksum(9, 7, &bytes[second + HEADER_LEN..]);
        bytes[second + 4..second + 8].copy_from_slice(&crc.to_le_bytes());
        let decoded = decode(&bytes);
        assert_eq!(decoded.records.len(), 1);
        assert_eq!(
            decoded.damage.map(|d| d.defect),
            Some(Defect::UnknownKind { kind: 9 })
        );
    }

    #[test]
    fn a_broken_log_refuses_every_write() {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append(RecordKind::OwnSigned, 1, b"a").unwrap();
        wal.broken = true;
        assert!(matches!(
            wal.append(RecordKind::OwnSigned, 1, b"b"),
            Err(WalError::Broken { .. })
        ));
        assert!(matches!(
            wal.append_batch(&sample()),
            Err(WalError::Broken { .. })
        ));
        assert!(matches!(wal.start_height(2), Err(WalError::Broken { .. })));
        let (_, recovered) = Wal::open(dir.path()).unwrap();
        assert_eq!(recovered.records.len(), 1);
    }
}
