//! The mempool against a real ledger store: each admission rule, nonce ordering, limits and
//! eviction, the recheck after a committed block, signatures checked once, and a property test
//! that random admissions and commits keep the pool's invariants and its proposals valid.

use std::collections::{BTreeMap, HashMap};

use cairn_ledger::{
    error::TxRejection,
    execute::SignaturePolicy,
    store::StoreConfig,
    testing::{
        commit_next_block, open_funded_store, test_address, test_key, transfer, TEST_CHAIN_ID,
    },
    Address, Hash, LedgerError, LedgerStore, SignedTransaction,
};
use cairn_node::mempool::{Mempool, MempoolConfig, MempoolError, REPLACEMENT_FEE_BUMP_PERCENT};
use proptest::prelude::*;
use tempfile::TempDir;

const ACCOUNTS: u64 = 6;
const BALANCE: u64 = 1_000;
/// Receives the fees; never a sender.
const PROPOSER: u64 = 100;

fn funded_store() -> (TempDir, LedgerStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = open_funded_store(dir.path(), StoreConfig::default(), ACCOUNTS, BALANCE).unwrap();
    (dir, store)
}

fn pool() -> Mempool {
    Mempool::new(MempoolConfig::new(TEST_CHAIN_ID))
}

fn pool_with_limits(max_transactions: usize, max_bytes: usize) -> Mempool {
    Mempool::new(MempoolConfig {
        max_transactions,
        max_bytes,
        ..MempoolConfig::new(TEST_CHAIN_ID)
    })
}

/// A transfer of `amount` from test account `from` to test account 50, paying `fee`.
fn tx(from: u64, nonce: u64, amount: u64, fee: u64) -> SignedTransaction {
    transfer(
        &test_key(from),
        TEST_CHAIN_ID,
        nonce,
        test_address(50),
        amount,
        fee,
    )
}

/// Proposes `transactions` as the next block, as this node's proposer.
fn propose(
    store: &LedgerStore,
    transactions: Vec<SignedTransaction>,
    policy: SignaturePolicy<'_>,
) -> Result<(cairn_ledger::Block, cairn_ledger::BlockExecution), LedgerError> {
    store.propose_block(0, test_address(PROPOSER), Hash::ZERO, transactions, policy)
}

/// Proposes `transactions` as the next block, commits it, and tells the pool, as the node does.
fn commit(store: &LedgerStore, pool: &mut Mempool, transactions: Vec<SignedTransaction>) {
    let (block, mut execution) = propose(store, transactions, SignaturePolicy::VerifyAll).unwrap();
    store
        .commit_block(&block, &mut execution, b"test-certificate")
        .unwrap();
    pool.on_block_committed(&execution.tx_hashes, &execution.changed_accounts);
}

fn nonces_of(selected: &[SignedTransaction], from: u64) -> Vec<u64> {
    let sender = test_address(from);
    selected
        .iter()
        .filter(|signed| signed.tx.sender() == sender)
        .map(|signed| signed.tx.nonce)
        .collect()
}

/// Whether an admission error is the one a case expects.
type Expectation = fn(&MempoolError) -> bool;

