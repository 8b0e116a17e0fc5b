//! The mempool: signed transactions waiting for a block.
//!
//! # Admission
//!
//! A transaction enters the pool ([`Mempool::admit`], [`Mempool::admit_signed`],
//! [`Mempool::admit_batch`]) only if every check below passes, cheapest first, so that garbage
//! costs little:
//!
//! 1. its encoding is at most [`MAX_TX_BYTES`] and decodes canonically;
//! 2. it is not in the pool already (same hash);
//! 3. its chain id is the pool's;
//! 4. its signature is valid (a batch is checked with one batch verification);
//! 5. against the sender's committed account, read through a [`StateView`]: its nonce is not
//!    below the account's, and less than [`MempoolConfig::max_per_sender`] above it; its amount
//!    plus fee fits the balance; and the balance also covers every other pooled transaction of the
//!    sender (transfers the sender may receive meanwhile are not counted on);
//! 6. if the pool holds the sender's transaction with the same nonce, this one replaces it only
//!    if it pays at least [`REPLACEMENT_FEE_BUMP_PERCENT`]% more fee (and at least one unit more),
//!    so a stuck transaction can be sped up but the pool cannot be churned for free;
//! 7. it fits the count and byte limits, possibly by evicting (below).
//!
//! # Pending and queued
//!
//! A sender's transactions are kept by nonce. Those whose nonces run without a gap from the
//! account's nonce are *pending*: they execute in that order, and only they are proposed. The rest
//! are *queued* behind the gap until the missing nonce arrives or is committed.
//!
//! # Limits and eviction
//!
//! The pool holds at most [`MempoolConfig::max_transactions`] transactions and
//! [`MempoolConfig::max_bytes`] encoded bytes. When a new transaction does not fit, the pool evicts
//! transactions paying a strictly lower fee, lowest first, until it does. A transaction is never
//! evicted to admit one that pays the same or less: then the pool refuses the newcomer with
//! [`MempoolError::Full`]. Two refinements:
//!
//! - Only a sender's *last* transaction (highest nonce) can be evicted. Evicting one in the middle
//!   would strand the sender's later transactions behind a gap, keeping their bytes while making
//!   them worthless. A low fee followed by higher ones is therefore evicted only after them.
//! - The newcomer's own sender is never evicted from: that would open a gap in front of it, or
//!   trade one of the sender's transactions for another.
//!
//! Among equal fees, queued transactions go before pending ones and newer before older.
//!
//! # Proposing
//!
//! [`Mempool::select`] takes pending transactions by fee across senders and by nonce within a
//! sender (a sender's next transaction competes with its fee once the previous one is taken), up
//! to a count and a byte budget. Because a sender's pooled transactions fit its balance together
//! and nonces run from the account's, the selection executes as a valid block on the state the
//! pool last saw.
//!
//! # After a block
//!
//! [`Mempool::on_block_committed`] drops the block's transactions and rechecks only the senders
//! whose accounts the block changed: transactions whose nonce is now used go, and if the new
//! balance no longer covers a sender's pooled transactions, its last ones go until it does. The
//! work grows with the block, not with the pool.
//!
//! # Signatures checked once
//!
//! [`Mempool::was_verified`] (or the thread-safe handle [`Mempool::verified_signatures`]) says
//! whether the pool has checked a transaction's signature, for
//! `SignaturePolicy::SkipVerified(&|hash| pool.was_verified(hash))` when a block arrives. See
//! [`VerifiedSignatures`] for how long a hash is remembered.

mod error;
mod verified;

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap},
};

use cairn_ledger::{
    crypto::{verify_batch, SignatureCheck},
    error::TxRejection,
    execute::StateView,
    tx::MAX_TX_BYTES,
    Account, Address, Hash, Payload, SignedTransaction,
};

pub use error::MempoolError;
pub use verified::VerifiedSignatures;

