//! The validated genesis: every rule a `genesis.json` must satisfy, checked once, in one place.
//!
//! | field | rule |
//! |---|---|
//! | `chain_id` | 1 to [`MAX_CHAIN_ID_LEN`] characters of `[a-zA-Z0-9._-]` |
//! | `genesis_time` | RFC 3339, 1970 to 9999 (see [`crate::time`]) |
//! | `initial_height` | 1 to [`MAX_INITIAL_HEIGHT`] |
//! | `consensus.timeout_{propose,prevote,precommit}.base_ms` | 1 to [`MAX_TIMEOUT_MS`] |
//! | `consensus.timeout_{propose,prevote,precommit}.per_round_ms` | 0 to [`MAX_TIMEOUT_MS`] |
//! | `consensus.timeout_commit_ms` | 0 to [`MAX_TIMEOUT_MS`] |
//! | `consensus.max_block_bytes` | [`MIN_BLOCK_BYTES`] to the ledger's [`MAX_BLOCK_BYTES`] |
//! | `consensus.max_block_txs` | 1 to [`MAX_BLOCK_TXS`] |
//! | `validators` | 1 to [`MAX_VALIDATORS`] entries; total power at most [`MAX_TOTAL_VOTING_POWER`] |
//! | `validators[i].name` | 1 to [`MAX_NAME_LEN`] characters, no control character, unique |
//! | `validators[i].public_key` | `0x` and 64 hex digits, not a small-order point, unique |
//! | `validators[i].power` | at least 1 |
//! | `accounts` | at most [`MAX_ACCOUNTS`] entries; total balance fits in a u64 |
//! | `accounts[i].address` | bech32m `cairn1…`, unique |
//! | `accounts[i].balance` | decimal digits, no sign, no leading zero, fits in a u64 |
//!
//! A base timeout of zero would make a round end before any message can arrive, so it is refused;
//! a zero per-round increment or commit timeout is a legitimate (if aggressive) setting. Validation
//! stops at the first broken rule and names its field; it never panics, whatever the input.

use std::{collections::HashMap, fs::File, io::Read, path::Path, time::Duration};

use cairn_ledger::{
    block::MAX_BLOCK_BYTES, Account, Address, Hash, LedgerError, PublicKey, Signature,
};

use crate::{
    canonical,
    error::GenesisError,
    file::{AccountEntry, ConsensusParamsFile, GenesisFile, TimeoutFile, ValidatorEntry},
    time,
};

/// Largest genesis file accepted, in bytes.
pub const MAX_GENESIS_BYTES: u64 = 256 * 1024 * 1024;
/// Longest chain id, in characters.
pub const MAX_CHAIN_ID_LEN: usize = 64;
/// Longest validator name, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// Most validators in the genesis set.
pub const MAX_VALIDATORS: usize = 10_000;
/// Most funded accounts.
pub const MAX_ACCOUNTS: usize = 1_000_000;
/// Largest total voting power: the consensus core's bound (CometBFT's), which keeps its proposer
/// priority arithmetic far from `i64` overflow.
pub const MAX_TOTAL_VOTING_POWER: u64 = (i64::MAX / 8) as u64;
/// Longest timeout or per-round increment: an hour. Anything longer is a typo (seconds taken for
/// milliseconds the other way round would give a thousandfold shorter value, caught by nothing).
pub const MAX_TIMEOUT_MS: u64 = 60 * 60 * 1000;
/// Smallest block limit: room for a header and a few of the largest transactions.
pub const MIN_BLOCK_BYTES: u64 = 4096;
/// Most transactions per block: more than the largest block could hold of the smallest transfer.
pub const MAX_BLOCK_TXS: u64 = 100_000;
/// Highest initial height; keeps heights far from overflow.
pub const MAX_INITIAL_HEIGHT: u64 = i64::MAX as u64;

/// A timeout that grows with the round: `base + round × per_round`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeout {
    pub base_ms: u64,
    pub per_round_ms: u64,
}

