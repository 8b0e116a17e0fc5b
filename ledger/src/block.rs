//! Blocks, their headers, and the receipts their transactions leave behind.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::{
    address::Address,
    encoding,
    error::LedgerError,
    hash::{merkle_root, Hash},
    tx::SignedTransaction,
};

/// Largest encoded block a node accepts: room for about 20,000 transfers.
pub const MAX_BLOCK_BYTES: usize = 8 * 1024 * 1024;

/// Most pieces of evidence one block carries.
pub const MAX_BLOCK_EVIDENCE: usize = 16;

/// Largest piece of evidence: two signed consensus messages fit in well under this.
pub const MAX_EVIDENCE_BYTES: usize = 1024;

/// What the chain commits to for each block; its hash is the block's identity.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct BlockHeader {
    pub chain_id: String,
    /// 1 for the first block after genesis.
    pub height: u64,
    /// Proposer's clock, milliseconds since the Unix epoch.
    pub time_ms: u64,
    /// Hash of the previous block's header; the genesis hash for the first block.
    pub prev_hash: Hash,
    /// Merkle root (see [`merkle_root`]) over the hashes of the block's transactions in order.
    pub tx_root: Hash,
    /// Merkle root over the SHA-256 hashes of the block's evidence, in order.
    pub evidence_root: Hash,
    /// Root of the state tree after this block's transactions.
    pub state_root: Hash,
    /// Hash of the validator set that decides this block.
    pub validator_set_hash: Hash,
    /// Receives the fees.
    pub proposer: Address,
}

impl BlockHeader {
    pub fn hash(&self) -> Hash {
        Hash::digest(&encoding::encode(self))
    }
}

/// A header and the transactions and evidence it commits to.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Block {
    pub header: BlockHeader,
    pub transactions: Vec<SignedTransaction>,
    /// Proofs of validator misbehaviour, opaque to the ledger: the consensus layer defines and
    /// checks their contents; the ledger bounds them, commits to them and refuses repeats.
    pub evidence: Vec<Vec<u8>>,
}

impl Block {
    pub fn hash(&self) -> Hash {
        self.header.hash()
    }

    pub fn height(&self) -> u64 {
        self.header.height
    }

    /// The transactions root a header must carry for these transactions.
    pub fn compute_tx_root(transactions: &[SignedTransaction]) -> Hash {
        let hashes: Vec<Hash> = transactions.iter().map(SignedTransaction::hash).collect();
        merkle_root(&hashes)
    }

    /// The evidence root a header must carry for this evidence.
    pub fn compute_evidence_root(evidence: &[Vec<u8>]) -> Hash {
        let hashes: Vec<Hash> = evidence.iter().map(|bytes| Hash::digest(bytes)).collect();
        merkle_root(&hashes)
    }

    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// Decodes a block from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<Block, LedgerError> {
        if bytes.len() > MAX_BLOCK_BYTES {
            return Err(LedgerError::Decode {
                what: "block",
                reason: format!("{} bytes, at most {MAX_BLOCK_BYTES}", bytes.len()),
            });
        }
        encoding::decode("block", bytes)
    }
}

/// What executing one transaction did. A block with any invalid transaction is invalid as a
/// whole, so every receipt of a committed block records a success.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Receipt {
    pub tx_hash: Hash,
    pub height: u64,
    /// Position of the transaction in its block.
    pub index: u32,
    pub sender: Address,
    /// The nonce the transaction consumed.
    pub nonce: u64,
    /// Fee paid to the proposer.
    pub fee_paid: u64,
}

impl Receipt {
    /// The receipt of `signed`, the transaction at `index` of the block at `height`, whose
    /// hash and sender the caller has already derived. The executor and the store's rebuild of
    /// the transaction index both build receipts here, so the two cannot drift apart.
    pub fn of(
        signed: &SignedTransaction,
        tx_hash: Hash,
        sender: Address,
        height: u64,
        index: usize,
    ) -> Result<Receipt, LedgerError> {
        Ok(Receipt {
            tx_hash,
            height,
            index: u32::try_from(index).map_err(|_| LedgerError::InvalidBlock {
                height,
                reason: "too many transactions".into(),
            })?,
            sender,
            nonce: signed.tx.nonce,
            fee_paid: signed.tx.fee,
        })
    }
}