/// Default for [`MempoolConfig::max_transactions`].
pub const DEFAULT_MAX_TRANSACTIONS: usize = 20_000;
/// Default for [`MempoolConfig::max_bytes`]: room for the default count of typical transfers.
pub const DEFAULT_MAX_BYTES: usize = 8 * 1024 * 1024;
/// Default for [`MempoolConfig::max_per_sender`].
pub const DEFAULT_MAX_PER_SENDER: u64 = 64;
/// How much more fee (in percent) a transaction must pay to replace a pooled one with the same
/// sender and nonce.
pub const REPLACEMENT_FEE_BUMP_PERCENT: u64 = 10;

/// Signatures that fail a batch are found by splitting it; below this size they are checked one by
/// one, which is cheaper than more batches.
const SINGLE_CHECK_BELOW: usize = 4;

/// The pool's limits and the chain it admits transactions for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MempoolConfig {
    /// Most transactions the pool holds.
    pub max_transactions: usize,
    /// Most encoded bytes the pool holds, summed over its transactions.
    pub max_bytes: usize,
    /// A sender's pooled nonces lie in `account nonce .. account nonce + max_per_sender`: at most
    /// this many transactions per sender, and no gap wider than that.
    pub max_per_sender: u64,
    /// Transactions for any other chain are refused.
    pub chain_id: String,
}

impl MempoolConfig {
    /// The default limits for `chain_id`.
    pub fn new(chain_id: impl Into<String>) -> Self {
        MempoolConfig {
            max_transactions: DEFAULT_MAX_TRANSACTIONS,
            max_bytes: DEFAULT_MAX_BYTES,
            max_per_sender: DEFAULT_MAX_PER_SENDER,
            chain_id: chain_id.into(),
        }
    }
}

/// A transaction in the pool, with what the pool keeps computing from it.
#[derive(Debug, Clone)]
struct PooledTx {
    tx: SignedTransaction,
    sender: Address,
    /// Encoded size in bytes.
    size: usize,
    /// Amount plus fee: what executing it takes from the sender's balance. Wide enough never to
    /// overflow when summed over a sender's transactions.
    cost: u128,
    /// Admission order: among equal fees, earlier transactions are proposed first and evicted last.
    arrival: u64,
}

impl PooledTx {
    fn nonce(&self) -> u64 {
        self.tx.tx.nonce
    }

    fn fee(&self) -> u64 {
        self.tx.tx.fee
    }
}

/// Position in the eviction order; the smallest key is evicted first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EvictionKey {
    fee: u64,
    /// Queued (`false`) before pending at equal fee: it cannot execute yet.
    pending: bool,
    /// Newer before older at equal fee and class.
    newest_first: Reverse<u64>,
    hash: Hash,
}

/// Position in the proposal order; the largest key is proposed first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct ProposalKey {
    fee: u64,
    earliest_first: Reverse<u64>,
    hash: Hash,
}

/// One sender's pooled transactions and the committed account they build on.
#[derive(Debug)]
struct SenderQueue {
    /// The sender's committed account, as last read or reported by a committed block.
    account: Account,
    /// The pooled transactions by nonce.
    by_nonce: BTreeMap<u64, Hash>,
    /// Sum of the pooled transactions' costs; never above `account.balance`.
    total_cost: u128,
    /// How many of `by_nonce` run without a gap from `account.nonce`: the pending ones.
    pending: usize,
    /// The entry of the sender's last transaction in the pool's eviction order.
    eviction_key: Option<EvictionKey>,
}

impl SenderQueue {
    fn new(account: Account) -> Self {
        SenderQueue {
            account,
            by_nonce: BTreeMap::new(),
            total_cost: 0,
            pending: 0,
            eviction_key: None,
        }
    }

    fn is_pending(&self, nonce: u64) -> bool {
        nonce
            .checked_sub(self.account.nonce)
            .is_some_and(|offset| offset < self.pending as u64)
    }

    fn count_pending(&self) -> usize {
        let mut expected = self.account.nonce;
        let mut pending = 0;
        for nonce in self
            .by_nonce
            .range(self.account.nonce..)
            .map(|(nonce, _)| *nonce)
        {
            if nonce != expected {
                break;
            }
            pending += 1;
            match expected.checked_add(1) {
                Some(next) => expected = next,
                None => break,
            }
        }
        pending
    }
}

