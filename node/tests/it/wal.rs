//! The consensus write-ahead log on disk: round trips, torn tails, bit flips, mid-log corruption,
//! height rollover, crashes in the middle of a rollover, a writer killed mid-stream, and property
//! tests over random logs and random damage.
//!
//! Durability against power loss (`append` returns only after `fdatasync`) cannot be tested here;
//! a killed process is the closest a test gets, and it shows that every acknowledged record survives.

use std::{
    fs::{self, OpenOptions},
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use cairn_node::wal::{
    decode, Defect, Record, RecordKind, Wal, WalError, FILE_NAME, HEADER_LEN, MAX_PAYLOAD_LEN,
    TEMP_FILE_NAME,
};
use proptest::prelude::*;

/// `count` records of mixed kinds and sizes (some empty) at `height`.
fn sample(count: usize, height: u64) -> Vec<Record> {
    (0..count)
        .map(|i| {
            let kind = if i % 3 == 0 {
                RecordKind::OwnSigned
            } else {
                RecordKind::Received
            };
            let payload: Vec<u8> = (0..(i * 7) % 23).map(|b| (b * 31 + i) as u8).collect();
            Record::new(kind, height, payload)
        })
        .collect()
}

/// Opens the log in `dir` and appends `records`, one sync each.
fn write_log(dir: &Path, records: &[Record]) -> Wal {
    let (mut wal, recovered) = Wal::open(dir).unwrap();
    assert!(recovered.records.is_empty());
    for r in records {
        wal.append(r.kind, r.height, &r.payload).unwrap();
    }
    wal
}

/// What a crash in the middle of an append leaves: the file cut short at `len` bytes.
fn tear(path: &Path, len: u64) {
    OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(len)
        .unwrap();
}

fn file_len(path: &Path) -> u64 {
    fs::metadata(path).unwrap().len()
}

/// The byte offset at which each record starts, and the end of the last one.
fn boundaries(records: &[Record]) -> Vec<u64> {
    let mut offsets = vec![0];
    for r in records {
        offsets.push(offsets[offsets.len() - 1] + r.frame_len());
    }
    offsets
}

#[test]
fn round_trip_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(20, 3);
    let wal = write_log(dir.path(), &records);
    let path = wal.path().to_path_buf();
    assert_eq!(path, dir.path().join(FILE_NAME));
    assert_eq!(wal.size_bytes(), file_len(&path));
    drop(wal);

    let (wal, recovered) = Wal::open(dir.path()).unwrap();
    assert_eq!(recovered.records, records);
    assert_eq!(recovered.damage, None);
    assert_eq!(wal.size_bytes(), file_len(&path));
    assert_eq!(recovered.valid_len(), file_len(&path));
}

#[test]
fn open_creates_missing_directories_and_an_empty_log() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data").join("wal");
    let (wal, recovered) = Wal::open(&dir).unwrap();
    assert_eq!(recovered.records, Vec::new());
    assert_eq!(recovered.damage, None);
    assert_eq!(recovered.latest_height(), None);
    assert_eq!(file_len(wal.path()), 0);
}

#[test]
fn append_batch_round_trips_and_an_empty_batch_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path()).unwrap();
    let first = sample(5, 1);
    let second = sample(9, 1);
    wal.append_batch(&first).unwrap();
    wal.append_batch(&[]).unwrap();
    wal.append_batch(&second).unwrap();
    assert_eq!(wal.size_bytes(), file_len(wal.path()));
    drop(wal);

    let (_, recovered) = Wal::open(dir.path()).unwrap();
    let all: Vec<Record> = first.into_iter().chain(second).collect();
    assert_eq!(recovered.records, all);
}

