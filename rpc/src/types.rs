//! The API's JSON shapes, with conversions from the ledger's and the backend's types, and back
//! where a client needs the ledger value (to check a hash, a proof or a certificate).
//!
//! Field names are camelCase; the value formats are those of [`crate::format`]. These shapes are
//! the API's contract: add fields, never rename or remove one.

use cairn_ledger::{
    encoding, store::verify_account_proof, tree::ProofTerminal, Account, Address, Block,
    BlockHeader, Hash, Payload, Proof, PublicKey, Receipt, Signature, SignedTransaction,
    Transaction,
};
use serde::{Deserialize, Serialize};

use crate::{
    backend::{
        CommitInfo, CommitSignature, MempoolInfo, NodeInfo, TxStatus, ValidatorInfo,
        ValidatorSetInfo,
    },
    error::RpcError,
    format::{address_text, amount, bytes_hex, fixed_hex, opt_address_text, opt_fixed_hex},
};

/// `node_status`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcNodeStatus {
    pub chain_id: String,
    #[serde(with = "fixed_hex")]
    pub genesis_hash: Hash,
    pub node_id: String,
    /// 0 while only genesis is committed.
    pub latest_height: u64,
    /// The genesis hash at height 0.
    #[serde(with = "fixed_hex")]
    pub latest_hash: Hash,
    pub latest_time_ms: u64,
    pub syncing: bool,
    pub peers: u64,
    #[serde(with = "opt_address_text")]
    pub validator_address: Option<Address>,
    pub version: String,
}

impl From<NodeInfo> for RpcNodeStatus {
    fn from(info: NodeInfo) -> Self {
        RpcNodeStatus {
            chain_id: info.chain_id,
            genesis_hash: info.genesis_hash,
            node_id: info.node_id,
            latest_height: info.latest_height,
            latest_hash: info.latest_hash,
            latest_time_ms: info.latest_time_ms,
            syncing: info.syncing,
            peers: count(info.peers),
            validator_address: info.validator_address,
            version: info.version,
        }
    }
}

/// A block header with its hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcHeader {
    /// The header's hash: the block's identity.
    #[serde(with = "fixed_hex")]
    pub hash: Hash,
    pub chain_id: String,
    pub height: u64,
    pub time_ms: u64,
    #[serde(with = "fixed_hex")]
    pub prev_hash: Hash,
    #[serde(with = "fixed_hex")]
    pub tx_root: Hash,
    #[serde(with = "fixed_hex")]
    pub evidence_root: Hash,
    #[serde(with = "fixed_hex")]
    pub state_root: Hash,
    #[serde(with = "fixed_hex")]
    pub validator_set_hash: Hash,
    #[serde(with = "address_text")]
    pub proposer: Address,
}

impl From<&BlockHeader> for RpcHeader {
    fn from(header: &BlockHeader) -> Self {
        RpcHeader {
            hash: header.hash(),
            chain_id: header.chain_id.clone(),
            height: header.height,
            time_ms: header.time_ms,
            prev_hash: header.prev_hash,
            tx_root: header.tx_root,
            evidence_root: header.evidence_root,
            state_root: header.state_root,
            validator_set_hash: header.validator_set_hash,
            proposer: header.proposer,
        }
    }
}

impl RpcHeader {
    /// The ledger header, after checking that it hashes to `hash`.
    pub fn to_header(&self) -> Result<BlockHeader, RpcError> {
        let header = BlockHeader {
            chain_id: self.chain_id.clone(),
            height: self.height,
            time_ms: self.time_ms,
            prev_hash: self.prev_hash,
            tx_root: self.tx_root,
            evidence_root: self.evidence_root,
            state_root: self.state_root,
            validator_set_hash: self.validator_set_hash,
            proposer: self.proposer,
        };
        check_hash("header", self.hash, header.hash())?;
        Ok(header)
    }
}

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RpcPayload {
    #[serde(rename_all = "camelCase")]
    Transfer {
        #[serde(with = "address_text")]
        to: Address,
        #[serde(with = "amount")]
        amount: u64,
    },
}

/// A signed transaction, decoded, with its hash and its sender's address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcTransaction {
    /// SHA-256 of the canonical encoding, signature included.
    #[serde(with = "fixed_hex")]
    pub hash: Hash,
    pub chain_id: String,
    #[serde(with = "fixed_hex")]
    pub signer: PublicKey,
    /// The signer's address.
    #[serde(with = "address_text")]
    pub sender: Address,
    pub nonce: u64,
    #[serde(with = "amount")]
    pub fee: u64,
    pub payload: RpcPayload,
    #[serde(with = "fixed_hex")]
    pub signature: Signature,
}