impl Timeout {
    pub fn base(&self) -> Duration {
        Duration::from_millis(self.base_ms)
    }

    pub fn per_round(&self) -> Duration {
        Duration::from_millis(self.per_round_ms)
    }
}

/// Consensus parameters every validator must share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsensusParams {
    pub timeout_propose: Timeout,
    pub timeout_prevote: Timeout,
    pub timeout_precommit: Timeout,
    /// Wait after a commit before the next height starts; may be zero.
    pub timeout_commit_ms: u64,
    /// Largest encoded block, at most the ledger's [`MAX_BLOCK_BYTES`].
    pub max_block_bytes: u64,
    pub max_block_txs: u64,
}

impl Default for ConsensusParams {
    /// The consensus core's default timeouts, a one-second commit timeout, the ledger's largest
    /// block and 10,000 transactions per block.
    fn default() -> Self {
        ConsensusParams {
            timeout_propose: Timeout {
                base_ms: 3000,
                per_round_ms: 500,
            },
            timeout_prevote: Timeout {
                base_ms: 1000,
                per_round_ms: 500,
            },
            timeout_precommit: Timeout {
                base_ms: 1000,
                per_round_ms: 500,
            },
            timeout_commit_ms: 1000,
            max_block_bytes: u64::try_from(MAX_BLOCK_BYTES).unwrap_or(MIN_BLOCK_BYTES),
            max_block_txs: 10_000,
        }
    }
}

impl ConsensusParams {
    pub fn timeout_commit(&self) -> Duration {
        Duration::from_millis(self.timeout_commit_ms)
    }
}

/// A validator of the genesis set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Validator {
    pub name: String,
    pub public_key: PublicKey,
    pub power: u64,
}

impl Validator {
    /// The address that receives this validator's proposer fees.
    pub fn address(&self) -> Address {
        Address::from_public_key(&self.public_key)
    }
}

/// An account funded at genesis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FundedAccount {
    pub address: Address,
    pub balance: u64,
}

/// A validated genesis. It can only be built by validation ([`Genesis::from_json`],
/// [`Genesis::load`], [`Genesis::from_file`]), so holding one means every rule holds; its hash is
/// computed once, then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Genesis {
    chain_id: String,
    genesis_time_ms: u64,
    initial_height: u64,
    consensus: ConsensusParams,
    validators: Vec<Validator>,
    accounts: Vec<FundedAccount>,
    total_voting_power: u64,
    total_supply: u64,
    hash: Hash,
}

impl Genesis {
    /// Parses and validates the text of a `genesis.json`.
    pub fn from_json(text: &str) -> Result<Genesis, GenesisError> {
        let len = u64::try_from(text.len()).unwrap_or(u64::MAX);
        if len > MAX_GENESIS_BYTES {
            return Err(GenesisError::TooLarge {
                len,
                max: MAX_GENESIS_BYTES,
            });
        }
        let file: GenesisFile = serde_json::from_str(text).map_err(|error| GenesisError::Json {
            reason: error.to_string(),
        })?;
        Genesis::from_file(file)
    }