#[test]
fn admission_refuses_each_bad_transaction_with_its_reason() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    commit_next_block(&store, test_address(PROPOSER), vec![tx(0, 0, 1, 1)]).unwrap();

    let mut bad_signature = tx(1, 0, 1, 1);
    bad_signature.signature.0[0] ^= 1;
    let mut trailing_byte = tx(1, 0, 1, 1).encode();
    trailing_byte.push(0);
    let wrong_chain = transfer(&test_key(1), "other-chain", 0, test_address(50), 1, 1);

    let cases: Vec<(&str, Vec<u8>, Expectation)> = vec![
        ("too large", vec![0; 1025], |error| {
            matches!(error, MempoolError::TooLarge { size: 1025, .. })
        }),
        ("empty", Vec::new(), |error| {
            matches!(error, MempoolError::Decode { .. })
        }),
        ("garbage", vec![0xff; 200], |error| {
            matches!(error, MempoolError::Decode { .. })
        }),
        ("trailing byte", trailing_byte, |error| {
            matches!(error, MempoolError::Decode { .. })
        }),
        ("wrong chain", wrong_chain.encode(), |error| {
            matches!(
                error,
                MempoolError::Rejected {
                    reason: TxRejection::WrongChain { .. }
                }
            )
        }),
        ("bad signature", bad_signature.encode(), |error| {
            *error
                == MempoolError::Rejected {
                    reason: TxRejection::BadSignature,
                }
        }),
        ("nonce used", tx(0, 0, 2, 1).encode(), |error| {
            *error
                == MempoolError::NonceTooLow {
                    nonce: 0,
                    account_nonce: 1,
                }
        }),
        ("nonce too far ahead", tx(1, 64, 1, 1).encode(), |error| {
            matches!(error, MempoolError::NonceTooFarAhead { nonce: 64, .. })
        }),
        (
            "amount above balance",
            tx(1, 0, BALANCE, 1).encode(),
            |error| {
                matches!(
                    error,
                    MempoolError::Rejected {
                        reason: TxRejection::InsufficientBalance { .. }
                    }
                )
            },
        ),
        ("fee overflows", tx(1, 0, 1, u64::MAX).encode(), |error| {
            matches!(
                error,
                MempoolError::Rejected {
                    reason: TxRejection::InsufficientBalance { .. }
                }
            )
        }),
        // An account that never received anything has balance 0.
        ("unfunded sender", tx(40, 0, 0, 1).encode(), |error| {
            matches!(
                error,
                MempoolError::Rejected {
                    reason: TxRejection::InsufficientBalance { balance: 0, .. }
                }
            )
        }),
    ];
    for (name, bytes, expected) in cases {
        let error = pool.admit(&bytes, &store).unwrap_err();
        assert!(expected(&error), "{name}: got {error:?}");
        assert!(!error.to_string().is_empty());
    }
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
}

#[test]
fn errors_tell_invalid_transactions_from_unlucky_ones() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    let mut bad_signature = tx(1, 0, 1, 1);
    bad_signature.signature.0[0] ^= 1;
    assert!(pool
        .admit(&bad_signature.encode(), &store)
        .unwrap_err()
        .is_invalid());
    assert!(pool.admit(&[1, 2, 3], &store).unwrap_err().is_invalid());
    let hash = pool.admit(&tx(1, 0, 1, 1).encode(), &store).unwrap();
    let duplicate = pool.admit(&tx(1, 0, 1, 1).encode(), &store).unwrap_err();
    assert_eq!(duplicate, MempoolError::Duplicate { hash });
    assert!(!duplicate.is_invalid());
    let too_poor = pool.admit_signed(tx(2, 0, BALANCE, 1), &store).unwrap_err();
    assert!(!too_poor.is_invalid(), "{too_poor}");
}

#[test]
fn the_balance_must_cover_the_senders_whole_queue() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    pool.admit_signed(tx(0, 0, 600, 10), &store).unwrap();
    let error = pool.admit_signed(tx(0, 1, 390, 10), &store).unwrap_err();
    assert_eq!(
        error,
        MempoolError::QueueExceedsBalance {
            balance: BALANCE,
            pooled_cost: 610,
            cost: 400,
        }
    );
    // Exactly the balance is enough.
    pool.admit_signed(tx(0, 1, 380, 10), &store).unwrap();
    assert_eq!(pool.len(), 2);
}

#[test]
fn a_nonce_gap_holds_later_transactions_back_until_it_closes() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    pool.admit_signed(tx(0, 2, 1, 5), &store).unwrap();
    pool.admit_signed(tx(0, 1, 1, 5), &store).unwrap();
    assert_eq!((pool.len(), pool.pending_len()), (2, 0));
    assert!(pool.select(100, usize::MAX).is_empty());

    pool.admit_signed(tx(0, 0, 1, 5), &store).unwrap();
    assert_eq!(pool.pending_len(), 3);
    assert_eq!(nonces_of(&pool.select(100, usize::MAX), 0), [0, 1, 2]);
}