impl From<&SignedTransaction> for RpcTransaction {
    fn from(signed: &SignedTransaction) -> Self {
        let tx = &signed.tx;
        RpcTransaction {
            hash: signed.hash(),
            chain_id: tx.chain_id.clone(),
            signer: tx.signer,
            sender: tx.sender(),
            nonce: tx.nonce,
            fee: tx.fee,
            payload: match &tx.payload {
                Payload::Transfer { to, amount } => RpcPayload::Transfer {
                    to: *to,
                    amount: *amount,
                },
            },
            signature: signed.signature,
        }
    }
}

impl RpcTransaction {
    /// The ledger transaction, after checking that it hashes to `hash`.
    pub fn to_signed_transaction(&self) -> Result<SignedTransaction, RpcError> {
        let payload = match &self.payload {
            RpcPayload::Transfer { to, amount } => Payload::Transfer {
                to: *to,
                amount: *amount,
            },
        };
        let signed = SignedTransaction {
            tx: Transaction {
                chain_id: self.chain_id.clone(),
                signer: self.signer,
                nonce: self.nonce,
                fee: self.fee,
                payload,
            },
            signature: self.signature,
        };
        check_hash("transaction", self.hash, signed.hash())?;
        Ok(signed)
    }
}

/// A block: its header (with the hash) and its transactions, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcBlock {
    pub header: RpcHeader,
    pub transactions: Vec<RpcTransaction>,
    /// Equivocation evidence the block carries, each as the 0x-hex of its canonical bytes.
    pub evidence: Vec<RpcEvidence>,
}

/// One piece of evidence, as the 0x-hex of its canonical bytes (see docs/protocol.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RpcEvidence(#[serde(with = "bytes_hex")] pub Vec<u8>);

impl From<&Block> for RpcBlock {
    fn from(block: &Block) -> Self {
        RpcBlock {
            header: RpcHeader::from(&block.header),
            transactions: block
                .transactions
                .iter()
                .map(RpcTransaction::from)
                .collect(),
            evidence: block.evidence.iter().cloned().map(RpcEvidence).collect(),
        }
    }
}

impl RpcBlock {
    /// The ledger block, after checking every hash and that the header commits to the
    /// transactions.
    pub fn to_block(&self) -> Result<Block, RpcError> {
        let header = self.header.to_header()?;
        let transactions = self
            .transactions
            .iter()
            .map(RpcTransaction::to_signed_transaction)
            .collect::<Result<Vec<_>, _>>()?;
        check_hash(
            "block transactions root",
            header.tx_root,
            Block::compute_tx_root(&transactions),
        )?;
        let evidence: Vec<Vec<u8>> = self.evidence.iter().map(|e| e.0.clone()).collect();
        check_hash(
            "block evidence root",
            header.evidence_root,
            Block::compute_evidence_root(&evidence),
        )?;
        Ok(Block {
            header,
            transactions,
            evidence,
        })
    }
}

/// What executing a committed transaction did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcReceipt {
    #[serde(with = "fixed_hex")]
    pub tx_hash: Hash,
    pub height: u64,
    /// Position of the transaction in its block.
    pub index: u32,
    #[serde(with = "address_text")]
    pub sender: Address,
    /// The nonce the transaction consumed.
    pub nonce: u64,
    #[serde(with = "amount")]
    pub fee_paid: u64,
}

impl From<&Receipt> for RpcReceipt {
    fn from(receipt: &Receipt) -> Self {
        RpcReceipt {
            tx_hash: receipt.tx_hash,
            height: receipt.height,
            index: receipt.index,
            sender: receipt.sender,
            nonce: receipt.nonce,
            fee_paid: receipt.fee_paid,
        }
    }
}

impl From<&RpcReceipt> for Receipt {
    fn from(receipt: &RpcReceipt) -> Self {
        Receipt {
            tx_hash: receipt.tx_hash,
            height: receipt.height,
            index: receipt.index,
            sender: receipt.sender,
            nonce: receipt.nonce,
            fee_paid: receipt.fee_paid,
        }
    }
}

/// An account: its balance and the nonce its next transaction must carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcAccount {
    #[serde(with = "amount")]
    pub balance: u64,
    pub nonce: u64,
}

impl From<Account> for RpcAccount {
    fn from(account: Account) -> Self {
        RpcAccount {
            balance: account.balance,
            nonce: account.nonce,
        }
    }
}

impl From<RpcAccount> for Account {
    fn from(account: RpcAccount) -> Self {
        Account {
            balance: account.balance,
            nonce: account.nonce,
        }
    }
}

/// One precommit of a commit certificate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcCommitSignature {
    #[serde(with = "fixed_hex")]
    pub validator: PublicKey,
    #[serde(with = "fixed_hex")]
    pub signature: Signature,
}