/// Why a transaction leaves the pool; decides whether its verified signature is remembered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Departure {
    /// In a committed block: it can never be valid again.
    Committed,
    /// Evicted, replaced or dropped by a recheck: it may still come back in someone's block.
    Dropped,
}

/// A transaction that passed the checks that need neither state nor signature verification.
#[derive(Debug)]
struct Candidate {
    tx: SignedTransaction,
    hash: Hash,
    size: usize,
}

/// The pool. See the module documentation for its rules.
#[derive(Debug)]
pub struct Mempool {
    config: MempoolConfig,
    txs: HashMap<Hash, PooledTx>,
    senders: HashMap<Address, SenderQueue>,
    /// Each sender's last transaction, cheapest first: the eviction candidates.
    eviction_order: BTreeSet<EvictionKey>,
    /// Encoded bytes of all pooled transactions.
    bytes: usize,
    /// Pending transactions over all senders.
    pending_len: usize,
    next_arrival: u64,
    verified: VerifiedSignatures,
}

impl Mempool {
    pub fn new(config: MempoolConfig) -> Self {
        // Remember as many departed transactions as the pool holds: enough to cover what validators
        // with similar pools may still propose, and a bound.
        let verified = VerifiedSignatures::new(config.max_transactions);
        Mempool {
            config,
            txs: HashMap::new(),
            senders: HashMap::new(),
            eviction_order: BTreeSet::new(),
            bytes: 0,
            pending_len: 0,
            next_arrival: 0,
            verified,
        }
    }

    pub fn config(&self) -> &MempoolConfig {
        &self.config
    }

    /// Admits a transaction's raw bytes (off the wire or from RPC), reading its sender's committed
    /// account through `view`. Returns the transaction's hash.
    pub fn admit(&mut self, bytes: &[u8], view: &impl StateView) -> Result<Hash, MempoolError> {
        let candidate = self.candidate_from_bytes(bytes)?;
        self.admit_candidate(candidate, view)
    }

    /// Admits a decoded transaction, as [`Mempool::admit`] does bytes.
    pub fn admit_signed(
        &mut self,
        tx: SignedTransaction,
        view: &impl StateView,
    ) -> Result<Hash, MempoolError> {
        let candidate = self.candidate(tx)?;
        self.admit_candidate(candidate, view)
    }

    /// The checks after decoding, shared by the single-transaction admissions.
    fn admit_candidate(
        &mut self,
        candidate: Candidate,
        view: &impl StateView,
    ) -> Result<Hash, MempoolError> {
        Self::verify_one(&candidate)?;
        let account = Self::read_accounts(view, &[candidate.tx.tx.sender()])?
            .into_iter()
            .next()
            .unwrap_or_default();
        self.insert(candidate, account)
    }

    /// Admits many transactions' raw bytes at once: their signatures are checked in one batch and
    /// their senders' accounts read in one call. Returns one result per input, in order; a
    /// sender's transactions may come in any nonce order.
    pub fn admit_batch<B: AsRef<[u8]>>(
        &mut self,
        batch: &[B],
        view: &impl StateView,
    ) -> Vec<Result<Hash, MempoolError>> {
        // Filled as each input's outcome is known; every slot is filled before the end.
        let mut results: Vec<Option<Result<Hash, MempoolError>>> = vec![None; batch.len()];
        let mut candidates: Vec<(usize, Candidate)> = Vec::new();
        for (index, bytes) in batch.iter().enumerate() {
            match self.candidate_from_bytes(bytes.as_ref()) {
                Ok(candidate) => candidates.push((index, candidate)),
                Err(error) => results[index] = Some(Err(error)),
            }
        }

        let valid = signatures_valid(
            &candidates
                .iter()
                .map(|(_, candidate)| &candidate.tx)
                .collect::<Vec<_>>(),
        );
        let mut verified: Vec<(usize, Candidate)> = Vec::with_capacity(candidates.len());
        for ((index, candidate), valid) in candidates.into_iter().zip(valid) {
            if valid {
                verified.push((index, candidate));
            } else {
                results[index] = Some(Err(MempoolError::Rejected {
                    reason: TxRejection::BadSignature,
                }));
            }
        }

        let mut senders: Vec<Address> = verified
            .iter()
            .map(|(_, candidate)| candidate.tx.tx.sender())
            .collect();
        senders.sort_unstable();
        senders.dedup();
        let accounts: Result<HashMap<Address, Account>, MempoolError> =
            Self::read_accounts(view, &senders)
                .map(|accounts| senders.iter().copied().zip(accounts).collect());
        for (index, candidate) in verified {
            let outcome = match &accounts {
                Ok(accounts) => {
                    let account = accounts
                        .get(&candidate.tx.tx.sender())
                        .copied()
                        .unwrap_or_default();
                    self.insert(candidate, account)
                }
                Err(error) => Err(error.clone()),
            };
            results[index] = Some(outcome);
        }
        results
            .into_iter()
            .map(|outcome| {
                outcome.unwrap_or_else(|| {
                    Err(MempoolError::StateRead {
                        reason: "not processed".into(),
                    })
                })
            })
            .collect()
    }