#[test]
fn oversized_payloads_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let mut wal = write_log(dir.path(), &sample(2, 1));
    let before = file_len(wal.path());
    let too_big = vec![7u8; MAX_PAYLOAD_LEN + 1];

    let err = wal.append(RecordKind::Received, 1, &too_big).unwrap_err();
    assert!(
        matches!(err, WalError::RecordTooLarge { len, max } if len == MAX_PAYLOAD_LEN + 1 && max == MAX_PAYLOAD_LEN)
    );
    let batch = vec![
        Record::new(RecordKind::Received, 1, b"fine".to_vec()),
        Record::new(RecordKind::Received, 1, too_big),
    ];
    assert!(matches!(
        wal.append_batch(&batch),
        Err(WalError::RecordTooLarge { .. })
    ));
    assert_eq!(
        file_len(wal.path()),
        before,
        "a refused batch writes none of it"
    );

    // The log is still usable, and the limit itself is allowed.
    wal.append(RecordKind::Received, 1, &vec![1u8; MAX_PAYLOAD_LEN])
        .unwrap();
    drop(wal);
    let (_, recovered) = Wal::open(dir.path()).unwrap();
    assert_eq!(recovered.records.len(), 3);
    assert_eq!(recovered.records[2].payload.len(), MAX_PAYLOAD_LEN);
}

#[test]
fn a_tail_torn_at_every_offset_of_the_last_record_is_cut_and_appends_continue() {
    let records = sample(8, 4);
    let template = tempfile::tempdir().unwrap();
    let full = {
        let wal = write_log(template.path(), &records);
        fs::read(wal.path()).unwrap()
    };
    let offsets = boundaries(&records);
    let last_start = offsets[records.len() - 1];
    let end = offsets[records.len()];
    assert_eq!(end, full.len() as u64);
    let before_last = &records[..records.len() - 1];

    for cut in last_start..end {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::write(&path, &full).unwrap();
        tear(&path, cut);

        let (mut wal, recovered) = Wal::open(dir.path()).unwrap();
        assert_eq!(recovered.records, before_last, "torn at {cut}");
        match recovered.damage {
            None => assert_eq!(cut, last_start, "only a cut on a boundary is clean"),
            Some(damage) => {
                assert_eq!(damage.offset, last_start, "torn at {cut}");
                assert_eq!(damage.cut_bytes, cut - last_start);
                assert!(damage.defect.is_torn_write(), "torn at {cut}: {damage}");
            }
        }
        assert_eq!(
            file_len(&path),
            last_start,
            "the torn tail is cut from the file"
        );

        // Writing goes on after the valid prefix, and survives another reopen.
        let next = Record::new(RecordKind::OwnSigned, 5, b"after recovery".to_vec());
        wal.append(next.kind, next.height, &next.payload).unwrap();
        drop(wal);
        let (_, again) = Wal::open(dir.path()).unwrap();
        let mut expected = before_last.to_vec();
        expected.push(next);
        assert_eq!(again.records, expected, "torn at {cut}");
        assert_eq!(again.damage, None);
    }
}

#[test]
fn a_bit_flip_anywhere_ends_the_log_at_the_damaged_record() {
    let records = sample(6, 9);
    let template = tempfile::tempdir().unwrap();
    let full = {
        let wal = write_log(template.path(), &records);
        fs::read(wal.path()).unwrap()
    };
    let offsets = boundaries(&records);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(FILE_NAME);

    for byte in 0..full.len() {
        let damaged_record = offsets.iter().rposition(|&o| o <= byte as u64).unwrap();
        for bit in 0..8 {
            let mut bytes = full.clone();
            bytes[byte] ^= 1 << bit;
            fs::write(&path, &bytes).unwrap();

            let (_, recovered) = Wal::open(dir.path()).unwrap();
            // CRC-32 catches every single-bit error, so the log ends exactly at the damaged record.
            assert_eq!(
                recovered.records,
                records[..damaged_record],
                "bit {bit} of byte {byte}"
            );
            let damage = recovered.damage.unwrap();
            assert_eq!(damage.offset, offsets[damaged_record]);
            assert_eq!(damage.cut_bytes, full.len() as u64 - damage.offset);
            assert_eq!(file_len(&path), damage.offset);
        }
    }
}

