//! The state transition: random transaction sequences conserve supply, nonces never repeat, and
//! an invalid transaction invalidates its block with an error that names it.

use std::collections::{BTreeMap, HashSet};

use cairn_ledger::{
    error::TxRejection,
    execute::SignaturePolicy,
    store::StoreConfig,
    testing::{
        commit_next_block, open_funded_store, test_address, test_key, transfer, TEST_CHAIN_ID,
    },
    Hash, LedgerError, LedgerStore, SignedTransaction,
};
use proptest::prelude::*;

const ACCOUNTS: u64 = 6;
const BALANCE: u64 = 1_000;

/// One transaction to attempt: who sends, to whom, how much, and how it may be broken.
#[derive(Debug, Clone)]
struct Attempt {
    from: u64,
    to: u64,
    amount: u64,
    fee: u64,
    nonce_offset: i8,
    defect: Option<Defect>,
}

#[derive(Debug, Clone, Copy)]
enum Defect {
    BadSignature,
    WrongChain,
}

fn attempts() -> impl Strategy<Value = Vec<Vec<Attempt>>> {
    let attempt = (
        0..ACCOUNTS + 2,
        0..ACCOUNTS + 2,
        prop_oneof![0u64..400, Just(u64::MAX)],
        0u64..20,
        prop_oneof![8 => Just(0i8), 1 => Just(-1i8), 1 => Just(1i8)],
        prop::option::weighted(
            0.1,
            prop_oneof![Just(Defect::BadSignature), Just(Defect::WrongChain)],
        ),
    )
        .prop_map(|(from, to, amount, fee, nonce_offset, defect)| Attempt {
            from,
            to,
            amount,
            fee,
            nonce_offset,
            defect,
        });
    prop::collection::vec(prop::collection::vec(attempt, 1..6), 1..12)
}

fn total_supply(store: &LedgerStore) -> u64 {
    let height = store.latest_height().unwrap();
    store
        .tree_accounts(height)
        .unwrap()
        .iter()
        .map(|(_, account)| account.balance)
        .sum()
}

fn build(
    store: &LedgerStore,
    attempt: &Attempt,
    pending_nonces: &BTreeMap<u64, u64>,
) -> SignedTransaction {
    let sender = test_address(attempt.from);
    let base = pending_nonces
        .get(&attempt.from)
        .copied()
        .unwrap_or_else(|| store.account(&sender).unwrap().unwrap_or_default().nonce);
    let nonce = base.saturating_add_signed(i64::from(attempt.nonce_offset));
    let chain = match attempt.defect {
        Some(Defect::WrongChain) => "another-chain",
        _ => TEST_CHAIN_ID,
    };
    let mut tx = transfer(
        &test_key(attempt.from),
        chain,
        nonce,
        test_address(attempt.to),
        attempt.amount,
        attempt.fee,
    );
    if let Some(Defect::BadSignature) = attempt.defect {
        tx.signature.0[10] ^= 1;
    }
    tx
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn supply_is_conserved_and_nonces_never_repeat(blocks in attempts()) {
        let dir = tempfile::tempdir().unwrap();
        let store = open_funded_store(dir.path(), StoreConfig::default(), ACCOUNTS, BALANCE).unwrap();
        let supply = total_supply(&store);
        prop_assert_eq!(supply, ACCOUNTS * BALANCE);
        let proposer = test_address(ACCOUNTS + 5);
        let mut seen_nonces = HashSet::new();

        for attempts in &blocks {
            let mut nonces = BTreeMap::new();
            let mut txs = Vec::new();
            for attempt in attempts {
                let tx = build(&store, attempt, &nonces);
                nonces.insert(attempt.from, tx.tx.nonce + 1);
                txs.push(tx);
            }
            let root_before = store.state_root(store.latest_height().unwrap()).unwrap();
            match commit_next_block(&store, proposer, txs.clone()) {
                Ok(block) => {
                    for tx in &block.transactions {
                        prop_assert!(seen_nonces.insert((tx.tx.sender(), tx.tx.nonce)), "nonce reused");
                        let receipt = store.receipt(&tx.hash()).unwrap().unwrap();
                        prop_assert_eq!(receipt.height, block.header.height);
                    }
                }
                Err(LedgerError::InvalidTransaction { index, tx_hash, reason }) => {
                    prop_assert!(index < txs.len());
                    prop_assert_eq!(tx_hash, txs[index].hash());
                    // The block was refused whole: the state did not move.
                    prop_assert_eq!(store.state_root(store.latest_height().unwrap()).unwrap(), root_before);
                    if let TxRejection::BadSignature = reason {
                        prop_assert!(!txs[index].verify_signature());
                    }
                }
                Err(other) => prop_assert!(false, "unexpected error {other}"),
            }
            prop_assert_eq!(total_supply(&store), supply);
        }
        // The flat table and the tree agree on every account.
        let height = store.latest_height().unwrap();
        for index in 0..ACCOUNTS + 6 {
            let address = test_address(index);
            let proven = store.account_proof(&address, height).unwrap().account;
            prop_assert_eq!(proven, store.account(&address).unwrap());
        }
    }
}