    /// Up to `max_count` transactions of at most `max_bytes` encoded bytes in total, for the next
    /// block: pending transactions by fee across senders, in nonce order within a sender.
    pub fn select(&self, max_count: usize, max_bytes: usize) -> Vec<SignedTransaction> {
        let mut heads: BinaryHeap<ProposalKey> = self
            .senders
            .values()
            .filter(|queue| queue.pending > 0)
            .filter_map(|queue| queue.by_nonce.get(&queue.account.nonce))
            .filter_map(|hash| self.proposal_key(hash))
            .collect();
        let mut selected = Vec::new();
        let mut selected_bytes: usize = 0;
        while selected.len() < max_count {
            let Some(head) = heads.pop() else { break };
            let Some(pooled) = self.txs.get(&head.hash) else {
                continue;
            };
            let Some(total) = selected_bytes
                .checked_add(pooled.size)
                .filter(|total| *total <= max_bytes)
            else {
                // It does not fit, so neither can the sender's later nonces; others may.
                continue;
            };
            selected_bytes = total;
            selected.push(pooled.tx.clone());
            let next = self.senders.get(&pooled.sender).and_then(|queue| {
                let nonce = pooled.nonce().checked_add(1)?;
                queue
                    .is_pending(nonce)
                    .then(|| queue.by_nonce.get(&nonce))
                    .flatten()
            });
            if let Some(key) = next.and_then(|hash| self.proposal_key(hash)) {
                heads.push(key);
            }
        }
        selected
    }

    /// After a block is committed: drops its transactions and rechecks the senders among
    /// `changed_accounts` (the block execution's changed accounts, with their new state) against
    /// their new accounts. Costs time in the size of the block, not of the pool.
    pub fn on_block_committed(
        &mut self,
        committed_tx_hashes: &[Hash],
        changed_accounts: &[(Address, Account)],
    ) {
        let mut touched: Vec<Address> = Vec::new();
        for hash in committed_tx_hashes {
            match self.unlink(hash, Departure::Committed) {
                Some(pooled) => touched.push(pooled.sender),
                None => self.verified.write().forget(hash),
            }
        }
        for (address, account) in changed_accounts {
            if self.resync(address, *account) {
                touched.push(*address);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for sender in &touched {
            self.refresh(sender);
        }
    }

    pub fn contains(&self, hash: &Hash) -> bool {
        self.txs.contains_key(hash)
    }

    pub fn get(&self, hash: &Hash) -> Option<&SignedTransaction> {
        self.txs.get(hash).map(|pooled| &pooled.tx)
    }

    /// Transactions in the pool, pending and queued.
    pub fn len(&self) -> usize {
        self.txs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.txs.is_empty()
    }

    /// Pending transactions: those [`Mempool::select`] can propose.
    pub fn pending_len(&self) -> usize {
        self.pending_len
    }

    /// Encoded bytes of all pooled transactions.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// True if the pool checked this transaction's signature and found it valid; see
    /// [`VerifiedSignatures`].
    pub fn was_verified(&self, hash: &Hash) -> bool {
        self.verified.contains(hash)
    }

    /// A handle on the verified hashes that other threads can query while the pool changes.
    pub fn verified_signatures(&self) -> VerifiedSignatures {
        self.verified.clone()
    }

    /// Checks 1 and 2 of admission: size and decoding.
    fn candidate_from_bytes(&self, bytes: &[u8]) -> Result<Candidate, MempoolError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(MempoolError::TooLarge {
                size: bytes.len(),
                max: MAX_TX_BYTES,
            });
        }
        let tx = SignedTransaction::decode(bytes).map_err(|error| MempoolError::Decode {
            reason: error.to_string(),
        })?;
        self.candidate(tx)
    }