#[test]
fn select_orders_by_fee_across_senders_and_by_nonce_within_one() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    // Sender 0: a cheap first transaction hides a rich second one until it is taken.
    pool.admit_signed(tx(0, 0, 1, 1), &store).unwrap();
    pool.admit_signed(tx(0, 1, 1, 90), &store).unwrap();
    pool.admit_signed(tx(1, 0, 1, 50), &store).unwrap();
    pool.admit_signed(tx(2, 0, 1, 20), &store).unwrap();
    pool.admit_signed(tx(3, 0, 1, 20), &store).unwrap();

    let selected = pool.select(100, usize::MAX);
    let order: Vec<(Address, u64)> = selected
        .iter()
        .map(|signed| (signed.tx.sender(), signed.tx.nonce))
        .collect();
    assert_eq!(
        order,
        [
            (test_address(1), 0),
            // Equal fees: first come, first served.
            (test_address(2), 0),
            (test_address(3), 0),
            (test_address(0), 0),
            (test_address(0), 1),
        ]
    );
    propose(&store, selected, SignaturePolicy::VerifyAll).unwrap();
}

#[test]
fn select_respects_its_count_and_byte_budgets() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    for from in 0..4 {
        pool.admit_signed(tx(from, 0, 1, 10 + from), &store)
            .unwrap();
    }
    let size = tx(0, 0, 1, 1).encode().len();
    assert_eq!(pool.bytes(), 4 * size);
    assert_eq!(pool.select(2, usize::MAX).len(), 2);
    let two = pool.select(100, 2 * size + size / 2);
    assert_eq!(two.len(), 2);
    assert_eq!(nonces_of(&two, 3), [0], "the highest fee goes first");
    assert!(pool.select(0, usize::MAX).is_empty());
    assert!(pool.select(100, size - 1).is_empty());
}

#[test]
fn a_same_nonce_replacement_needs_a_fee_bump() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    let original = pool.admit_signed(tx(0, 0, 100, 100), &store).unwrap();
    let required = 100 + 100 * REPLACEMENT_FEE_BUMP_PERCENT / 100;
    let error = pool
        .admit_signed(tx(0, 0, 50, required - 1), &store)
        .unwrap_err();
    assert_eq!(
        error,
        MempoolError::ReplacementUnderpriced {
            nonce: 0,
            pooled_fee: 100,
            fee: required - 1,
            required_fee: required,
        }
    );
    let replacement = pool.admit_signed(tx(0, 0, 50, required), &store).unwrap();
    assert!(!pool.contains(&original) && pool.contains(&replacement));
    assert_eq!(pool.len(), 1);
    assert_eq!(pool.bytes(), tx(0, 0, 50, required).encode().len());
    // The replaced transaction's cost no longer counts against the balance.
    pool.admit_signed(tx(0, 1, BALANCE - 50 - required - 1, 1), &store)
        .unwrap();
    // The replaced one may still arrive in another validator's block.
    assert!(pool.was_verified(&original));
}

#[test]
fn a_full_pool_evicts_the_lowest_fee_and_refuses_what_pays_no_more() {
    let (_dir, store) = funded_store();
    let mut pool = pool_with_limits(3, usize::MAX);
    let cheap = pool.admit_signed(tx(0, 0, 1, 5), &store).unwrap();
    let middle = pool.admit_signed(tx(1, 0, 1, 10), &store).unwrap();
    let rich = pool.admit_signed(tx(2, 0, 1, 20), &store).unwrap();

    let error = pool.admit_signed(tx(3, 0, 1, 5), &store).unwrap_err();
    assert!(
        matches!(error, MempoolError::Full { fee: 5, len: 3, .. }),
        "{error:?}"
    );
    assert!(!error.is_invalid());

    let newcomer = pool.admit_signed(tx(3, 0, 1, 6), &store).unwrap();
    assert!(!pool.contains(&cheap));
    assert!([middle, rich, newcomer]
        .iter()
        .all(|hash| pool.contains(hash)));
    assert_eq!(pool.len(), 3);
    assert!(
        pool.was_verified(&cheap),
        "an evicted tx may still be proposed"
    );
}