/// The commit certificate of a height: precommits from more than 2/3 of the voting power for
/// `blockHash`. Each signature is over `cairn_consensus::encoding::vote_sign_bytes` of a precommit
/// for (`height`, `round`, `blockHash`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcCommit {
    pub height: u64,
    pub round: u32,
    #[serde(with = "fixed_hex")]
    pub block_hash: Hash,
    pub precommits: Vec<RpcCommitSignature>,
}

impl From<&CommitInfo> for RpcCommit {
    fn from(commit: &CommitInfo) -> Self {
        RpcCommit {
            height: commit.height,
            round: commit.round,
            block_hash: commit.block_hash,
            precommits: commit
                .precommits
                .iter()
                .map(|precommit| RpcCommitSignature {
                    validator: precommit.validator,
                    signature: precommit.signature,
                })
                .collect(),
        }
    }
}

impl From<&RpcCommit> for CommitInfo {
    fn from(commit: &RpcCommit) -> Self {
        CommitInfo {
            height: commit.height,
            round: commit.round,
            block_hash: commit.block_hash,
            precommits: commit
                .precommits
                .iter()
                .map(|precommit| CommitSignature {
                    validator: precommit.validator,
                    signature: precommit.signature,
                })
                .collect(),
        }
    }
}

/// A validator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcValidator {
    pub name: String,
    #[serde(with = "fixed_hex")]
    pub public_key: PublicKey,
    #[serde(with = "address_text")]
    pub address: Address,
    #[serde(with = "amount")]
    pub voting_power: u64,
}

/// The validator set that decides `height`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcValidatorSet {
    pub height: u64,
    /// What blocks of this height carry in `validatorSetHash`.
    #[serde(with = "fixed_hex")]
    pub hash: Hash,
    pub validators: Vec<RpcValidator>,
}

impl From<&ValidatorSetInfo> for RpcValidatorSet {
    fn from(set: &ValidatorSetInfo) -> Self {
        RpcValidatorSet {
            height: set.height,
            hash: set.hash,
            validators: set
                .validators
                .iter()
                .map(|validator| RpcValidator {
                    name: validator.name.clone(),
                    public_key: validator.public_key,
                    address: validator.address,
                    voting_power: validator.voting_power,
                })
                .collect(),
        }
    }
}

impl From<&RpcValidatorSet> for ValidatorSetInfo {
    fn from(set: &RpcValidatorSet) -> Self {
        ValidatorSetInfo {
            height: set.height,
            hash: set.hash,
            validators: set
                .validators
                .iter()
                .map(|validator| ValidatorInfo {
                    name: validator.name.clone(),
                    public_key: validator.public_key,
                    address: validator.address,
                    voting_power: validator.voting_power,
                })
                .collect(),
        }
    }
}

/// Where a Merkle proof's path ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RpcProofTerminal {
    /// An empty subtree: the account is absent.
    Empty,
    /// A leaf: the account's own, or (absence) another key's holding the whole path.
    Leaf,
}

/// A Merkle proof of the state tree: `encoded` is all a verifier needs; the other fields are for
/// people reading it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcMerkleProof {
    /// The canonical (borsh) encoding of `cairn_ledger::Proof`, as 0x-hex.
    #[serde(with = "bytes_hex")]
    pub encoded: Vec<u8>,
    /// Sibling hashes from the root down.
    pub depth: u32,
    pub terminal: RpcProofTerminal,
    /// The key of the terminal leaf, if it is one.
    #[serde(with = "opt_fixed_hex")]
    pub leaf_key: Option<Hash>,
}

impl From<&Proof> for RpcMerkleProof {
    fn from(proof: &Proof) -> Self {
        let (terminal, leaf_key) = match &proof.terminal {
            ProofTerminal::Empty => (RpcProofTerminal::Empty, None),
            ProofTerminal::Leaf(leaf) => (RpcProofTerminal::Leaf, Some(leaf.key)),
        };
        RpcMerkleProof {
            encoded: encoding::encode(proof),
            depth: u32::try_from(proof.siblings.len()).unwrap_or(u32::MAX),
            terminal,
            leaf_key,
        }
    }
}

impl RpcMerkleProof {
    /// The ledger proof, decoded from `encoded`.
    pub fn decode(&self) -> Result<Proof, RpcError> {
        encoding::decode::<Proof>("proof", &self.encoded).map_err(|error| RpcError::Decode {
            what: "proof",
            reason: error.to_string(),
        })
    }
}