#[test]
fn corruption_mid_log_drops_the_valid_records_after_it_and_reports_it() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(6, 2);
    let wal = write_log(dir.path(), &records);
    let path = wal.path().to_path_buf();
    drop(wal);
    let offsets = boundaries(&records);

    // Damage the payload of record 2; records 3 to 5 are intact but follow the damage.
    let mut bytes = fs::read(&path).unwrap();
    let target = offsets[2] as usize + HEADER_LEN;
    assert!(!records[2].payload.is_empty());
    bytes[target] ^= 0xff;
    fs::write(&path, &bytes).unwrap();

    let (_, recovered) = Wal::open(dir.path()).unwrap();
    assert_eq!(recovered.records, records[..2]);
    let damage = recovered.damage.unwrap();
    assert!(matches!(damage.defect, Defect::BadChecksum { .. }));
    assert!(!damage.defect.is_torn_write(), "this is not a crash tear");
    assert_eq!(damage.offset, offsets[2]);
    assert_eq!(damage.cut_bytes, offsets[6] - offsets[2]);
    assert!(damage.to_string().contains("checksum"));
    assert_eq!(file_len(&path), offsets[2]);

    let (_, again) = Wal::open(dir.path()).unwrap();
    assert_eq!(again.records, records[..2]);
    assert_eq!(again.damage, None);
}

#[test]
fn an_absurd_length_is_damage_not_an_allocation() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(3, 1);
    let wal = write_log(dir.path(), &records);
    let path = wal.path().to_path_buf();
    drop(wal);
    let offsets = boundaries(&records);
    let mut bytes = fs::read(&path).unwrap();
    let at = offsets[1] as usize;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    fs::write(&path, &bytes).unwrap();

    let (_, recovered) = Wal::open(dir.path()).unwrap();
    assert_eq!(recovered.records, records[..1]);
    assert_eq!(
        recovered.damage.map(|d| d.defect),
        Some(Defect::Oversized { declared: u32::MAX })
    );
    assert_eq!(file_len(&path), offsets[1]);
}

#[test]
fn a_record_of_an_unknown_kind_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample(2, 1);
    let wal = write_log(dir.path(), &records);
    let path = wal.path().to_path_buf();
    drop(wal);

    // A well-formed record of kind 200, as a newer version might write.
    let (kind, height, payload) = (200u8, 1u64, b"from the future");
    let mut crc = crc32fast::Hasher::new();
    crc.update(&[kind]);
    crc.update(&height.to_le_bytes());
    crc.update(payload);
    let mut frame = (payload.len() as u32).to_le_bytes().to_vec();
    frame.extend_from_slice(&crc.finalize().to_le_bytes());
    frame.push(kind);
    frame.extend_from_slice(&height.to_le_bytes());
    frame.extend_from_slice(payload);
    let mut bytes = fs::read(&path).unwrap();
    bytes.extend_from_slice(&frame);
    fs::write(&path, &bytes).unwrap();

    let err = Wal::open(dir.path()).unwrap_err();
    assert!(
        matches!(err, WalError::UnknownRecordKind { offset, kind: 200, .. } if offset == boundaries(&records)[2]),
        "{err}"
    );
    assert_eq!(fs::read(&path).unwrap(), bytes, "the file is not touched");
}

#[test]
fn a_block_as_large_as_the_ledger_allows_is_logged_ahead_of_its_vote() {
    let dir = tempfile::tempdir().unwrap();
    let (mut wal, _) = Wal::open(dir.path()).unwrap();
    let block: Vec<u8> = (0..cairn_ledger::block::MAX_BLOCK_BYTES)
        .map(|i| (i % 251) as u8)
        .collect();
    let records = vec![
        Record::new(RecordKind::Block, 5, block),
        Record::new(RecordKind::OwnSigned, 5, b"prevote".to_vec()),
    ];
    wal.append_batch(&records).unwrap();
    wal.start_height(5).unwrap();
    drop(wal);
    let (_, recovered) = Wal::open(dir.path()).unwrap();
    let at_five: Vec<&Record> = recovered.at_height(5).collect();
    assert_eq!(
        at_five.len(),
        3,
        "the height's start, the block and the vote"
    );
    assert_eq!(at_five[1], &records[0]);
    assert_eq!(at_five[2], &records[1]);
}