#[test]
fn eviction_takes_a_senders_last_transaction_and_never_opens_a_gap() {
    let (_dir, store) = funded_store();
    let mut pool = pool_with_limits(3, usize::MAX);
    // Sender 0's cheap first transaction is protected by its richer second one.
    let first = pool.admit_signed(tx(0, 0, 1, 1), &store).unwrap();
    let second = pool.admit_signed(tx(0, 1, 1, 30), &store).unwrap();
    let other = pool.admit_signed(tx(1, 0, 1, 8), &store).unwrap();

    let fourth = pool.admit_signed(tx(2, 0, 1, 9), &store).unwrap();
    assert!(!pool.contains(&other));
    assert!(pool.contains(&first) && pool.contains(&second));

    // Sender 0's fee 1 still hides behind its fee 30: the fee 9 goes first.
    pool.admit_signed(tx(3, 0, 1, 31), &store).unwrap();
    assert!(!pool.contains(&fourth));
    assert!(pool.contains(&first) && pool.contains(&second));

    // Paying what the cheapest evictable one pays is not enough.
    let error = pool.admit_signed(tx(4, 0, 1, 30), &store).unwrap_err();
    assert!(matches!(error, MempoolError::Full { .. }), "{error:?}");
    pool.admit_signed(tx(4, 0, 1, 31), &store).unwrap();
    assert!(pool.contains(&first) && !pool.contains(&second));

    // Once a sender's last transaction is gone, its previous one is next in line.
    pool.admit_signed(tx(5, 0, 1, 2), &store).unwrap();
    assert!(!pool.contains(&first));
    assert_eq!(pool.pending_len(), 3);
}

#[test]
fn a_sender_never_evicts_its_own_transactions() {
    let (_dir, store) = funded_store();
    let mut pool = pool_with_limits(2, usize::MAX);
    pool.admit_signed(tx(0, 0, 1, 1), &store).unwrap();
    pool.admit_signed(tx(0, 1, 1, 1), &store).unwrap();
    let error = pool.admit_signed(tx(0, 2, 1, 50), &store).unwrap_err();
    assert!(matches!(error, MempoolError::Full { .. }), "{error:?}");
    assert_eq!(nonces_of(&pool.select(10, usize::MAX), 0), [0, 1]);
}

#[test]
fn the_byte_limit_evicts_as_many_as_needed_or_none() {
    let (_dir, store) = funded_store();
    let size = tx(0, 0, 1, 1).encode().len();
    let mut pool = pool_with_limits(100, 3 * size);
    let low = pool.admit_signed(tx(0, 0, 1, 1), &store).unwrap();
    let mid = pool.admit_signed(tx(1, 0, 1, 2), &store).unwrap();
    pool.admit_signed(tx(2, 0, 1, 3), &store).unwrap();
    assert_eq!(pool.bytes(), 3 * size);

    pool.admit_signed(tx(3, 0, 1, 2), &store).unwrap();
    assert!(!pool.contains(&low) && pool.contains(&mid));
    assert!(pool.bytes() <= 3 * size);

    // A transaction bigger than the whole pool is refused without evicting anything.
    let mut tiny = pool_with_limits(100, size - 1);
    let error = tiny.admit_signed(tx(0, 0, 1, 500), &store);
    assert!(matches!(error, Err(MempoolError::Full { .. })), "{error:?}");
    let mut empty = pool_with_limits(0, usize::MAX);
    assert!(empty.admit_signed(tx(0, 0, 1, 1), &store).is_err());
}