/// `state_getProof`: an account (or its absence) at a height, the proof tying it to that height's
/// state root, and the header and commit certificate tying the state root to the chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcAccountProof {
    #[serde(with = "address_text")]
    pub address: Address,
    /// The state after this height's block; 0 is genesis.
    pub height: u64,
    #[serde(with = "fixed_hex")]
    pub state_root: Hash,
    /// The address's key in the state tree: SHA-256 of its 20 bytes.
    #[serde(with = "fixed_hex")]
    pub state_key: Hash,
    /// `null` when the proof shows the account does not exist.
    pub account: Option<RpcAccount>,
    pub proof: RpcMerkleProof,
    /// The header at `height`, whose `stateRoot` is `stateRoot`; `null` at genesis.
    pub header: Option<RpcHeader>,
    /// The commit certificate of `header`; `null` at genesis.
    pub commit: Option<RpcCommit>,
}

impl RpcAccountProof {
    /// Checks everything that needs no validator set, and returns the proven account (`None`:
    /// proven absent):
    ///
    /// - the proof leads from the account (or its absence) to `stateRoot`, and shows what
    ///   `account` says;
    /// - the header hashes to its `hash`, is at `height` and carries `stateRoot`;
    /// - the commit certifies that header's hash at that height.
    ///
    /// What remains for the caller: that the commit's precommits verify and carry more than 2/3 of
    /// the voting power of the validator set deciding `height` (the set with hash
    /// `header.validatorSetHash`), and that `stateKey` is what it trusts for `address` (checked
    /// here too).
    pub fn verify(&self) -> Result<Option<Account>, RpcError> {
        let mismatch = |reason: String| RpcError::Decode {
            what: "account proof",
            reason,
        };
        if self.state_key != self.address.state_key() {
            return Err(mismatch("stateKey is not the address's key".into()));
        }
        let proof = self.proof.decode()?;
        let proven = verify_account_proof(&self.state_root, &self.address, &proof)
            .map_err(|error| mismatch(error.to_string()))?;
        if proven.map(RpcAccount::from) != self.account {
            return Err(mismatch("the proof shows another account".into()));
        }
        match (&self.header, &self.commit) {
            (None, None) if self.height == 0 => {}
            (Some(header), Some(commit)) => {
                let ledger_header = header.to_header()?;
                if ledger_header.height != self.height
                    || ledger_header.state_root != self.state_root
                {
                    return Err(mismatch(
                        "the header is not at this height with this state root".into(),
                    ));
                }
                if commit.height != self.height || commit.block_hash != header.hash {
                    return Err(mismatch("the commit does not certify the header".into()));
                }
            }
            _ => {
                return Err(mismatch(
                    "a header and its commit are required above genesis".into(),
                ))
            }
        }
        Ok(proven)
    }
}

/// `tx_get`: where a transaction is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "camelCase")]
pub enum RpcTxStatus {
    /// In the node's mempool.
    Pending,
    /// In a committed block; the receipt's fields sit beside `status`.
    Committed(RpcReceipt),
    /// Neither pooled nor committed, as far as this node knows.
    Unknown,
}

impl From<&TxStatus> for RpcTxStatus {
    fn from(status: &TxStatus) -> Self {
        match status {
            TxStatus::Pending => RpcTxStatus::Pending,
            TxStatus::Committed(receipt) => RpcTxStatus::Committed(RpcReceipt::from(receipt)),
            TxStatus::Unknown => RpcTxStatus::Unknown,
        }
    }
}

/// `mempool_status`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcMempoolStatus {
    pub count: u64,
    pub bytes: u64,
    pub max_count: u64,
    pub max_bytes: u64,
}

impl From<MempoolInfo> for RpcMempoolStatus {
    fn from(info: MempoolInfo) -> Self {
        RpcMempoolStatus {
            count: count(info.count),
            bytes: count(info.bytes),
            max_count: count(info.max_count),
            max_bytes: count(info.max_bytes),
        }
    }
}

/// A JSON-RPC error object inside a result (`tx_submitBatch`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RpcErrorObject {
    pub code: i32,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<serde_json::Value>,
}

impl From<RpcError> for RpcErrorObject {
    fn from(error: RpcError) -> Self {
        let object = jsonrpsee::types::ErrorObjectOwned::from(error);
        RpcErrorObject {
            code: object.code(),
            message: object.message().to_owned(),
            data: object
                .data()
                .and_then(|raw| serde_json::from_str(raw.get()).ok()),
        }
    }
}

/// One transaction's outcome in `tx_submitBatch`: `{"hash": …}` or `{"error": {…}}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RpcSubmitResult {
    Accepted {
        #[serde(with = "fixed_hex")]
        hash: Hash,
    },
    Rejected {
        error: RpcErrorObject,
    },
}

fn count(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

fn check_hash(what: &'static str, claimed: Hash, computed: Hash) -> Result<(), RpcError> {
    if claimed == computed {
        Ok(())
    } else {
        Err(RpcError::Decode {
            what,
            reason: format!("claims hash {claimed} but hashes to {computed}"),
        })
    }
}