#[test]
fn start_height_drops_older_heights_and_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let records = vec![
        Record::new(RecordKind::OwnSigned, 5, b"h5 prevote".to_vec()),
        Record::new(RecordKind::Received, 5, b"h5 vote".to_vec()),
        Record::new(RecordKind::Received, 6, b"h6 early vote".to_vec()),
        Record::new(RecordKind::OwnSigned, 5, b"h5 precommit".to_vec()),
        Record::new(RecordKind::Received, 7, b"h7 early vote".to_vec()),
    ];
    let mut wal = write_log(dir.path(), &records);
    wal.start_height(6).unwrap();
    assert_eq!(wal.size_bytes(), file_len(wal.path()));
    assert!(!dir.path().join(TEMP_FILE_NAME).exists());
    let own = Record::new(RecordKind::OwnSigned, 6, b"h6 prevote".to_vec());
    wal.append(own.kind, own.height, &own.payload).unwrap();
    drop(wal);

    let (mut wal, recovered) = Wal::open(dir.path()).unwrap();
    let expected = vec![
        Record::new(RecordKind::HeightStarted, 6, Vec::new()),
        records[2].clone(),
        records[4].clone(),
        own.clone(),
    ];
    assert_eq!(recovered.records, expected);
    assert_eq!(recovered.damage, None);
    assert_eq!(recovered.latest_height(), Some(7));
    let at_six: Vec<&Record> = recovered.at_height(6).collect();
    assert_eq!(at_six, vec![&expected[0], &records[2], &own]);

    // Rolling over again keeps working from a reopened log.
    wal.start_height(7).unwrap();
    drop(wal);
    let (_, recovered) = Wal::open(dir.path()).unwrap();
    assert_eq!(
        recovered.records,
        vec![
            Record::new(RecordKind::HeightStarted, 7, Vec::new()),
            records[4].clone(),
        ]
    );
}

/// A crash before the rename leaves a temporary file holding any prefix of the new log (or all of
/// it); the restart must find the old log, whole.
#[test]
fn a_crash_before_the_rollover_rename_recovers_the_old_log() {
    let dir = tempfile::tempdir().unwrap();
    let old = [sample(4, 1), sample(3, 2)].concat();
    let wal = write_log(dir.path(), &old);
    let old_bytes = fs::read(wal.path()).unwrap();
    drop(wal);

    // What the rollover to height 2 would write, obtained by doing it on a copy.
    let copy = tempfile::tempdir().unwrap();
    fs::write(copy.path().join(FILE_NAME), &old_bytes).unwrap();
    let (mut other, _) = Wal::open(copy.path()).unwrap();
    other.start_height(2).unwrap();
    let new_bytes = fs::read(other.path()).unwrap();
    drop(other);

    let temp = dir.path().join(TEMP_FILE_NAME);
    for cut in 0..=new_bytes.len() {
        fs::write(&temp, &new_bytes[..cut]).unwrap();
        let (_, recovered) = Wal::open(dir.path()).unwrap();
        assert_eq!(recovered.records, old, "temporary file of {cut} bytes");
        assert_eq!(recovered.damage, None);
        assert!(!temp.exists(), "the leftover temporary file is removed");
        assert_eq!(fs::read(dir.path().join(FILE_NAME)).unwrap(), old_bytes);
    }
}

/// After the rename, the restart finds the new log, whole, even with the leftovers of a later
/// interrupted rollover next to it.
#[test]
fn a_crash_after_the_rollover_rename_recovers_the_new_log() {
    let dir = tempfile::tempdir().unwrap();
    let old = [sample(4, 1), sample(3, 2)].concat();
    let mut wal = write_log(dir.path(), &old);
    wal.start_height(2).unwrap();
    drop(wal);
    fs::write(dir.path().join(TEMP_FILE_NAME), b"half a rollover").unwrap();

    let (_, recovered) = Wal::open(dir.path()).unwrap();
    let expected = [
        vec![Record::new(RecordKind::HeightStarted, 2, Vec::new())],
        sample(3, 2),
    ]
    .concat();
    assert_eq!(recovered.records, expected);
    assert_eq!(recovered.damage, None);
}

