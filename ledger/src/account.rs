//! Accounts: a balance and the nonce of the next transaction the account may send.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::{encoding, hash::Hash};

/// The state of one address. An address that never received anything has no account; it reads
/// as [`Account::default`] (balance 0, nonce 0).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Account {
    /// Balance in the chain's smallest unit.
    pub balance: u64,
    /// The nonce the account's next transaction must carry: the count of its transactions so far.
    pub nonce: u64,
}

impl Account {
    /// The hash committed in the state tree's leaf for this account.
    pub fn value_hash(&self) -> Hash {
        Hash::digest(&encoding::encode(self))
    }
}