    /// Reads, parses and validates a `genesis.json` file.
    pub fn load(path: impl AsRef<Path>) -> Result<Genesis, GenesisError> {
        let path = path.as_ref();
        let read_error = |source| GenesisError::Read {
            path: path.to_path_buf(),
            source,
        };
        let file = File::open(path).map_err(read_error)?;
        // Read at most one byte past the limit, so a huge (or endless) file is never held whole.
        let mut text = String::new();
        file.take(MAX_GENESIS_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(read_error)?;
        Genesis::from_json(&text)
    }

    /// Validates a parsed document.
    pub fn from_file(file: GenesisFile) -> Result<Genesis, GenesisError> {
        check_chain_id("chain_id", &file.chain_id)?;
        let genesis_time_ms =
            time::parse(&file.genesis_time).map_err(|reason| GenesisError::InvalidTime {
                field: "genesis_time".into(),
                text: file.genesis_time.clone(),
                reason,
            })?;
        check_range("initial_height", file.initial_height, 1, MAX_INITIAL_HEIGHT)?;
        let consensus = check_consensus(&file.consensus)?;
        let (validators, total_voting_power) = check_validators(&file.validators)?;
        let (accounts, total_supply) = check_accounts(&file.accounts)?;
        let mut genesis = Genesis {
            chain_id: file.chain_id,
            genesis_time_ms,
            initial_height: file.initial_height,
            consensus,
            validators,
            accounts,
            total_voting_power,
            total_supply,
            hash: Hash::ZERO,
        };
        genesis.hash = canonical::genesis_hash(&genesis);
        Ok(genesis)
    }

    /// The document form, with the genesis time in UTC; validating it gives this genesis back.
    pub fn to_file(&self) -> GenesisFile {
        GenesisFile {
            chain_id: self.chain_id.clone(),
            genesis_time: time::format(self.genesis_time_ms),
            initial_height: self.initial_height,
            consensus: ConsensusParamsFile::from(&self.consensus),
            validators: self
                .validators
                .iter()
                .map(|validator| ValidatorEntry {
                    name: validator.name.clone(),
                    public_key: validator.public_key.to_string(),
                    power: validator.power,
                })
                .collect(),
            accounts: self
                .accounts
                .iter()
                .map(|account| AccountEntry {
                    address: account.address.to_string(),
                    balance: account.balance.to_string(),
                })
                .collect(),
        }
    }

    /// Pretty-printed `genesis.json` text, ending in a newline.
    pub fn to_json(&self) -> String {
        // Serialising plain strings and integers into a String cannot fail.
        let mut text = serde_json::to_string_pretty(&self.to_file()).unwrap_or_default();
        text.push('\n');
        text
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Milliseconds since the Unix epoch.
    pub fn genesis_time_ms(&self) -> u64 {
        self.genesis_time_ms
    }

    /// Height of the first block.
    pub fn initial_height(&self) -> u64 {
        self.initial_height
    }

    pub fn consensus(&self) -> &ConsensusParams {
        &self.consensus
    }

    /// The validators, in the order of the file.
    pub fn validators(&self) -> &[Validator] {
        &self.validators
    }

    /// The funded accounts, in the order of the file.
    pub fn funded_accounts(&self) -> &[FundedAccount] {
        &self.accounts
    }

    /// The initial state, ready for `LedgerStore::commit_genesis`: every account at nonce 0.
    pub fn accounts(&self) -> Vec<(Address, Account)> {
        self.accounts
            .iter()
            .map(|account| {
                (
                    account.address,
                    Account {
                        balance: account.balance,
                        nonce: 0,
                    },
                )
            })
            .collect()
    }

    pub fn total_voting_power(&self) -> u64 {
        self.total_voting_power
    }

    /// Sum of all balances.
    pub fn total_supply(&self) -> u64 {
        self.total_supply
    }

    /// The genesis hash (see [`crate::canonical`]).
    pub fn hash(&self) -> Hash {
        self.hash
    }

    /// The hash of the genesis validator set, for block headers (see [`crate::canonical`]).
    pub fn validator_set_hash(&self) -> Hash {
        let pairs: Vec<(PublicKey, u64)> = self
            .validators
            .iter()
            .map(|validator| (validator.public_key, validator.power))
            .collect();
        canonical::validator_set_hash(&pairs)
    }
}

impl From<&ConsensusParams> for ConsensusParamsFile {
    fn from(params: &ConsensusParams) -> Self {
        let timeout = |timeout: &Timeout| TimeoutFile {
            base_ms: timeout.base_ms,
            per_round_ms: timeout.per_round_ms,
        };
        ConsensusParamsFile {
            timeout_propose: timeout(&params.timeout_propose),
            timeout_prevote: timeout(&params.timeout_prevote),
            timeout_precommit: timeout(&params.timeout_precommit),
            timeout_commit_ms: params.timeout_commit_ms,
            max_block_bytes: params.max_block_bytes,
            max_block_txs: params.max_block_txs,
        }
    }
}

fn check_chain_id(field: &str, chain_id: &str) -> Result<(), GenesisError> {
    let invalid = |reason| GenesisError::InvalidChainId {
        field: field.into(),
        chain_id: chain_id.into(),
        reason,
    };
    if chain_id.is_empty() {
        return Err(invalid("empty"));
    }
    if chain_id.chars().count() > MAX_CHAIN_ID_LEN {
        return Err(invalid("longer than 64 characters"));
    }
    if !chain_id
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'))
    {
        return Err(invalid(
            "only letters, digits, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

fn check_range(field: &str, value: u64, min: u64, max: u64) -> Result<u64, GenesisError> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(GenesisError::OutOfRange {
            field: field.into(),
            value,
            min,
            max,
        })
    }
}

fn check_consensus(params: &ConsensusParamsFile) -> Result<ConsensusParams, GenesisError> {
    let timeout = |name: &str, timeout: &TimeoutFile| -> Result<Timeout, GenesisError> {
        Ok(Timeout {
            base_ms: check_range(
                &format!("consensus.{name}.base_ms"),
                timeout.base_ms,
                1,
                MAX_TIMEOUT_MS,
            )?,
            per_round_ms: check_range(
                &format!("consensus.{name}.per_round_ms"),
                timeout.per_round_ms,
                0,
                MAX_TIMEOUT_MS,
            )?,
        })
    };
    let ledger_max_block_bytes = u64::try_from(MAX_BLOCK_BYTES).unwrap_or(u64::MAX);
    Ok(ConsensusParams {
        timeout_propose: timeout("timeout_propose", &params.timeout_propose)?,
        timeout_prevote: timeout("timeout_prevote", &params.timeout_prevote)?,
        timeout_precommit: timeout("timeout_precommit", &params.timeout_precommit)?,
        timeout_commit_ms: check_range(
            "consensus.timeout_commit_ms",
            params.timeout_commit_ms,
            0,
            MAX_TIMEOUT_MS,
        )?,
        max_block_bytes: check_range(
            "consensus.max_block_bytes",
            params.max_block_bytes,
            MIN_BLOCK_BYTES,
            ledger_max_block_bytes,
        )?,
        max_block_txs: check_range(
            "consensus.max_block_txs",
            params.max_block_txs,
            1,
            MAX_BLOCK_TXS,
        )?,
    })
}

fn check_validators(entries: &[ValidatorEntry]) -> Result<(Vec<Validator>, u64), GenesisError> {
    if entries.is_empty() {
        return Err(GenesisError::NoValidators {
            field: "validators".into(),
        });
    }
    if entries.len() > MAX_VALIDATORS {
        return Err(GenesisError::TooMany {
            field: "validators".into(),
            count: entries.len(),
            max: MAX_VALIDATORS,
        });
    }
    let mut by_key: HashMap<PublicKey, usize> = HashMap::with_capacity(entries.len());
    let mut by_name: HashMap<&str, usize> = HashMap::with_capacity(entries.len());
    let mut validators = Vec::with_capacity(entries.len());
    let mut total: u64 = 0;
    for (index, entry) in entries.iter().enumerate() {
        let field = |name: &str| format!("validators[{index}].{name}");

        check_name(&field("name"), &entry.name)?;
        if let Some(first) = by_name.insert(&entry.name, index) {
            return Err(GenesisError::DuplicateName {
                field: field("name"),
                first,
            });
        }

        let public_key = parse_public_key(&field("public_key"), &entry.public_key)?;
        if let Some(first) = by_key.insert(public_key, index) {
            return Err(GenesisError::DuplicateValidator {
                field: field("public_key"),
                first,
            });
        }

        if entry.power == 0 {
            return Err(GenesisError::ZeroVotingPower {
                field: field("power"),
            });
        }
        total = total
            .checked_add(entry.power)
            .filter(|total| *total <= MAX_TOTAL_VOTING_POWER)
            .ok_or_else(|| GenesisError::TotalVotingPowerTooLarge {
                field: field("power"),
                max: MAX_TOTAL_VOTING_POWER,
            })?;

        validators.push(Validator {
            name: entry.name.clone(),
            public_key,
            power: entry.power,
        });
    }
    Ok((validators, total))
}

fn check_name(field: &str, name: &str) -> Result<(), GenesisError> {
    let invalid = |reason| GenesisError::InvalidName {
        field: field.into(),
        name: name.into(),
        reason,
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name.chars().count() > MAX_NAME_LEN {
        return Err(invalid("longer than 64 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid("contains a control character"));
    }
    Ok(())
}

/// Parses `0x` and 64 hex digits, and refuses keys of small order.
///
/// Signatures are checked under ZIP-215 rules (see the ledger's `crypto` module), which accept
/// small-order public keys; for such a key the signature `R = identity, S = 0` verifies against
/// every message, so anyone could vote with that validator's power. A genesis must not hand
/// voting power to a key anyone can sign for. The probe below is exactly that forgery: it
/// verifies iff `[8]A` is the identity (up to a hash landing on a multiple of the group order).
fn parse_public_key(field: &str, text: &str) -> Result<PublicKey, GenesisError> {
    let invalid = |reason| GenesisError::InvalidPublicKey {
        field: field.into(),
        text: text.into(),
        reason,
    };
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| invalid("must start with 0x"))?;
    if digits.len() != 64 {
        return Err(invalid("must be 64 hex digits (32 bytes)"));
    }
    let public_key = PublicKey::from_hex(digits).ok_or_else(|| invalid("not hex"))?;
    let mut forgery = [0u8; 64];
    forgery[0] = 1; // the identity point's encoding, then S = 0
    if public_key.verify(b"cairn/genesis/small-order-probe", &Signature(forgery)) {
        return Err(invalid("a small-order point: anyone could sign for it"));
    }
    Ok(public_key)
}

fn check_accounts(entries: &[AccountEntry]) -> Result<(Vec<FundedAccount>, u64), GenesisError> {
    if entries.len() > MAX_ACCOUNTS {
        return Err(GenesisError::TooMany {
            field: "accounts".into(),
            count: entries.len(),
            max: MAX_ACCOUNTS,
        });
    }
    let mut seen: HashMap<Address, usize> = HashMap::with_capacity(entries.len());
    let mut accounts = Vec::with_capacity(entries.len());
    let mut supply: u64 = 0;
    for (index, entry) in entries.iter().enumerate() {
        let field = |name: &str| format!("accounts[{index}].{name}");

        let address: Address =
            entry
                .address
                .parse()
                .map_err(|error: LedgerError| GenesisError::InvalidAddress {
                    field: field("address"),
                    text: entry.address.clone(),
                    reason: match error {
                        LedgerError::InvalidAddress { reason, .. } => reason,
                        other => other.to_string(),
                    },
                })?;
        if let Some(first) = seen.insert(address, index) {
            return Err(GenesisError::DuplicateAccount {
                field: field("address"),
                first,
            });
        }

        let balance = parse_balance(&field("balance"), &entry.balance)?;
        supply = supply
            .checked_add(balance)
            .ok_or_else(|| GenesisError::SupplyOverflow {
                field: field("balance"),
            })?;

        accounts.push(FundedAccount { address, balance });
    }
    Ok((accounts, supply))
}

fn parse_balance(field: &str, text: &str) -> Result<u64, GenesisError> {
    let invalid = |reason| GenesisError::InvalidBalance {
        field: field.into(),
        text: text.into(),
        reason,
    };
    if text.is_empty() {
        return Err(invalid("empty"));
    }
    if !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(invalid("only the digits 0-9 are allowed"));
    }
    if text.len() > 1 && text.starts_with('0') {
        return Err(invalid("leading zero"));
    }
    text.parse::<u64>()
        .map_err(|_| invalid("does not fit in a u64"))
}
