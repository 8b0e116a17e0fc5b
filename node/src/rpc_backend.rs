//! The node's answers to the JSON-RPC server: [`cairn_rpc::backend::Backend`] over the store, the
//! mempool and the network.

use std::sync::Arc;

use cairn_ledger::{error::TxRejection, store::AccountProof, Account, Address, Block, Hash};
use cairn_rpc::backend::{
    Backend, BackendError, CommitInfo, CommitSignature, CommittedBlock, MempoolInfo, NodeInfo,
    RejectionKind, SubmitRejection, TxStatus, ValidatorInfo, ValidatorSetInfo,
};
use tokio::sync::broadcast;

use crate::{
    mempool::MempoolError,
    shared::Shared,
    wire::{self, WireCertificate},
};

/// The node as the RPC server sees it.
#[derive(Debug, Clone)]
pub struct NodeBackend {
    shared: Arc<Shared>,
}

impl NodeBackend {
    pub fn new(shared: Arc<Shared>) -> Self {
        NodeBackend { shared }
    }
}

/// The one place mempool refusals become API categories.
pub fn rejection(error: &MempoolError) -> SubmitRejection {
    let kind = match error {
        MempoolError::TooLarge { .. } | MempoolError::Decode { .. } => RejectionKind::Encoding,
        MempoolError::Duplicate { .. } => RejectionKind::Duplicate,
        MempoolError::Rejected { reason } => match reason {
            TxRejection::BadSignature => RejectionKind::Signature,
            TxRejection::WrongChain { .. } => RejectionKind::WrongChain,
            TxRejection::BadNonce { .. } => RejectionKind::NonceTooLow,
            TxRejection::InsufficientBalance { .. } | TxRejection::BalanceOverflow => {
                RejectionKind::InsufficientBalance
            }
        },
        MempoolError::NonceTooLow { .. } => RejectionKind::NonceTooLow,
        MempoolError::NonceTooFarAhead { .. } => RejectionKind::NonceTooFarAhead,
        MempoolError::QueueExceedsBalance { .. } => RejectionKind::InsufficientBalance,
        MempoolError::ReplacementUnderpriced { .. } => RejectionKind::Underpriced,
        MempoolError::Full { .. } => RejectionKind::MempoolFull,
        MempoolError::StateRead { .. } => RejectionKind::Unavailable,
    };
    SubmitRejection {
        kind,
        message: error.to_string(),
    }
}

impl Backend for NodeBackend {
    fn node_info(&self) -> NodeInfo {
        let genesis = &self.shared.genesis;
        let meta = self.shared.store.meta();
        let latest_height = meta.as_ref().map_or(0, |m| m.latest_height);
        let latest_hash = meta
            .as_ref()
            .map_or_else(|| genesis.hash(), |m| m.latest_block_hash);
        let latest_time_ms = if latest_height == 0 {
            genesis.genesis_time_ms()
        } else {
            self.shared
                .store
                .block(latest_height)
                .ok()
                .flatten()
                .map_or(0, |b| b.header.time_ms)
        };
        NodeInfo {
            chain_id: genesis.chain_id().to_string(),
            genesis_hash: genesis.hash(),
            node_id: self.shared.net.local_peer_id.to_string(),
            latest_height,
            latest_hash,
            latest_time_ms,
            syncing: self.shared.is_syncing(),
            peers: self.shared.net.peer_count(),
            validator_address: self.shared.validator.map(|k| Address::from_public_key(&k)),
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    fn block(&self, height: u64) -> Result<Option<Block>, BackendError> {
        self.shared.store.block(height).map_err(BackendError::from)
    }

    fn block_by_hash(&self, hash: &Hash) -> Result<Option<Block>, BackendError> {
        self.shared
            .store
            .block_by_hash(hash)
            .map_err(BackendError::from)
    }

    fn commit(&self, height: u64) -> Result<Option<CommitInfo>, BackendError> {
        let Some(bytes) = self
            .shared
            .store
            .certificate(height)
            .map_err(BackendError::from)?
        else {
            return Ok(None);
        };
        let certificate: WireCertificate = wire::decode("certificate", &bytes)
            .map_err(|error| BackendError::Internal(error.to_string()))?;
        Ok(Some(CommitInfo {
            height: certificate.height,
            round: certificate.round,
            block_hash: Hash(certificate.value),
            precommits: certificate
                .precommits
                .iter()
                .map(|(validator, signature)| CommitSignature {
                    validator: *validator,
                    signature: *signature,
                })
                .collect(),
        }))
    }

    fn validators(&self, height: u64) -> Result<Option<ValidatorSetInfo>, BackendError> {
        let latest = self.shared.store.latest_height().unwrap_or(0);
        if height == 0 || height > latest.saturating_add(1) {
            return Ok(None);
        }
        let genesis = &self.shared.genesis;
        Ok(Some(ValidatorSetInfo {
            height,
            hash: genesis.validator_set_hash(),
            validators: genesis
                .validators()
                .iter()
                .map(|v| ValidatorInfo {
                    name: v.name.clone(),
                    public_key: v.public_key,
                    address: v.address(),
                    voting_power: v.power,
                })
                .collect(),
        }))
    }

    fn account(&self, address: &Address) -> Result<Option<Account>, BackendError> {
        self.shared
            .store
            .account(address)
            .map_err(BackendError::from)
    }

    fn account_proof(&self, address: &Address, height: u64) -> Result<AccountProof, BackendError> {
        self.shared
            .store
            .account_proof(address, height)
            .map_err(BackendError::from)
    }

    fn submit(&self, tx: &[u8]) -> Result<Hash, SubmitRejection> {
        let result = {
            let mut mempool = self.shared.mempool();
            let result = mempool.admit(tx, &*self.shared.store);
            self.shared
                .update_mempool_metrics(mempool.len(), mempool.bytes());
            result
        };
        let hash = result.map_err(|error| rejection(&error))?;
        // A full gossip queue only delays the transaction: it is in this node's pool and this
        // node proposes too; peers see it once it is in a block.
        let _ = self.shared.tx_gossip.try_send(tx.to_vec());
        Ok(hash)
    }

    fn tx_status(&self, hash: &Hash) -> Result<TxStatus, BackendError> {
        if self.shared.mempool().contains(hash) {
            return Ok(TxStatus::Pending);
        }
        match self
            .shared
            .store
            .receipt(hash)
            .map_err(BackendError::from)?
        {
            Some(receipt) => Ok(TxStatus::Committed(receipt)),
            None => Ok(TxStatus::Unknown),
        }
    }

    fn mempool_info(&self) -> MempoolInfo {
        let mempool = self.shared.mempool();
        let config = mempool.config();
        MempoolInfo {
            count: mempool.len(),
            bytes: mempool.bytes(),
            max_count: config.max_transactions,
            max_bytes: config.max_bytes,
        }
    }

    fn subscribe_blocks(&self) -> broadcast::Receiver<Arc<CommittedBlock>> {
        self.shared.blocks.subscribe()
    }
}
