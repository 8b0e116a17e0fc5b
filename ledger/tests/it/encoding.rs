//! The canonical encoding: round trips, and refusal of every other byte string.

use cairn_ledger::{
    testing::{test_address, test_key, transfer, TEST_CHAIN_ID},
    Address, Block, BlockHeader, Hash, SignedTransaction,
};
use proptest::prelude::*;

fn signed_transfer() -> impl Strategy<Value = SignedTransaction> {
    (
        0u64..50,
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        any::<[u8; 20]>(),
        "[a-z0-9-]{0,20}",
    )
        .prop_map(|(key, nonce, amount, fee, to, chain)| {
            let chain = if chain.is_empty() {
                TEST_CHAIN_ID.to_string()
            } else {
                chain
            };
            transfer(&test_key(key), &chain, nonce, Address(to), amount, fee)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn transactions_round_trip(tx in signed_transfer()) {
        let bytes = tx.encode();
        prop_assert_eq!(SignedTransaction::decode(&bytes)?, tx.clone());
        prop_assert!(tx.verify_signature());
        // Any trailing byte is refused, and so is any truncation.
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(SignedTransaction::decode(&longer).is_err());
        prop_assert!(SignedTransaction::decode(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn mutated_bytes_decode_only_canonically(tx in signed_transfer(), position in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = tx.encode();
        let at = position.index(bytes.len());
        bytes[at] = byte;
        // Whatever decodes must re-encode to exactly the bytes given: one value, one encoding.
        if let Ok(decoded) = SignedTransaction::decode(&bytes) {
            prop_assert_eq!(decoded.encode(), bytes);
        }
    }

    #[test]
    fn blocks_round_trip(txs in prop::collection::vec(signed_transfer(), 0..8), height in any::<u64>(), time_ms in any::<u64>()) {
        let block = Block {
            header: BlockHeader {
                chain_id: TEST_CHAIN_ID.into(),
                height,
                time_ms,
                prev_hash: Hash::digest(b"prev"),
                tx_root: Block::compute_tx_root(&txs),
                evidence_root: Block::compute_evidence_root(&[b"evidence".to_vec()]),
                state_root: Hash::digest(b"state"),
                validator_set_hash: Hash::digest(b"validators"),
                proposer: test_address(1),
            },
            transactions: txs,
            evidence: vec![b"evidence".to_vec()],
        };
        let bytes = block.encode();
        prop_assert_eq!(Block::decode(&bytes)?, block);
        let mut longer = bytes.clone();
        longer.push(1);
        prop_assert!(Block::decode(&longer).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..400)) {
        let _ = SignedTransaction::decode(&bytes);
        let _ = Block::decode(&bytes);
    }
}

#[test]
fn a_bad_payload_tag_is_refused() {
    let tx = transfer(&test_key(1), TEST_CHAIN_ID, 0, test_address(2), 5, 1);
    let mut bytes = tx.encode();
    // Layout: chain id (u32 length + bytes), signer (32), nonce (8), fee (8), payload tag.
    let tag_at = 4 + TEST_CHAIN_ID.len() + 32 + 8 + 8;
    assert_eq!(bytes[tag_at], 0);
    bytes[tag_at] = 1;
    assert!(SignedTransaction::decode(&bytes).is_err());
}

#[test]
fn oversized_input_is_refused_before_decoding() {
    assert!(SignedTransaction::decode(&vec![0; 4096]).is_err());
}

#[test]
fn a_signature_for_another_chain_does_not_verify_here() {
    let mut tx = transfer(&test_key(1), "other-chain", 0, test_address(2), 5, 1);
    tx.tx.chain_id = TEST_CHAIN_ID.into();
    assert!(!tx.verify_signature());
}
