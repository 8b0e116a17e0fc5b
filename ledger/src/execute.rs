//! The state transition: applying a block's transactions to the state.
//!
//! Execution is a pure function of the state before the block and the block's bytes. It reads
//! accounts through [`StateView`] and writes nothing: the result ([`BlockExecution`]) holds the
//! changed accounts, the receipts and the tree update, and the store commits it only once the
//! block is decided. So a node can execute several candidate blocks for one height and keep one.

use rayon::prelude::*;

use crate::{
    account::Account,
    address::Address,
    block::Receipt,
    crypto::{first_invalid, SignatureCheck},
    encoding,
    error::{LedgerError, TxRejection},
    hash::Hash,
    tree::{ChildRef, PageSource, SparseMerkleTree, TreeUpdate},
    tx::{Payload, SignedTransaction},
};

/// Most signatures checked in one batch; batches run on all cores. The multiscalar
/// multiplication behind a batch gets cheaper per signature up to a few thousand points (two per
/// signature): batches of 512 cost about a third more per signature than batches of 2,048.
const SIGNATURE_BATCH_MAX: usize = 2048;

/// The size of the batches `pending` signatures are checked in: as large as allowed, and as many
/// batches as a multiple of the cores, so that no core waits long for another's last batch.
fn signature_batch_size(pending: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let rounds = pending.div_ceil(threads * SIGNATURE_BATCH_MAX).max(1);
    pending.div_ceil(threads * rounds).max(1)
}

/// Read access to the state a block executes on.
pub trait StateView: PageSource {
    /// The accounts of `addresses` (absent ones as `None`), in order.
    fn accounts(&self, addresses: &[Address]) -> Result<Vec<Option<Account>>, LedgerError>;
}

/// Which signatures execution checks.
#[derive(Clone, Copy)]
pub enum SignaturePolicy<'a> {
    /// Every transaction's signature is checked (in batches).
    VerifyAll,
    /// Transactions for which the predicate holds were checked before (by the mempool's admission)
    /// and are not checked again; the rest are.
    SkipVerified(&'a (dyn Fn(&Hash) -> bool + Sync)),
}

impl std::fmt::Debug for SignaturePolicy<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SignaturePolicy::VerifyAll => f.write_str("VerifyAll"),
            SignaturePolicy::SkipVerified(_) => f.write_str("SkipVerified"),
        }
    }
}

/// What executing a block produced; committed by the store once the block is decided.
#[derive(Debug, Clone)]
pub struct BlockExecution {
    pub height: u64,
    pub tx_hashes: Vec<Hash>,
    pub receipts: Vec<Receipt>,
    /// Every account the block changed, with its new state, sorted by address.
    pub changed_accounts: Vec<(Address, Account)>,
    pub tree: TreeUpdate,
}

impl BlockExecution {
    pub fn state_root(&self) -> Hash {
        self.tree.root_hash()
    }
}

/// Executes blocks over a [`StateView`] whose latest tree root is `base_root`.
#[derive(Debug)]
pub struct Executor<'a, V> {
    pub view: &'a V,
    pub base_root: ChildRef,
    pub chain_id: &'a str,
}