fn funded() -> (tempfile::TempDir, LedgerStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_funded_store(dir.path(), StoreConfig::default(), ACCOUNTS, BALANCE).unwrap();
    (dir, store)
}

fn rejection(store: &LedgerStore, txs: Vec<SignedTransaction>) -> (usize, TxRejection) {
    match store.propose_block(
        1,
        test_address(99),
        Hash::ZERO,
        txs,
        SignaturePolicy::VerifyAll,
    ) {
        Err(LedgerError::InvalidTransaction { index, reason, .. }) => (index, reason),
        other => panic!("expected an invalid transaction, got {other:?}"),
    }
}

#[test]
fn each_rule_names_the_transaction_and_the_reason() {
    let (_dir, store) = funded();
    let ok = transfer(&test_key(0), TEST_CHAIN_ID, 0, test_address(1), 10, 1);

    let stale = transfer(&test_key(0), TEST_CHAIN_ID, 0, test_address(1), 10, 1);
    assert_eq!(rejection(&store, vec![ok.clone(), stale]).0, 1);

    let gap = transfer(&test_key(1), TEST_CHAIN_ID, 5, test_address(2), 10, 1);
    assert_eq!(
        rejection(&store, vec![ok.clone(), gap]),
        (
            1,
            TxRejection::BadNonce {
                expected: 0,
                found: 5
            }
        )
    );

    let broke = transfer(&test_key(2), TEST_CHAIN_ID, 0, test_address(3), BALANCE, 1);
    assert!(matches!(
        rejection(&store, vec![broke]),
        (0, TxRejection::InsufficientBalance { .. })
    ));

    let overflow = transfer(
        &test_key(2),
        TEST_CHAIN_ID,
        0,
        test_address(3),
        u64::MAX,
        u64::MAX,
    );
    assert!(matches!(
        rejection(&store, vec![overflow]),
        (0, TxRejection::InsufficientBalance { .. })
    ));

    let foreign = transfer(&test_key(2), "elsewhere", 0, test_address(3), 1, 1);
    assert!(matches!(
        rejection(&store, vec![foreign]),
        (0, TxRejection::WrongChain { .. })
    ));

    let mut forged = transfer(&test_key(3), TEST_CHAIN_ID, 0, test_address(4), 1, 1);
    forged.signature.0[0] ^= 0x80;
    assert_eq!(
        rejection(&store, vec![ok, forged]),
        (1, TxRejection::BadSignature)
    );
}

#[test]
fn fees_go_to_the_proposer_and_self_transfers_only_pay_the_fee() {
    let (_dir, store) = funded();
    let proposer = test_address(42);
    let txs = vec![
        transfer(&test_key(0), TEST_CHAIN_ID, 0, test_address(0), 100, 3),
        transfer(&test_key(1), TEST_CHAIN_ID, 0, test_address(2), 50, 4),
    ];
    commit_next_block(&store, proposer, txs).unwrap();
    let balance = |index| {
        store
            .account(&test_address(index))
            .unwrap()
            .unwrap_or_default()
            .balance
    };
    assert_eq!(balance(0), BALANCE - 3);
    assert_eq!(balance(1), BALANCE - 54);
    assert_eq!(balance(2), BALANCE + 50);
    assert_eq!(balance(42), 7);
}

#[test]
fn a_proposer_that_sends_and_receives_in_its_own_block_keeps_every_unit() {
    let (_dir, store) = funded();
    let proposer = test_address(0);
    let txs = vec![
        // The proposer pays someone, and its fee to itself.
        transfer(&test_key(0), TEST_CHAIN_ID, 0, test_address(1), 10, 2),
        // Someone pays the proposer, and a fee on top.
        transfer(&test_key(1), TEST_CHAIN_ID, 0, proposer, 5, 3),
        // The proposer pays itself: sender, recipient and proposer are one account.
        transfer(&test_key(0), TEST_CHAIN_ID, 1, proposer, 7, 1),
    ];
    commit_next_block(&store, proposer, txs).unwrap();
    let account = |index| store.account(&test_address(index)).unwrap().unwrap();
    assert_eq!(account(0).balance, BALANCE - 10 + 5 + 3);
    assert_eq!(account(0).nonce, 2);
    assert_eq!(account(1).balance, BALANCE + 10 - 5 - 3);
    assert_eq!(account(1).nonce, 1);
}

#[test]
fn pre_verified_transactions_skip_the_signature_check_and_others_do_not() {
    let (_dir, store) = funded();
    let mut forged = transfer(&test_key(0), TEST_CHAIN_ID, 0, test_address(1), 1, 1);
    forged.signature.0[0] ^= 0x80;
    let hash = forged.hash();
    let trusted = move |candidate: &Hash| *candidate == hash;
    // The mempool vouches for this hash, so execution does not check it again.
    assert!(store
        .propose_block(
            1,
            test_address(9),
            Hash::ZERO,
            vec![forged.clone()],
            SignaturePolicy::SkipVerified(&trusted)
        )
        .is_ok());
    let nobody = |_: &Hash| false;
    assert!(store
        .propose_block(
            1,
            test_address(9),
            Hash::ZERO,
            vec![forged],
            SignaturePolicy::SkipVerified(&nobody)
        )
        .is_err());
}