    /// Checks of admission that need neither state nor a signature check: size, duplicate,
    /// chain id.
    fn candidate(&self, tx: SignedTransaction) -> Result<Candidate, MempoolError> {
        let encoded = tx.encode();
        if encoded.len() > MAX_TX_BYTES {
            return Err(MempoolError::TooLarge {
                size: encoded.len(),
                max: MAX_TX_BYTES,
            });
        }
        let hash = Hash::digest(&encoded);
        if self.txs.contains_key(&hash) {
            return Err(MempoolError::Duplicate { hash });
        }
        if tx.tx.chain_id != self.config.chain_id {
            return Err(MempoolError::Rejected {
                reason: TxRejection::WrongChain {
                    expected: self.config.chain_id.clone(),
                    found: tx.tx.chain_id,
                },
            });
        }
        Ok(Candidate {
            tx,
            hash,
            size: encoded.len(),
        })
    }

    fn verify_one(candidate: &Candidate) -> Result<(), MempoolError> {
        if candidate.tx.verify_signature() {
            Ok(())
        } else {
            Err(MempoolError::Rejected {
                reason: TxRejection::BadSignature,
            })
        }
    }

    fn read_accounts(
        view: &impl StateView,
        addresses: &[Address],
    ) -> Result<Vec<Account>, MempoolError> {
        if addresses.is_empty() {
            return Ok(Vec::new());
        }
        let accounts = view
            .accounts(addresses)
            .map_err(|error| MempoolError::StateRead {
                reason: error.to_string(),
            })?;
        if accounts.len() != addresses.len() {
            return Err(MempoolError::StateRead {
                reason: format!(
                    "asked for {} accounts, got {}",
                    addresses.len(),
                    accounts.len()
                ),
            });
        }
        Ok(accounts
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect())
    }