impl<V: StateView> Executor<'_, V> {
    /// Applies `transactions` in order at `height`, paying fees to `proposer`. Any invalid
    /// transaction makes the whole block invalid; the error names it and says why.
    pub fn execute(
        &self,
        height: u64,
        proposer: &Address,
        transactions: &[SignedTransaction],
        policy: SignaturePolicy<'_>,
    ) -> Result<BlockExecution, LedgerError> {
        let tx_hashes: Vec<Hash> = transactions
            .par_iter()
            .map(SignedTransaction::hash)
            .collect();
        self.check_signatures(transactions, &tx_hashes, policy)?;

        // An address is a hash of the signer's key: derive each once, on all cores.
        let senders: Vec<Address> = transactions
            .par_iter()
            .map(|signed| signed.tx.sender())
            .collect();
        // Every party of the block, tagged with where its place goes: the sorted, deduplicated
        // addresses are the block's read set, and one pass over them gives each transaction the
        // places of its parties. (Looking each one up in the read set afterwards, 20,000
        // binary searches for a block of 10,000 transfers, took about 2 ms on both cores.)
        let mut parties: Vec<(Address, usize)> = Vec::with_capacity(transactions.len() * 2 + 1);
        parties.push((*proposer, usize::MAX));
        for (index, (signed, sender)) in transactions.iter().zip(&senders).enumerate() {
            let Payload::Transfer { to, .. } = &signed.tx.payload;
            parties.push((*sender, 2 * index));
            parties.push((*to, 2 * index + 1));
        }
        parties.sort_unstable_by_key(|(address, _)| *address);
        let mut touched: Vec<Address> = Vec::with_capacity(parties.len());
        // Each transaction's sender's place, then its recipient's.
        let mut party_places = vec![0usize; transactions.len() * 2];
        let mut proposer_place = 0;
        for (address, tag) in &parties {
            if touched.last() != Some(address) {
                touched.push(*address);
            }
            let place = touched.len() - 1;
            match party_places.get_mut(*tag) {
                Some(slot) => *slot = place,
                None => proposer_place = place,
            }
        }
        drop(parties);
        let before = self.view.accounts(&touched)?;
        // Accounts by their place in `touched`: the loop below, which must run in block order on
        // one core, then indexes a vector instead of hashing addresses.
        let mut accounts: Vec<Account> = before
            .iter()
            .map(|account| account.unwrap_or_default())
            .collect();
        let places = party_places.chunks_exact(2).map(|pair| (pair[0], pair[1]));

        let mut receipts = Vec::with_capacity(transactions.len());
        for (index, (((signed, tx_hash), sender), (sender_place, to_place))) in transactions
            .iter()
            .zip(&tx_hashes)
            .zip(&senders)
            .zip(places)
            .enumerate()
        {
            let reject = |reason| LedgerError::InvalidTransaction {
                index,
                tx_hash: *tx_hash,
                reason,
            };
            let parties = Parties {
                sender: sender_place,
                recipient: to_place,
                proposer: proposer_place,
            };
            apply_transaction(&mut accounts, self.chain_id, parties, signed).map_err(reject)?;
            receipts.push(Receipt::of(signed, *tx_hash, *sender, height, index)?);
        }

        // An account the block touched without changing it (a zero-fee block's proposer, say) is
        // not rewritten, so an absent account stays absent unless it now holds something.
        // `touched` is sorted, so the result is sorted by address.
        let changed_accounts: Vec<(Address, Account)> = touched
            .iter()
            .zip(&before)
            .zip(&accounts)
            .filter_map(|((address, before), after)| {
                (before.unwrap_or_default() != *after).then_some((*address, *after))
            })
            .collect();
        // The new leaves' values, in one buffer rather than one allocation each.
        let mut encoded = Vec::with_capacity(changed_accounts.len() * 16);
        let mut bounds = Vec::with_capacity(changed_accounts.len() + 1);
        bounds.push(0);
        for (_, account) in &changed_accounts {
            encoding::encode_append(account, &mut encoded);
            bounds.push(encoded.len());
        }
        let changes: Vec<(Hash, Option<&[u8]>)> = changed_accounts
            .par_iter()
            .zip(bounds.par_windows(2))
            .map(|((address, _), bounds)| {
                (address.state_key(), Some(&encoded[bounds[0]..bounds[1]]))
            })
            .collect();
        let tree =
            SparseMerkleTree::new(self.view).apply(self.base_root.clone(), height, changes)?;
        Ok(BlockExecution {
            height,
            tx_hashes,
            receipts,
            changed_accounts,
            tree,
        })
    }

    fn check_signatures(
        &self,
        transactions: &[SignedTransaction],
        tx_hashes: &[Hash],
        policy: SignaturePolicy<'_>,
    ) -> Result<(), LedgerError> {
        let pending: Vec<usize> = match policy {
            SignaturePolicy::VerifyAll => (0..transactions.len()).collect(),
            SignaturePolicy::SkipVerified(verified) => (0..transactions.len())
                .filter(|index| !verified(&tx_hashes[*index]))
                .collect(),
        };
        let first_bad = pending
            .par_chunks(signature_batch_size(pending.len()))
            .find_map_first(|chunk| {
                let messages: Vec<Vec<u8>> = chunk
                    .iter()
                    .map(|index| transactions[*index].tx.signing_bytes())
                    .collect();
                let checks: Vec<SignatureCheck<'_>> = chunk
                    .iter()
                    .zip(&messages)
                    .map(|(index, message)| SignatureCheck {
                        public_key: &transactions[*index].tx.signer,
                        message,
                        signature: &transactions[*index].signature,
                    })
                    .collect();
                first_invalid(&checks).map(|position| chunk[position])
            });
        match first_bad {
            Some(index) => Err(LedgerError::InvalidTransaction {
                index,
                tx_hash: tx_hashes[index],
                reason: TxRejection::BadSignature,
            }),
            None => Ok(()),
        }
    }
}

