//! The consensus core instantiated for Cairn: values are block hashes, keys and signatures are the
//! ledger's ed25519 types, and the validator key signs through [`ValidatorSigner`].

use cairn_consensus::{Context, Signer, Validator, ValidatorSet};
use cairn_genesis::Genesis;
use cairn_ledger::{Hash, PublicKey, SecretKey, Signature};

use crate::error::NodeError;

/// The consensus core's context for Cairn.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct CairnContext;

/// A block hash, as the consensus core knows a value.
pub type BlockId = [u8; 32];

impl Context for CairnContext {
    type ValueId = BlockId;
    type PublicKey = PublicKey;
    type Signature = Signature;

    fn verify(public_key: &PublicKey, message: &[u8], signature: &Signature) -> bool {
        public_key.verify(message, signature)
    }
}

/// The block hash a value id stands for.
pub fn block_hash(id: &BlockId) -> Hash {
    Hash(*id)
}

/// Signs consensus messages with the validator key (never the libp2p identity key).
#[derive(Clone)]
pub struct ValidatorSigner {
    key: SecretKey,
    public_key: PublicKey,
}

impl std::fmt::Debug for ValidatorSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatorSigner")
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

impl ValidatorSigner {
    pub fn new(key: SecretKey) -> Self {
        let public_key = key.public_key();
        ValidatorSigner { key, public_key }
    }
}

impl Signer<CairnContext> for ValidatorSigner {
    fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    fn sign(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }
}

/// The genesis validator set (every proposer priority at zero): the set deciding the first block.
pub fn genesis_validator_set(genesis: &Genesis) -> Result<ValidatorSet<CairnContext>, NodeError> {
    let validators = genesis
        .validators()
        .iter()
        .map(|v| Validator {
            public_key: v.public_key,
            voting_power: v.power,
        })
        .collect();
    ValidatorSet::new(validators).map_err(|error| NodeError::Genesis(error.to_string()))
}

/// The validator set deciding `height`: the genesis set with its proposer priorities advanced once
/// per height since the first. The set never changes (there are no staking transactions yet), only
/// the priorities do.
pub fn validator_set_at(
    genesis_set: &ValidatorSet<CairnContext>,
    height: u64,
) -> ValidatorSet<CairnContext> {
    let mut set = genesis_set.clone();
    for _ in 1..height {
        set = set.next_height();
    }
    set
}
