//! Checking a node's account answer against what the wallet trusts: the genesis, not the node.
//!
//! `state_getProof` answers with an account, the Merkle proof tying it to a state root, the
//! header carrying that state root, and the commit certificate of that header. The answer is
//! accepted only if every link holds:
//!
//! ```text
//!  account ──proof──▶ stateRoot ◀── header.stateRoot
//!                                   header ──hash──▶ commit.blockHash
//!                                   header.chainId == genesis chain id
//!                                   header.validatorSetHash == genesis validator set hash
//!                                   commit ──precommits, > 2/3 of the power──▶ genesis validators
//! ```
//!
//! The validator set never changes after genesis (there are no staking transactions yet), so the
//! genesis set is the set of every height; when it can change, this check must follow the chain
//! of validator-set changes from genesis instead.
//!
//! What verification cannot show is freshness: a node may answer truthfully about an old height.
//! The height and block time are reported so the user can judge.

use std::path::Path;

use cairn_consensus::{CommitCertificate, ValidatorSet};
use cairn_genesis::Genesis;
use cairn_ledger::{Account, Address, Hash};
use cairn_rpc::types::RpcAccountProof;

use super::error::WalletError;
use crate::{
    context::{genesis_validator_set, CairnContext},
    wire::WireCertificate,
};

/// The validator set the wallet trusts, from a genesis file.
#[derive(Clone, Debug)]
pub struct TrustedValidators {
    chain_id: String,
    validator_set_hash: Hash,
    validators: ValidatorSet<CairnContext>,
}

impl TrustedValidators {
    pub fn from_genesis(genesis: &Genesis) -> Result<Self, WalletError> {
        let validators =
            genesis_validator_set(genesis).map_err(|error| WalletError::Unverified {
                reason: format!("the genesis validator set: {error}"),
            })?;
        Ok(TrustedValidators {
            chain_id: genesis.chain_id().to_string(),
            validator_set_hash: genesis.validator_set_hash(),
            validators,
        })
    }

    /// Reads and checks a genesis.json.
    pub fn load(path: &Path) -> Result<Self, WalletError> {
        let genesis = Genesis::load(path).map_err(|error| WalletError::Genesis {
            path: path.into(),
            reason: error.to_string(),
        })?;
        Self::from_genesis(&genesis).map_err(|error| WalletError::Genesis {
            path: path.into(),
            reason: error.to_string(),
        })
    }

    pub fn chain_id(&self) -> &str {
        &self.chain_id
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }
}

/// An account state the wallet has verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedAccount {
    pub address: Address,
    /// The height whose state this is.
    pub height: u64,
    pub block_hash: Hash,
    pub block_time_ms: u64,
    /// `None`: proven not to exist (it reads as balance 0, nonce 0).
    pub account: Option<Account>,
    /// Validators in the trusted set.
    pub validators: usize,
    /// Validators whose precommits the certificate carries.
    pub signers: usize,
}

impl VerifiedAccount {
    /// The account, or the empty one when it does not exist.
    pub fn state(&self) -> Account {
        self.account.unwrap_or_default()
    }
}

/// Checks a `state_getProof` answer for `address` against `trusted` (see the module
/// documentation); any failed link refuses the whole answer.
pub fn verify_account_answer(
    answer: &RpcAccountProof,
    address: &Address,
    trusted: &TrustedValidators,
) -> Result<VerifiedAccount, WalletError> {
    let refuse = |reason: String| WalletError::Unverified { reason };
    if answer.address != *address {
        return Err(refuse(format!(
            "the answer is about {}, not {address}",
            answer.address
        )));
    }
    // The proof, the header's hash and height and state root, and that the commit names the
    // header.
    let account = answer.verify().map_err(|error| refuse(error.to_string()))?;
    let (Some(header), Some(commit)) = (&answer.header, &answer.commit) else {
        return Err(refuse(format!(
            "height {} has no header and commit to check (nothing is committed after genesis \
             yet); retry after the first block",
            answer.height
        )));
    };
    if header.chain_id != trusted.chain_id {
        return Err(refuse(format!(
            "the header is for chain {:?}, the genesis for {:?}",
            header.chain_id, trusted.chain_id
        )));
    }
    if header.validator_set_hash != trusted.validator_set_hash {
        return Err(refuse(format!(
            "the header names validator set {}, the genesis has {}",
            header.validator_set_hash, trusted.validator_set_hash
        )));
    }
    let wire = WireCertificate {
        height: commit.height,
        round: commit.round,
        value: commit.block_hash.0,
        precommits: commit
            .precommits
            .iter()
            .map(|precommit| (precommit.validator, precommit.signature))
            .collect(),
    };
    CommitCertificate::<CairnContext>::from(&wire)
        .verify(&trusted.chain_id, &trusted.validators)
        .map_err(|error| refuse(format!("commit certificate: {error}")))?;
    Ok(VerifiedAccount {
        address: *address,
        height: answer.height,
        block_hash: header.hash,
        block_time_ms: header.time_ms,
        account,
        validators: trusted.len(),
        signers: commit.precommits.len(),
    })
}
