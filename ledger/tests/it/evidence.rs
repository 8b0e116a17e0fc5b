//! Evidence in blocks: bounded, committed to by the header, and never accepted twice.

use cairn_ledger::{
    block::{MAX_BLOCK_EVIDENCE, MAX_EVIDENCE_BYTES},
    testing::{open_funded_store, test_address},
    Hash, LedgerError, SignaturePolicy, StoreConfig,
};

fn propose(
    store: &cairn_ledger::LedgerStore,
    evidence: Vec<Vec<u8>>,
) -> Result<(cairn_ledger::Block, cairn_ledger::BlockExecution), LedgerError> {
    let height = store.latest_height().unwrap() + 1;
    store.propose_block_with_evidence(
        height,
        test_address(0),
        Hash::ZERO,
        Vec::new(),
        evidence,
        SignaturePolicy::VerifyAll,
    )
}

#[test]
fn evidence_is_committed_once_and_refused_after() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_funded_store(dir.path(), StoreConfig::default(), 4, 1_000).unwrap();
    let evidence = vec![b"first equivocation".to_vec(), b"second one".to_vec()];
    let (block, mut execution) = propose(&store, evidence.clone()).unwrap();
    assert_eq!(
        block.header.evidence_root,
        cairn_ledger::Block::compute_evidence_root(&evidence)
    );
    store
        .execute_block(&block, SignaturePolicy::VerifyAll)
        .unwrap();
    store.commit_block(&block, &mut execution, b"cert").unwrap();
    assert_eq!(
        store.evidence_height(&Hash::digest(&evidence[0])).unwrap(),
        Some(1)
    );
    assert_eq!(store.block(1).unwrap().unwrap().evidence, evidence);

    let again = propose(&store, vec![evidence[1].clone()]);
    assert!(
        matches!(again, Err(LedgerError::InvalidBlock { .. })),
        "{again:?}"
    );
}

#[test]
fn evidence_must_match_the_root_and_the_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_funded_store(dir.path(), StoreConfig::default(), 4, 1_000).unwrap();
    let (mut block, _) = propose(&store, vec![b"one".to_vec()]).unwrap();
    block.evidence.push(b"smuggled".to_vec());
    assert!(store
        .execute_block(&block, SignaturePolicy::VerifyAll)
        .is_err());

    assert!(propose(&store, vec![b"twice".to_vec(), b"twice".to_vec()]).is_err());
    assert!(propose(&store, vec![vec![0; MAX_EVIDENCE_BYTES + 1]]).is_err());
    let too_many = (0..=MAX_BLOCK_EVIDENCE).map(|i| vec![i as u8]).collect();
    assert!(propose(&store, too_many).is_err());
}
