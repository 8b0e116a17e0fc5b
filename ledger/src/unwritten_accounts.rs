//! Accounts that committed blocks changed and that the flat table does not hold yet.
//!
//! The flat `accounts` table takes its records at checkpoints only, as the tree's pages do (see
//! [`crate::store`]). Between two, the latest value of every account changed since the last
//! checkpoint is held here, and reads of the latest state look here before the database. An
//! account changed by several blocks between two checkpoints is written once: at a million
//! accounts with blocks of 10,000 transfers, the 64 blocks between two checkpoints change
//! about 1.3 million accounts, of which about 480,000 distinct ones, when every sender sends
//! once a block.
//!
//! A checkpoint's accounts are written behind the blocks that follow it. Until they are, they
//! stay here as a generation of their own, under the accounts changed since.

use std::{collections::HashMap, sync::Arc};

use foldhash::fast::RandomState;

use crate::{account::Account, address::Address};

/// Accounts by address. Tens of thousands come in each block: a fast hasher, not a
/// DoS-resistant one, since an address is a hash of a key, which no one chooses cheaply.
pub(crate) type AccountMap = HashMap<Address, Account, RandomState>;

#[derive(Default)]
pub(crate) struct UnwrittenAccounts {
    /// Changed since the last checkpoint.
    since_checkpoint: AccountMap,
    /// Changed through the last checkpoint, while it is being written.
    checkpointing: Option<Arc<AccountMap>>,
}

impl UnwrittenAccounts {
    pub(crate) fn get(&self, address: &Address) -> Option<Account> {
        self.since_checkpoint.get(address).copied().or_else(|| {
            self.checkpointing
                .as_ref()
                .and_then(|accounts| accounts.get(address).copied())
        })
    }

    /// Takes in the accounts a committed block changed, over what earlier blocks left.
    pub(crate) fn record(&mut self, changed: &[(Address, Account)]) {
        self.since_checkpoint.extend(changed.iter().copied());
    }

    /// [`UnwrittenAccounts::record`] for a block whose commit is still in flight: returns what
    /// [`UnwrittenAccounts::undo`] needs to take it back out should the commit fail. No
    /// checkpoint may begin in between.
    pub(crate) fn record_undoable(&mut self, changed: &[(Address, Account)]) -> AccountsUndo {
        AccountsUndo(
            changed
                .iter()
                .map(|(address, account)| {
                    (*address, self.since_checkpoint.insert(*address, *account))
                })
                .collect(),
        )
    }

    /// Restores what the accounts changed since the last checkpoint were before `undo`'s block.
    pub(crate) fn undo(&mut self, undo: AccountsUndo) {
        for (address, before) in undo.0 {
            match before {
                Some(account) => self.since_checkpoint.insert(address, account),
                None => self.since_checkpoint.remove(&address),
            };
        }
    }

    /// The accounts a checkpoint writes: every one changed since the last. They stay readable
    /// here until [`UnwrittenAccounts::checkpoint_written`]. The checkpoint before must be
    /// written by now.
    pub(crate) fn begin_checkpoint(&mut self) -> Arc<AccountMap> {
        // As many as last time, or about: the map need not grow again through the next 64
        // blocks, rehashing all it holds at each doubling.
        let room = AccountMap::with_capacity_and_hasher(
            self.since_checkpoint.len(),
            RandomState::default(),
        );
        let accounts = Arc::new(std::mem::replace(&mut self.since_checkpoint, room));
        self.checkpointing = Some(Arc::clone(&accounts));
        accounts
    }

    /// Lets go of the accounts the last checkpoint wrote.
    pub(crate) fn checkpoint_written(&mut self) {
        self.checkpointing = None;
    }
}

/// What a block's accounts replaced among those changed since the last checkpoint.
pub(crate) struct AccountsUndo(Vec<(Address, Option<Account>)>);

/// `accounts` sorted by address, as a checkpoint writes them.
pub(crate) fn sorted(accounts: &AccountMap) -> Vec<(Address, Account)> {
    let mut sorted: Vec<(Address, Account)> = accounts
        .iter()
        .map(|(address, account)| (*address, *account))
        .collect();
    sorted.sort_unstable_by_key(|(address, _)| *address);
    sorted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account(balance: u64) -> Account {
        Account { balance, nonce: 0 }
    }

    #[test]
    fn the_latest_value_wins_and_a_checkpoint_takes_each_account_once() {
        let (first, second, third) = (Address([1; 20]), Address([2; 20]), Address([3; 20]));
        let mut unwritten = UnwrittenAccounts::default();
        unwritten.record(&[(second, account(5)), (first, account(1))]);
        unwritten.record(&[(second, account(7))]);
        assert_eq!(unwritten.get(&second), Some(account(7)));
        assert_eq!(unwritten.get(&third), None);
        let checkpoint = unwritten.begin_checkpoint();
        assert_eq!(
            sorted(&checkpoint),
            vec![(first, account(1)), (second, account(7))]
        );
        // Blocks after the checkpoint come in while it is written.
        unwritten.record(&[(second, account(9)), (third, account(3))]);
        assert_eq!(unwritten.get(&first), Some(account(1)));
        assert_eq!(unwritten.get(&second), Some(account(9)));
        unwritten.checkpoint_written();
        assert_eq!(unwritten.get(&first), None);
        assert_eq!(unwritten.get(&second), Some(account(9)));
        assert_eq!(unwritten.get(&third), Some(account(3)));
    }

    #[test]
    fn an_undone_block_leaves_the_accounts_as_they_were() {
        let (first, second) = (Address([1; 20]), Address([2; 20]));
        let mut unwritten = UnwrittenAccounts::default();
        unwritten.record(&[(first, account(1))]);
        let undo = unwritten.record_undoable(&[(first, account(2)), (second, account(3))]);
        assert_eq!(unwritten.get(&first), Some(account(2)));
        unwritten.undo(undo);
        assert_eq!(unwritten.get(&first), Some(account(1)));
        assert_eq!(unwritten.get(&second), None);
    }
}