    /// Checks 5 to 7 of admission against the sender's committed `account`, and admits.
    fn insert(&mut self, candidate: Candidate, account: Account) -> Result<Hash, MempoolError> {
        let Candidate { tx, hash, size } = candidate;
        // A batch may hold the same transaction twice.
        if self.txs.contains_key(&hash) {
            return Err(MempoolError::Duplicate { hash });
        }
        let sender = tx.tx.sender();
        // The account read now is the freshest: bring the sender's queue up to date with it first.
        if self.resync(&sender, account) {
            self.refresh(&sender);
        }

        let nonce = tx.tx.nonce;
        let fee = tx.tx.fee;
        if nonce < account.nonce {
            return Err(MempoolError::NonceTooLow {
                nonce,
                account_nonce: account.nonce,
            });
        }
        if nonce - account.nonce >= self.config.max_per_sender {
            return Err(MempoolError::NonceTooFarAhead {
                nonce,
                account_nonce: account.nonce,
                max_ahead: self.config.max_per_sender,
            });
        }
        let Payload::Transfer { amount, .. } = &tx.tx.payload;
        let cost = u128::from(*amount) + u128::from(fee);
        if cost > u128::from(account.balance) {
            return Err(MempoolError::Rejected {
                reason: TxRejection::InsufficientBalance {
                    balance: account.balance,
                    amount: *amount,
                    fee,
                },
            });
        }

        let queue = self.senders.get(&sender);
        let replaced_hash: Option<Hash> =
            queue.and_then(|queue| queue.by_nonce.get(&nonce)).copied();
        let replaced: Option<&PooledTx> = replaced_hash.and_then(|hash| self.txs.get(&hash));
        if let Some(replaced) = replaced {
            let required_fee = replacement_fee(replaced.fee());
            if fee < required_fee {
                return Err(MempoolError::ReplacementUnderpriced {
                    nonce,
                    pooled_fee: replaced.fee(),
                    fee,
                    required_fee,
                });
            }
        }
        let pooled_cost = queue
            .map_or(0, |queue| queue.total_cost)
            .saturating_sub(replaced.map_or(0, |replaced| replaced.cost));
        if pooled_cost + cost > u128::from(account.balance) {
            return Err(MempoolError::QueueExceedsBalance {
                balance: account.balance,
                pooled_cost,
                cost,
            });
        }

        let len_after = self.txs.len() - usize::from(replaced.is_some()) + 1;
        let bytes_after = self.bytes - replaced.map_or(0, |replaced| replaced.size) + size;
        let victims = self
            .plan_evictions(
                &sender,
                fee,
                len_after.saturating_sub(self.config.max_transactions),
                bytes_after.saturating_sub(self.config.max_bytes),
            )
            .ok_or(MempoolError::Full {
                fee,
                len: self.txs.len(),
                bytes: self.bytes,
                max_transactions: self.config.max_transactions,
                max_bytes: self.config.max_bytes,
            })?;

        let mut touched: Vec<Address> = Vec::with_capacity(victims.len() + 1);
        for victim in &victims {
            if let Some(pooled) = self.unlink(victim, Departure::Dropped) {
                touched.push(pooled.sender);
            }
        }
        if let Some(replaced_hash) = replaced_hash {
            self.unlink(&replaced_hash, Departure::Dropped);
        }
        self.link(
            hash,
            PooledTx {
                tx,
                sender,
                size,
                cost,
                arrival: self.next_arrival,
            },
            account,
        );
        self.next_arrival = self.next_arrival.wrapping_add(1);
        touched.push(sender);
        touched.sort_unstable();
        touched.dedup();
        for address in &touched {
            self.refresh(address);
        }
        Ok(hash)
    }

    /// The transactions to evict so that `excess_count` transactions and `excess_bytes` bytes are
    /// freed, all paying less than `fee` and none from `sender`; `None` if there are not enough.
    /// Takes each sender's last transaction, cheapest first; once one is taken, the sender's
    /// previous transaction becomes a candidate.
    fn plan_evictions(
        &self,
        sender: &Address,
        fee: u64,
        mut excess_count: usize,
        mut excess_bytes: usize,
    ) -> Option<Vec<Hash>> {
        let mut victims = Vec::new();
        let mut last_transactions = self
            .eviction_order
            .iter()
            .filter(|key| {
                self.txs
                    .get(&key.hash)
                    .is_some_and(|pooled| pooled.sender != *sender)
            })
            .peekable();
        // Senders' previous transactions, uncovered by victims taken before them.
        let mut uncovered: BinaryHeap<Reverse<EvictionKey>> = BinaryHeap::new();
        while excess_count > 0 || excess_bytes > 0 {
            let take_uncovered = match (last_transactions.peek(), uncovered.peek()) {
                (Some(last), Some(Reverse(previous))) => previous < *last,
                (None, Some(_)) => true,
                (_, None) => false,
            };
            let next = if take_uncovered {
                uncovered.pop().map(|Reverse(key)| key)
            } else {
                last_transactions.next().copied()
            }?;
            if next.fee >= fee {
                return None;
            }
            let victim = self.txs.get(&next.hash)?;
            victims.push(next.hash);
            excess_count = excess_count.saturating_sub(1);
            excess_bytes = excess_bytes.saturating_sub(victim.size);
            if let Some(queue) = self.senders.get(&victim.sender) {
                if let Some((previous_nonce, previous_hash)) =
                    queue.by_nonce.range(..victim.nonce()).next_back()
                {
                    if let Some(key) =
                        self.eviction_key(previous_hash, queue.is_pending(*previous_nonce))
                    {
                        uncovered.push(Reverse(key));
                    }
                }
            }
        }
        Some(victims)
    }