// A writer killed at an arbitrary moment.

const CHILD_DIR_VAR: &str = "CAIRN_WAL_CHILD_DIR";
const CHILD_OPS: usize = 100_000;

/// One step of the killed writer.
#[derive(Clone, Debug)]
enum Op {
    Start(u64),
    Append(Record),
    Batch(Vec<Record>),
}

/// The writer's deterministic script: 25 steps per height, a rollover at each new height.
fn script(i: usize) -> Op {
    let height = (i / 25) as u64 + 1;
    let payload = format!("step {i}").into_bytes();
    match i % 25 {
        0 => Op::Start(height),
        n if n % 4 == 0 => Op::Batch(vec![
            Record::new(RecordKind::Received, height, payload.clone()),
            Record::new(RecordKind::Received, height + 1, payload),
        ]),
        _ => Op::Append(Record::new(RecordKind::OwnSigned, height, payload)),
    }
}

/// What the log holds after `op`, by the documented semantics.
fn apply(log: &mut Vec<Record>, op: &Op) {
    match op {
        Op::Start(height) => {
            log.retain(|r| r.height >= *height);
            log.insert(
                0,
                Record::new(RecordKind::HeightStarted, *height, Vec::new()),
            );
        }
        Op::Append(record) => log.push(record.clone()),
        Op::Batch(records) => log.extend(records.iter().cloned()),
    }
}

/// Runs only as the child of `a_killed_writer_keeps_every_acknowledged_record`: carries out the
/// script and prints the number of each step once it has returned.
#[test]
fn wal_child_writer() {
    let Ok(dir) = std::env::var(CHILD_DIR_VAR) else {
        return;
    };
    let (mut wal, _) = Wal::open(&dir).unwrap();
    for i in 0..CHILD_OPS {
        match script(i) {
            Op::Start(height) => wal.start_height(height).unwrap(),
            Op::Append(r) => wal.append(r.kind, r.height, &r.payload).unwrap(),
            Op::Batch(records) => wal.append_batch(&records).unwrap(),
        }
        println!("done {i}");
    }
}

