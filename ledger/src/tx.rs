//! Transactions: what an account asks the chain to do, and the signature that authorises it.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::{
    address::Address,
    crypto::{PublicKey, SecretKey, Signature},
    encoding,
    error::LedgerError,
    hash::Hash,
};

/// Domain-separation tag in front of every signed transaction, so that a signature over a
/// transaction can never be replayed as a signature over a vote, a block or another protocol's
/// message, whatever bytes follow.
pub const TX_SIGNING_DOMAIN: &[u8] = b"CAIRN/TX/v1\0";

/// Largest encoded signed transaction a node accepts.
pub const MAX_TX_BYTES: usize = 1024;

/// What a transaction does.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub enum Payload {
    /// Moves `amount` from the signer to `to`.
    Transfer { to: Address, amount: u64 },
}

/// An unsigned transaction.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct Transaction {
    /// The chain this transaction is for; any other chain refuses it.
    pub chain_id: String,
    /// The key that signs; the sender is its address.
    pub signer: PublicKey,
    /// Must equal the sender's account nonce when the transaction executes.
    pub nonce: u64,
    /// Paid by the sender to the block's proposer.
    pub fee: u64,
    pub payload: Payload,
}

impl Transaction {
    pub fn sender(&self) -> Address {
        Address::from_public_key(&self.signer)
    }

    /// The exact bytes the signature covers: the domain tag, then the canonical transaction
    /// (whose first field is the chain id).
    pub fn signing_bytes(&self) -> Vec<u8> {
        let mut bytes = TX_SIGNING_DOMAIN.to_vec();
        // Writing into a Vec cannot fail.
        let _ = borsh::to_writer(&mut bytes, self);
        bytes
    }

    /// Signs with `key`; the transaction's `signer` must be `key`'s public key for it to verify.
    pub fn sign(self, key: &SecretKey) -> SignedTransaction {
        let signature = key.sign(&self.signing_bytes());
        SignedTransaction {
            tx: self,
            signature,
        }
    }
}

/// A transaction with its signature; what travels and what blocks carry.
#[derive(Clone, Debug, PartialEq, Eq, BorshSerialize, BorshDeserialize)]
pub struct SignedTransaction {
    pub tx: Transaction,
    pub signature: Signature,
}

impl SignedTransaction {
    /// Decodes a signed transaction from untrusted bytes.
    pub fn decode(bytes: &[u8]) -> Result<SignedTransaction, LedgerError> {
        if bytes.len() > MAX_TX_BYTES {
            return Err(LedgerError::Decode {
                what: "transaction",
                reason: format!("{} bytes, at most {MAX_TX_BYTES}", bytes.len()),
            });
        }
        encoding::decode("transaction", bytes)
    }

    pub fn encode(&self) -> Vec<u8> {
        encoding::encode(self)
    }

    /// The transaction's identity: SHA-256 of its canonical encoding, signature included.
    pub fn hash(&self) -> Hash {
        Hash::digest(&self.encode())
    }

    /// Checks this signature alone; blocks check theirs in a batch instead.
    pub fn verify_signature(&self) -> bool {
        self.tx
            .signer
            .verify(&self.tx.signing_bytes(), &self.signature)
    }
}