    fn eviction_key(&self, hash: &Hash, pending: bool) -> Option<EvictionKey> {
        self.txs.get(hash).map(|pooled| EvictionKey {
            fee: pooled.fee(),
            pending,
            newest_first: Reverse(pooled.arrival),
            hash: *hash,
        })
    }

    fn proposal_key(&self, hash: &Hash) -> Option<ProposalKey> {
        self.txs.get(hash).map(|pooled| ProposalKey {
            fee: pooled.fee(),
            earliest_first: Reverse(pooled.arrival),
            hash: *hash,
        })
    }

    /// Adds a transaction to the pool's maps; the caller refreshes its sender.
    fn link(&mut self, hash: Hash, pooled: PooledTx, account: Account) {
        let queue = self
            .senders
            .entry(pooled.sender)
            .or_insert_with(|| SenderQueue::new(account));
        queue.by_nonce.insert(pooled.nonce(), hash);
        queue.total_cost += pooled.cost;
        self.bytes += pooled.size;
        self.verified.write().add_pooled(hash);
        self.txs.insert(hash, pooled);
    }

    /// Removes a transaction from the pool's maps; the caller refreshes its sender.
    fn unlink(&mut self, hash: &Hash, departure: Departure) -> Option<PooledTx> {
        let pooled = self.txs.remove(hash)?;
        if let Some(queue) = self.senders.get_mut(&pooled.sender) {
            if queue.by_nonce.get(&pooled.nonce()) == Some(hash) {
                queue.by_nonce.remove(&pooled.nonce());
            }
            queue.total_cost = queue.total_cost.saturating_sub(pooled.cost);
        }
        self.bytes = self.bytes.saturating_sub(pooled.size);
        let mut verified = self.verified.write();
        match departure {
            Departure::Committed => verified.forget(hash),
            Departure::Dropped => verified.retire(hash),
        }
        Some(pooled)
    }

    /// Rechecks `sender`'s queue against its new committed `account`: drops transactions whose
    /// nonce is used, then the last ones while the balance does not cover them all. Returns whether
    /// the sender has a queue; the caller refreshes it.
    fn resync(&mut self, sender: &Address, account: Account) -> bool {
        let Some(queue) = self.senders.get_mut(sender) else {
            return false;
        };
        queue.account = account;
        let cost_of = |hash: &Hash| self.txs.get(hash).map_or(0, |pooled| pooled.cost);
        let mut dropped: Vec<Hash> = queue
            .by_nonce
            .range(..account.nonce)
            .map(|(_, hash)| *hash)
            .collect();
        let mut remaining_cost = queue
            .total_cost
            .saturating_sub(dropped.iter().map(cost_of).sum());
        // Costs are never negative, so keeping the longest affordable prefix in nonce order is
        // dropping from the end until the rest fits.
        for hash in queue
            .by_nonce
            .range(account.nonce..)
            .rev()
            .map(|(_, hash)| hash)
        {
            if remaining_cost <= u128::from(account.balance) {
                break;
            }
            remaining_cost = remaining_cost.saturating_sub(cost_of(hash));
            dropped.push(*hash);
        }
        for hash in &dropped {
            self.unlink(hash, Departure::Dropped);
        }
        true
    }

    /// Recomputes `sender`'s pending count and eviction entry after its queue changed, and forgets
    /// the sender if nothing of it is left.
    fn refresh(&mut self, sender: &Address) {
        let Some(queue) = self.senders.get_mut(sender) else {
            return;
        };
        if let Some(key) = queue.eviction_key.take() {
            self.eviction_order.remove(&key);
        }
        self.pending_len -= queue.pending;
        queue.pending = queue.count_pending();
        self.pending_len += queue.pending;
        let last = queue
            .by_nonce
            .last_key_value()
            .map(|(nonce, hash)| (*hash, queue.is_pending(*nonce)));
        let Some((last_hash, last_pending)) = last else {
            self.senders.remove(sender);
            return;
        };
        let key = self.eviction_key(&last_hash, last_pending);
        if let (Some(key), Some(queue)) = (key, self.senders.get_mut(sender)) {
            queue.eviction_key = Some(key);
            self.eviction_order.insert(key);
        }
    }
}