#[test]
fn a_committed_block_removes_its_transactions_and_promotes_the_next_nonces() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    pool.admit_signed(tx(0, 0, 1, 5), &store).unwrap();
    pool.admit_signed(tx(0, 1, 1, 5), &store).unwrap();
    let later = pool.admit_signed(tx(0, 3, 1, 5), &store).unwrap();
    pool.admit_signed(tx(1, 0, 1, 5), &store).unwrap();

    let block = pool.select(2, usize::MAX);
    let committed: Vec<Hash> = block.iter().map(SignedTransaction::hash).collect();
    commit(&store, &mut pool, block);
    assert!(committed.iter().all(|hash| !pool.contains(hash)));
    assert!(committed.iter().all(|hash| !pool.was_verified(hash)));
    assert_eq!(pool.len(), 2);

    // Nonce 2 closes the gap in front of nonce 3.
    pool.admit_signed(tx(0, 2, 1, 5), &store).unwrap();
    assert_eq!(pool.pending_len(), pool.len());
    let rest = pool.select(100, usize::MAX);
    assert!(rest.iter().any(|signed| signed.hash() == later));
    commit(&store, &mut pool, rest);
    assert!(pool.is_empty());
    assert_eq!(pool.bytes(), 0);
}

#[test]
fn a_block_from_elsewhere_drops_used_nonces_and_what_the_balance_no_longer_covers() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    // Sender 0 pools three transactions costing 300 in all.
    let pooled: Vec<Hash> = (0..3)
        .map(|nonce| pool.admit_signed(tx(0, nonce, 90, 10), &store).unwrap())
        .collect();
    pool.admit_signed(tx(1, 0, 1, 1), &store).unwrap();
    // Another validator's block spends nonce 0 differently and leaves sender 0 with 150.
    commit(&store, &mut pool, vec![tx(0, 0, 840, 10)]);

    assert!(!pool.contains(&pooled[0]), "its nonce is used");
    assert!(pool.contains(&pooled[1]), "100 of 150 is covered");
    assert!(!pool.contains(&pooled[2]), "200 of 150 is not");
    assert_eq!(nonces_of(&pool.select(100, usize::MAX), 0), [1]);
    assert_eq!(pool.len(), 2, "sender 1 is untouched");
    assert_eq!(pool.pending_len(), 2);
}

#[test]
fn an_admission_resyncs_a_sender_whose_block_the_pool_has_not_heard_of() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    let stale = pool.admit_signed(tx(0, 0, 1, 5), &store).unwrap();
    // Committed without telling the pool.
    commit_next_block(&store, test_address(PROPOSER), vec![tx(0, 0, 2, 5)]).unwrap();
    pool.admit_signed(tx(0, 1, 1, 5), &store).unwrap();
    assert!(!pool.contains(&stale));
    assert_eq!(nonces_of(&pool.select(10, usize::MAX), 0), [1]);
}

#[test]
fn a_batch_checks_signatures_together_and_reports_each_outcome() {
    let (_dir, store) = funded_store();
    let mut pool = pool();
    let mut forged = tx(2, 0, 1, 1);
    forged.signature.0[5] ^= 0x40;
    let batch: Vec<Vec<u8>> = vec![
        tx(0, 1, 1, 3).encode(), // arrives before its predecessor
        tx(0, 0, 1, 3).encode(),
        forged.encode(),
        vec![7; 3],
        tx(1, 0, 1, 3).encode(),
        tx(1, 0, 1, 3).encode(), // the same transaction twice
        tx(3, 0, BALANCE, 3).encode(),
        tx(4, 0, 1, 3).encode(),
        tx(5, 0, 1, 3).encode(),
    ];
    let results = pool.admit_batch(&batch, &store);
    assert_eq!(results.len(), batch.len());
    let ok: Vec<bool> = results.iter().map(Result::is_ok).collect();
    assert_eq!(
        ok,
        [true, true, false, false, true, false, false, true, true]
    );
    assert_eq!(
        results[2],
        Err(MempoolError::Rejected {
            reason: TxRejection::BadSignature
        })
    );
    assert!(matches!(results[3], Err(MempoolError::Decode { .. })));
    assert!(matches!(results[5], Err(MempoolError::Duplicate { .. })));
    assert!(matches!(
        results[6],
        Err(MempoolError::Rejected {
            reason: TxRejection::InsufficientBalance { .. }
        })
    ));
    assert_eq!(pool.pending_len(), 5);

    // Many forgeries among many valid ones: each is found.
    let mut big: Vec<Vec<u8>> = Vec::new();
    let mut expected = Vec::new();
    for nonce in 0..40u64 {
        let mut signed = tx(5, nonce + 1, 1, 1);
        let forge = nonce % 7 == 3;
        if forge {
            signed.signature.0[1] ^= 1;
        }
        big.push(signed.encode());
        expected.push(!forge);
    }
    let mut fresh = pool_with_limits(1_000, usize::MAX);
    let ok: Vec<bool> = fresh
        .admit_batch(&big, &store)
        .iter()
        .map(|result| !matches!(result, Err(MempoolError::Rejected { .. })))
        .collect();
    assert_eq!(ok, expected);
}