/// Where a transaction's accounts sit in the block's account vector.
#[derive(Clone, Copy)]
struct Parties {
    sender: usize,
    recipient: usize,
    proposer: usize,
}

/// Applies one transaction, whose signature is already checked. On error nothing is changed.
fn apply_transaction(
    accounts: &mut [Account],
    chain_id: &str,
    parties: Parties,
    signed: &SignedTransaction,
) -> Result<(), TxRejection> {
    let tx = &signed.tx;
    if tx.chain_id != chain_id {
        return Err(TxRejection::WrongChain {
            expected: chain_id.into(),
            found: tx.chain_id.clone(),
        });
    }
    let Payload::Transfer { amount, .. } = &tx.payload;
    let sender = account_at(accounts, parties.sender);
    if tx.nonce != sender.nonce {
        return Err(TxRejection::BadNonce {
            expected: sender.nonce,
            found: tx.nonce,
        });
    }
    let insufficient = || TxRejection::InsufficientBalance {
        balance: sender.balance,
        amount: *amount,
        fee: tx.fee,
    };
    let debit = amount.checked_add(tx.fee).ok_or_else(insufficient)?;
    let remaining = sender.balance.checked_sub(debit).ok_or_else(insufficient)?;
    let next_nonce = sender.nonce.checked_add(1).ok_or(TxRejection::BadNonce {
        expected: sender.nonce,
        found: tx.nonce,
    })?;

    // Stage every credit before writing any, so a failure leaves the accounts as they were. The
    // recipient or the proposer may be the sender, or each other: a later stage of the same
    // account builds on the earlier one.
    let mut staged = [(usize::MAX, Account::default()); 3];
    staged[0] = (
        parties.sender,
        Account {
            balance: remaining,
            nonce: next_nonce,
        },
    );
    staged[1] = credit(accounts, &staged[..1], parties.recipient, *amount)?;
    staged[2] = credit(accounts, &staged[..2], parties.proposer, tx.fee)?;
    for (place, account) in staged {
        if let Some(slot) = accounts.get_mut(place) {
            *slot = account;
        }
    }
    Ok(())
}

fn account_at(accounts: &[Account], place: usize) -> Account {
    accounts.get(place).copied().unwrap_or_default()
}

/// The stage that credits `amount` to the account at `place`, over what `staged` holds for it.
fn credit(
    accounts: &[Account],
    staged: &[(usize, Account)],
    place: usize,
    amount: u64,
) -> Result<(usize, Account), TxRejection> {
    let current = match staged
        .iter()
        .rev()
        .find(|(staged_place, _)| *staged_place == place)
    {
        Some((_, account)) => *account,
        None => account_at(accounts, place),
    };
    let balance = current
        .balance
        .checked_add(amount)
        .ok_or(TxRejection::BalanceOverflow)?;
    Ok((place, Account { balance, ..current }))
}