/// The least fee that replaces a pooled transaction paying `pooled_fee`.
fn replacement_fee(pooled_fee: u64) -> u64 {
    let bump = (pooled_fee / 100)
        .saturating_mul(REPLACEMENT_FEE_BUMP_PERCENT)
        .saturating_add((pooled_fee % 100) * REPLACEMENT_FEE_BUMP_PERCENT / 100)
        .max(1);
    pooled_fee.saturating_add(bump)
}

/// Which of `txs` carry a valid signature: one batch check when all do; a failing batch is split
/// to find the culprits.
fn signatures_valid(txs: &[&SignedTransaction]) -> Vec<bool> {
    let messages: Vec<Vec<u8>> = txs.iter().map(|tx| tx.tx.signing_bytes()).collect();
    let checks: Vec<SignatureCheck<'_>> = txs
        .iter()
        .zip(&messages)
        .map(|(tx, message)| SignatureCheck {
            public_key: &tx.tx.signer,
            message,
            signature: &tx.signature,
        })
        .collect();
    let mut valid = vec![false; txs.len()];
    mark_valid(&checks, &mut valid);
    valid
}

fn mark_valid(checks: &[SignatureCheck<'_>], valid: &mut [bool]) {
    if checks.len() < SINGLE_CHECK_BELOW {
        for (check, valid) in checks.iter().zip(valid.iter_mut()) {
            *valid = check.public_key.verify(check.message, check.signature);
        }
    } else if verify_batch(checks) {
        valid.iter_mut().for_each(|valid| *valid = true);
    } else {
        let middle = checks.len() / 2;
        let (checks_left, checks_right) = checks.split_at(middle);
        let (valid_left, valid_right) = valid.split_at_mut(middle);
        mark_valid(checks_left, valid_left);
        mark_valid(checks_right, valid_right);
    }
}

#[cfg(test)]
mod tests {
    use cairn_ledger::{
        store::StoreConfig,
        testing::{open_funded_store, test_address, test_key, transfer, TEST_CHAIN_ID},
    };

    use super::*;

    fn tx(from: u64, nonce: u64, fee: u64) -> SignedTransaction {
        transfer(
            &test_key(from),
            TEST_CHAIN_ID,
            nonce,
            test_address(9),
            1,
            fee,
        )
    }

    #[test]
    fn eviction_plans_uncover_a_senders_previous_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = open_funded_store(dir.path(), StoreConfig::default(), 4, 1_000).unwrap();
        let mut pool = Mempool::new(MempoolConfig::new(TEST_CHAIN_ID));
        let s0_first = pool.admit_signed(tx(0, 0, 1), &store).unwrap();
        let s0_second = pool.admit_signed(tx(0, 1, 2), &store).unwrap();
        let s1 = pool.admit_signed(tx(1, 0, 3), &store).unwrap();
        pool.admit_signed(tx(2, 0, 10), &store).unwrap();

        // Sender 0's fee 2 goes first; that uncovers its fee 1, which goes before sender 1's 3.
        assert_eq!(
            pool.plan_evictions(&test_address(3), 5, 3, 0),
            Some(vec![s0_second, s0_first, s1])
        );
        assert_eq!(pool.plan_evictions(&test_address(3), 5, 4, 0), None);
        // The newcomer's own sender is skipped.
        assert_eq!(
            pool.plan_evictions(&test_address(0), 5, 1, 0),
            Some(vec![s1])
        );
        assert_eq!(pool.plan_evictions(&test_address(3), 5, 0, 0), Some(vec![]));
    }

    #[test]
    fn replacement_fee_is_a_ten_percent_bump_of_at_least_one() {
        assert_eq!(replacement_fee(0), 1);
        assert_eq!(replacement_fee(5), 6);
        assert_eq!(replacement_fee(100), 110);
        assert_eq!(replacement_fee(1_005), 1_105);
        assert_eq!(replacement_fee(u64::MAX), u64::MAX);
    }
}