#[test]
fn blocks_skip_the_signatures_the_pool_checked() {
    let (_dir, store) = funded_store();
    let mut pool = pool_with_limits(2, usize::MAX);
    let first = pool.admit_signed(tx(0, 0, 1, 1), &store).unwrap();
    pool.admit_signed(tx(1, 0, 1, 2), &store).unwrap();
    // Evicted, yet still known as verified: a peer whose pool kept it may propose it.
    pool.admit_signed(tx(2, 0, 1, 3), &store).unwrap();
    assert!(!pool.contains(&first) && pool.was_verified(&first));

    let unseen = tx(3, 0, 1, 1);
    assert!(!pool.was_verified(&unseen.hash()));
    let mut transactions = vec![tx(0, 0, 1, 1)];
    transactions.extend(pool.select(10, usize::MAX));
    transactions.push(unseen.clone());

    // The handle serves other threads while the pool goes on.
    let verified = pool.verified_signatures();
    let asked = std::sync::Mutex::new(Vec::new());
    let skip = |hash: &Hash| {
        asked.lock().unwrap().push(*hash);
        verified.contains(hash)
    };
    let (block, _) = propose(
        &store,
        transactions.clone(),
        SignaturePolicy::SkipVerified(&skip),
    )
    .unwrap();
    let skipped = asked
        .lock()
        .unwrap()
        .iter()
        .filter(|hash| verified.contains(hash))
        .count();
    assert_eq!(skipped, 3, "all but the unseen transaction");

    // The same closure shape over the pool itself, as the node writes it, on the received block.
    let mut execution = store
        .execute_block(
            &block,
            SignaturePolicy::SkipVerified(&|hash| pool.was_verified(hash)),
        )
        .unwrap();

    // A forgery the pool never saw is still caught.
    let mut forged = unseen.clone();
    forged.signature.0[0] ^= 1;
    let error = propose(
        &store,
        vec![forged],
        SignaturePolicy::SkipVerified(&|hash| pool.was_verified(hash)),
    )
    .unwrap_err();
    assert!(matches!(
        error,
        LedgerError::InvalidTransaction {
            reason: TxRejection::BadSignature,
            ..
        }
    ));

    store
        .commit_block(&block, &mut execution, b"test-certificate")
        .unwrap();
    pool.on_block_committed(&execution.tx_hashes, &execution.changed_accounts);
    assert!(pool.is_empty());
    assert!(transactions
        .iter()
        .all(|signed| !pool.was_verified(&signed.hash())));
}

