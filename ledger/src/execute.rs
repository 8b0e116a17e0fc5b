//! The state transition: applying a block's transactions to the state.
//!
//! Execution is a pure function of the state before the block and the block's bytes. It reads
//! accounts through [`StateView`] and writes nothing: the result ([`BlockExecution`]) holds the
//! changed accounts, the receipts and the tree update, and the store commits it only once the
//! block is decided. So a node can execute several candidate blocks for one height and keep one.

use std::collections::HashMap;

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
        let mut touched: Vec<Address> = Vec::with_capacity(transactions.len() * 2 + 1);
        touched.push(*proposer);
        for (signed, sender) in transactions.iter().zip(&senders) {
            touched.push(*sender);
            let Payload::Transfer { to, .. } = &signed.tx.payload;
            touched.push(*to);
        }
        touched.sort_unstable();
        touched.dedup();
        let before = self.view.accounts(&touched)?;
        let mut accounts: HashMap<Address, Account> = touched
            .iter()
            .zip(&before)
            .map(|(address, account)| (*address, account.unwrap_or_default()))
            .collect();

        let mut receipts = Vec::with_capacity(transactions.len());
        for (index, ((signed, tx_hash), sender)) in transactions
            .iter()
            .zip(&tx_hashes)
            .zip(&senders)
            .enumerate()
        {
            let reject = |reason| LedgerError::InvalidTransaction {
                index,
                tx_hash: *tx_hash,
                reason,
            };
            apply_transaction(&mut accounts, self.chain_id, proposer, *sender, signed)
                .map_err(reject)?;
            receipts.push(Receipt {
                tx_hash: *tx_hash,
                height,
                index: u32::try_from(index).map_err(|_| LedgerError::InvalidBlock {
                    height,
                    reason: "too many transactions".into(),
                })?,
                sender: *sender,
                nonce: signed.tx.nonce,
                fee_paid: signed.tx.fee,
            });
        }

        // An account the block touched without changing it (a zero-fee block's proposer, say) is
        // not rewritten, so an absent account stays absent unless it now holds something.
        // `touched` is sorted, so the result is sorted by address.
        let changed_accounts: Vec<(Address, Account)> = touched
            .iter()
            .zip(&before)
            .filter_map(|(address, before)| {
                let after = accounts.get(address).copied().unwrap_or_default();
                (before.unwrap_or_default() != after).then_some((*address, after))
            })
            .collect();
        let changes = changed_accounts
            .par_iter()
            .map(|(address, account)| (address.state_key(), Some(encoding::encode(account))))
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

/// Applies one transaction, sent by `sender_address`, whose signature is already checked. On error
/// nothing is changed.
fn apply_transaction(
    accounts: &mut HashMap<Address, Account>,
    chain_id: &str,
    proposer: &Address,
    sender_address: Address,
    signed: &SignedTransaction,
) -> Result<(), TxRejection> {
    let tx = &signed.tx;
    if tx.chain_id != chain_id {
        return Err(TxRejection::WrongChain {
            expected: chain_id.into(),
            found: tx.chain_id.clone(),
        });
    }
    let Payload::Transfer { to, amount } = &tx.payload;
    let sender = accounts.get(&sender_address).copied().unwrap_or_default();
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

    // Stage every credit before writing any, so a failure leaves the accounts as they were.
    let mut staged: Vec<(Address, Account)> = Vec::with_capacity(3);
    staged.push((
        sender_address,
        Account {
            balance: remaining,
            nonce: next_nonce,
        },
    ));
    credit(accounts, &mut staged, *to, *amount)?;
    credit(accounts, &mut staged, *proposer, tx.fee)?;
    for (address, account) in staged {
        accounts.insert(address, account);
    }
    Ok(())
}

fn credit(
    accounts: &HashMap<Address, Account>,
    staged: &mut Vec<(Address, Account)>,
    address: Address,
    amount: u64,
) -> Result<(), TxRejection> {
    let current = match staged
        .iter()
        .rev()
        .find(|(staged_address, _)| *staged_address == address)
    {
        Some((_, account)) => *account,
        None => accounts.get(&address).copied().unwrap_or_default(),
    };
    let balance = current
        .balance
        .checked_add(amount)
        .ok_or(TxRejection::BalanceOverflow)?;
    staged.push((address, Account { balance, ..current }));
    Ok(())
}