#[test]
fn a_killed_writer_keeps_every_acknowledged_record() {
    let exe = std::env::current_exe().unwrap();
    for wait_for in [3usize, 26, 77, 140] {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "wal::wal_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut acknowledged = 0;
        for line in BufReader::new(stdout).lines() {
            if let Some(step) = line.unwrap().strip_prefix("done ") {
                acknowledged = step.parse::<usize>().unwrap() + 1;
                if acknowledged >= wait_for {
                    break;
                }
            }
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(acknowledged >= wait_for, "the writer stopped early");

        let (_, recovered) = Wal::open(dir.path()).unwrap();
        // The log is the state after some step at or after the last acknowledged one.
        let mut log = Vec::new();
        let mut matched = None;
        for i in 0..CHILD_OPS {
            apply(&mut log, &script(i));
            if i + 1 >= acknowledged && log == recovered.records {
                matched = Some(i + 1);
                break;
            }
            if i > acknowledged + 10_000 {
                break;
            }
        }
        assert!(
            matched.is_some(),
            "after {acknowledged} acknowledged steps the log holds {} records matching no state",
            recovered.records.len()
        );
    }
}

// Property tests.

fn arb_record() -> impl Strategy<Value = Record> {
    (
        prop_oneof![
            Just(RecordKind::OwnSigned),
            Just(RecordKind::Received),
            Just(RecordKind::HeightStarted),
        ],
        0u64..4,
        prop::collection::vec(any::<u8>(), 0..48),
    )
        .prop_map(|(kind, height, payload)| Record::new(kind, height, payload))
}

/// Damage done to a log file: `position` is a fraction of its length, in millionths.
#[derive(Clone, Debug)]
enum Harm {
    Truncate { position: u32 },
    FlipBit { position: u32, bit: u8 },
    Overwrite { position: u32, bytes: Vec<u8> },
}

fn arb_harm() -> impl Strategy<Value = Harm> {
    prop_oneof![
        (0u32..1_000_000).prop_map(|position| Harm::Truncate { position }),
        (0u32..1_000_000, 0u8..8).prop_map(|(position, bit)| Harm::FlipBit { position, bit }),
        (0u32..1_000_000, prop::collection::vec(any::<u8>(), 1..24))
            .prop_map(|(position, bytes)| Harm::Overwrite { position, bytes }),
    ]
}

fn harm(bytes: &mut Vec<u8>, harm: &Harm) {
    let at = |position: u32, len: usize| (len as u64 * u64::from(position) / 1_000_000) as usize;
    match harm {
        Harm::Truncate { position } => bytes.truncate(at(*position, bytes.len())),
        Harm::FlipBit { position, bit } => {
            if !bytes.is_empty() {
                let i = at(*position, bytes.len());
                bytes[i] ^= 1 << bit;
            }
        }
        Harm::Overwrite {
            position,
            bytes: with,
        } => {
            let i = at(*position, bytes.len());
            for (j, b) in with.iter().enumerate() {
                match bytes.get_mut(i + j) {
                    Some(slot) => *slot = *b,
                    None => bytes.push(*b),
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Whatever happens to the file, the log recovers a prefix of what was written, cuts the file
    /// to it, and keeps working.
    #[test]
    fn damaged_logs_recover_a_prefix_and_keep_working(
        records in prop::collection::vec(arb_record(), 0..12),
        harms in prop::collection::vec(arb_harm(), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append_batch(&records[..records.len() / 2]).unwrap();
        for r in &records[records.len() / 2..] {
            wal.append(r.kind, r.height, &r.payload).unwrap();
        }
        let path = wal.path().to_path_buf();
        drop(wal);

        let mut bytes = fs::read(&path).unwrap();
        for h in &harms {
            harm(&mut bytes, h);
        }
        fs::write(&path, &bytes).unwrap();

        let (mut wal, recovered) = match Wal::open(dir.path()) {
            Ok(opened) => opened,
            // Random bytes that pass the checksum with an unknown kind: refused, file untouched.
            Err(WalError::UnknownRecordKind { .. }) => {
                prop_assert_eq!(fs::read(&path).unwrap(), bytes);
                return Ok(());
            }
            Err(e) => return Err(TestCaseError::fail(e.to_string())),
        };
        let n = recovered.records.len();
        prop_assert!(n <= records.len());
        prop_assert_eq!(&recovered.records[..], &records[..n]);
        prop_assert_eq!(file_len(&path), recovered.valid_len());

        let extra = Record::new(RecordKind::OwnSigned, 9, b"after".to_vec());
        wal.append(extra.kind, extra.height, &extra.payload).unwrap();
        drop(wal);
        let (_, again) = Wal::open(dir.path()).unwrap();
        let mut expected = records[..n].to_vec();
        expected.push(extra);
        prop_assert_eq!(again.records, expected);
        prop_assert_eq!(again.damage, None);
    }

    /// The decoder of outside bytes never panics, and what it accepts is exactly a prefix.
    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        let decoded = decode(&bytes);
        let valid = decoded.valid_len();
        prop_assert!(valid <= bytes.len() as u64);
        match decoded.damage {
            None => prop_assert_eq!(valid, bytes.len() as u64),
            Some(damage) => {
                prop_assert_eq!(damage.offset, valid);
                prop_assert_eq!(damage.offset + damage.cut_bytes, bytes.len() as u64);
            }
        }
    }

    /// Rolling over to any height keeps exactly the records at or above it, in order.
    #[test]
    fn start_height_keeps_exactly_the_records_at_or_above_it(
        records in prop::collection::vec(arb_record(), 0..16),
        height in 0u64..5,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (mut wal, _) = Wal::open(dir.path()).unwrap();
        wal.append_batch(&records).unwrap();
        wal.start_height(height).unwrap();
        drop(wal);
        let (_, recovered) = Wal::open(dir.path()).unwrap();
        let mut expected = vec![Record::new(RecordKind::HeightStarted, height, Vec::new())];
        expected.extend(records.into_iter().filter(|r| r.height >= height));
        prop_assert_eq!(recovered.records, expected);
    }
}
