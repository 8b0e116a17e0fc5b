//! Why the mempool refuses a transaction.

use cairn_ledger::{error::TxRejection, Hash};

/// Why a transaction was not admitted. Each variant says what was wrong with enough detail for a
/// wallet to fix it; [`MempoolError::is_invalid`] tells a bad transaction from a merely unlucky one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MempoolError {
    #[error("transaction is {size} bytes, at most {max}")]
    TooLarge { size: usize, max: usize },

    #[error("malformed transaction: {reason}")]
    Decode { reason: String },

    /// The same transaction (same hash) is already in the pool.
    #[error("transaction {hash} is already in the pool")]
    Duplicate { hash: Hash },

    /// A rule the executor also enforces: signature, chain id, or a balance that cannot cover this
    /// one transaction.
    #[error("transaction rejected: {reason}")]
    Rejected { reason: TxRejection },

    /// The sender's account has already used this nonce.
    #[error("nonce {nonce} is below the sender's account nonce {account_nonce}")]
    NonceTooLow { nonce: u64, account_nonce: u64 },

    /// The nonce leaves a gap wider than the pool keeps for one sender.
    #[error(
        "nonce {nonce} is too far ahead of the sender's account nonce {account_nonce} \
         (the pool keeps nonces below {account_nonce} + {max_ahead})"
    )]
    NonceTooFarAhead {
        nonce: u64,
        account_nonce: u64,
        max_ahead: u64,
    },

    /// The balance covers this transaction alone but not together with the sender's other pooled
    /// transactions, which execute first or alongside.
    #[error(
        "balance {balance} does not cover this transaction's cost {cost} on top of the \
         sender's pooled transactions' cost {pooled_cost}"
    )]
    QueueExceedsBalance {
        balance: u64,
        pooled_cost: u128,
        cost: u128,
    },

    /// The pool holds another transaction with this sender and nonce, and this one does not pay
    /// enough more to replace it.
    #[error(
        "a pooled transaction with nonce {nonce} pays fee {pooled_fee}; a replacement must pay \
         at least {required_fee}, this one pays {fee}"
    )]
    ReplacementUnderpriced {
        nonce: u64,
        pooled_fee: u64,
        fee: u64,
        required_fee: u64,
    },

    /// The pool is at a limit and holds nothing it may evict for this transaction: everything
    /// evictable pays at least `fee`.
    #[error(
        "the pool is full ({len} transactions, {bytes} bytes; limits {max_transactions} and \
         {max_bytes}) and holds nothing paying less than fee {fee} to make room"
    )]
    Full {
        fee: u64,
        len: usize,
        bytes: usize,
        max_transactions: usize,
        max_bytes: usize,
    },

    /// The sender's committed account could not be read; nothing is wrong with the transaction.
    #[error("cannot read the sender's account: {reason}")]
    StateRead { reason: String },
}

impl MempoolError {
    /// True when the transaction can never become valid, whatever the state or the pool: a peer
    /// that relays it is faulty. False when it may succeed later or elsewhere (a full pool, a
    /// balance that may grow, a nonce gap that may close, a duplicate).
    pub fn is_invalid(&self) -> bool {
        match self {
            MempoolError::TooLarge { .. }
            | MempoolError::Decode { .. }
            | MempoolError::NonceTooLow { .. } => true,
            MempoolError::Rejected { reason } => matches!(
                reason,
                TxRejection::BadSignature | TxRejection::WrongChain { .. }
            ),
            MempoolError::Duplicate { .. }
            | MempoolError::NonceTooFarAhead { .. }
            | MempoolError::QueueExceedsBalance { .. }
            | MempoolError::ReplacementUnderpriced { .. }
            | MempoolError::Full { .. }
            | MempoolError::StateRead { .. } => false,
        }
    }
}