/// One step of a random run.
#[derive(Debug, Clone)]
enum Step {
    /// Admit a transfer; `nonce_offset` is relative to the sender's committed nonce.
    Admit {
        from: u64,
        nonce_offset: i8,
        amount: u64,
        fee: u64,
        forged: bool,
    },
    /// Admit bytes that are no transaction.
    Garbage(Vec<u8>),
    /// Commit up to this many of the pool's selected transactions as the next block.
    Commit(usize),
    /// Commit a block from another validator: a sender's next nonce spent outside the pool.
    CommitForeign { from: u64, amount: u64 },
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        10 => (0..ACCOUNTS + 1, -1i8..4, 0u64..400, 0u64..30, prop::bool::weighted(0.05))
            .prop_map(|(from, nonce_offset, amount, fee, forged)| Step::Admit {
                from,
                nonce_offset,
                amount,
                fee,
                forged,
            }),
        1 => prop::collection::vec(any::<u8>(), 0..200).prop_map(Step::Garbage),
        3 => (0usize..8).prop_map(Step::Commit),
        1 => (0..ACCOUNTS, 0u64..800).prop_map(|(from, amount)| Step::CommitForeign { from, amount }),
    ];
    prop::collection::vec(step, 1..60)
}

fn check_invariants(
    pool: &Mempool,
    store: &LedgerStore,
    max_transactions: usize,
    max_bytes: usize,
) {
    assert!(pool.len() <= max_transactions);
    assert!(pool.bytes() <= max_bytes);
    assert!(pool.pending_len() <= pool.len());

    let selected = pool.select(usize::MAX, usize::MAX);
    assert_eq!(selected.len(), pool.pending_len());
    let mut bytes = 0;
    let mut next_nonce: HashMap<Address, u64> = HashMap::new();
    for signed in &selected {
        assert!(pool.contains(&signed.hash()));
        bytes += signed.encode().len();
        let sender = signed.tx.sender();
        let expected = next_nonce
            .entry(sender)
            .or_insert_with(|| store.account(&sender).unwrap().unwrap_or_default().nonce);
        assert_eq!(
            signed.tx.nonce, *expected,
            "pending nonces run from the account's"
        );
        *expected += 1;
    }
    assert!(bytes <= pool.bytes());
    if !selected.is_empty() {
        propose(store, selected, SignaturePolicy::VerifyAll).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_admissions_and_commits_keep_the_pool_valid(
        steps in steps(),
        max_transactions in 1usize..12,
        max_size_multiple in 1usize..12,
    ) {
        let (_dir, store) = funded_store();
        let max_bytes = max_size_multiple * tx(0, 0, 1, 1).encode().len();
        let mut pool = pool_with_limits(max_transactions, max_bytes);
        for step in steps {
            match step {
                Step::Admit { from, nonce_offset, amount, fee, forged } => {
                    let account_nonce =
                        store.account(&test_address(from)).unwrap().unwrap_or_default().nonce;
                    let Some(nonce) = account_nonce.checked_add_signed(i64::from(nonce_offset))
                    else {
                        continue;
                    };
                    let mut signed = tx(from, nonce, amount, fee);
                    if forged {
                        signed.signature.0[0] ^= 1;
                    }
                    let result = pool.admit(&signed.encode(), &store);
                    if forged {
                        prop_assert!(result.is_err());
                    }
                    if let Ok(hash) = result {
                        prop_assert!(pool.contains(&hash) && pool.was_verified(&hash));
                    }
                }
                Step::Garbage(bytes) => {
                    let _ = pool.admit(&bytes, &store);
                }
                Step::Commit(count) => {
                    let block = pool.select(count, usize::MAX);
                    commit(&store, &mut pool, block);
                }
                Step::CommitForeign { from, amount } => {
                    let account = store.account(&test_address(from)).unwrap().unwrap_or_default();
                    if amount < account.balance {
                        commit(&store, &mut pool, vec![tx(from, account.nonce, amount, 1)]);
                    }
                }
            }
            check_invariants(&pool, &store, max_transactions, max_bytes);
        }
        // Every pooled transaction is accounted for once, by sender and nonce.
        let mut seen: BTreeMap<(Address, u64), usize> = BTreeMap::new();
        for signed in pool.select(usize::MAX, usize::MAX) {
            *seen.entry((signed.tx.sender(), signed.tx.nonce)).or_default() += 1;
        }
        prop_assert!(seen.values().all(|count| *count == 1));
    }
}
