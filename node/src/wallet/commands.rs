//! What each `cairn wallet` subcommand does. Output goes to a writer, so tests read it.

use std::{io::Write, path::PathBuf, time::Duration};

use cairn_ledger::{Account, Address, Hash, Payload, Transaction};
use cairn_rpc::{
    types::RpcTxStatus, Bech32Address, HexBytes, HexHash, HttpClient, HttpClientBuilder,
    NodeApiClient, StateApiClient, TxApiClient,
};
use jsonrpsee::core::ClientError;
use zeroize::Zeroizing;

use super::{
    derivation::{generate_mnemonic, key_from_mnemonic, parse_mnemonic, parse_secret_key},
    error::WalletError,
    input::{read_secret, PassphraseSource},
    keystore::{KdfParams, KeyOrigin, Keystore, StoredKey, WalletDir},
    verify::{verify_account_answer, TrustedValidators},
    DerivationPath,
};

/// Time allowed for one call that does not wait for a commit.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// Longest `--wait` a caller may ask for: the server's own maximum for `tx_submitAndWait`.
pub const MAX_WAIT_SECS: u64 = 120;

/// What every subcommand shares.
pub struct Session<'a> {
    pub wallet: WalletDir,
    pub rpc_url: String,
    pub passphrase: PassphraseSource,
    pub kdf: KdfParams,
    pub out: &'a mut dyn Write,
}

impl std::fmt::Debug for Session<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("wallet", &self.wallet)
            .field("rpc_url", &self.rpc_url)
            .field("kdf", &self.kdf)
            .finish_non_exhaustive()
    }
}

impl Session<'_> {
    fn say(&mut self, line: impl AsRef<str>) -> Result<(), WalletError> {
        writeln!(self.out, "{}", line.as_ref()).map_err(WalletError::io("write", "standard output"))
    }

    fn client(&self, timeout: Duration) -> Result<HttpClient, WalletError> {
        HttpClientBuilder::default()
            .request_timeout(timeout)
            .build(&self.rpc_url)
            .map_err(rpc_error(&self.rpc_url, "connect"))
    }

    /// Refuses early, before any secret is asked for, when the name is taken or invalid.
    fn check_new_name(&self, name: &str) -> Result<(), WalletError> {
        if self.wallet.key_path(name)?.exists() {
            return Err(WalletError::KeyExists {
                name: name.into(),
                dir: self.wallet.path().into(),
            });
        }
        Ok(())
    }

    /// Encrypts and saves a new key, and says where it went.
    fn store(
        &mut self,
        name: &str,
        key: &cairn_ledger::SecretKey,
        origin: KeyOrigin,
    ) -> Result<(), WalletError> {
        if self.kdf.is_weaker_than_default() {
            eprintln!(
                "warning: keystore KDF parameters below the default ({} KiB); use this only in \
                 tests",
                self.kdf.memory_kib
            );
        }
        let passphrase = self.passphrase.new_key(name)?;
        let keystore = Keystore::encrypt(key, origin, passphrase.as_bytes(), self.kdf)?;
        let path = self.wallet.save(name, &keystore)?;
        self.say(format!("saved key {name:?} to {}", path.display()))?;
        self.say(format!("address: {}", keystore.address))
    }

    /// `new`: a key from a new recovery phrase, which is shown once.
    pub fn new_key(&mut self, name: &str, account: u32) -> Result<(), WalletError> {
        self.check_new_name(name)?;
        let path = DerivationPath::cairn(account)?;
        let mnemonic = generate_mnemonic()?;
        let key = key_from_mnemonic(&mnemonic, &path)?;
        self.store(name, &key, KeyOrigin::Mnemonic { path: path.clone() })?;
        let phrase = Zeroizing::new(mnemonic.to_string());
        self.say(format!("path:    {path}"))?;
        self.say("")?;
        self.say(format!(
            "Recovery phrase ({} words). Write it down and keep it offline: it restores this \
             key, anyone who reads it can spend from it, and it is not shown again.",
            mnemonic.word_count()
        ))?;
        self.say("")?;
        self.say(format!("    {}", phrase.as_str()))
    }

    /// `import --mnemonic`: a key from an existing recovery phrase.
    pub fn import_mnemonic(
        &mut self,
        name: &str,
        account: u32,
        from_file: Option<&std::path::Path>,
    ) -> Result<(), WalletError> {
        self.check_new_name(name)?;
        let path = DerivationPath::cairn(account)?;
        let text = read_secret(from_file, "Recovery phrase: ")?;
        let mnemonic = parse_mnemonic(&text)?;
        let key = key_from_mnemonic(&mnemonic, &path)?;
        self.store(name, &key, KeyOrigin::Mnemonic { path: path.clone() })?;
        self.say(format!("path:    {path}"))
    }

    /// `import --secret-key`: a raw 32-byte secret key in hex (a devnet test key, say).
    pub fn import_secret_key(
        &mut self,
        name: &str,
        from_file: Option<&std::path::Path>,
    ) -> Result<(), WalletError> {
        self.check_new_name(name)?;
        let text = read_secret(from_file, "Secret key (0x and 64 hex digits): ")?;
        let key = parse_secret_key(&text)?;
        self.store(name, &key, KeyOrigin::SecretKey)
    }

    /// `list`: every key, with its address and origin.
    pub fn list(&mut self) -> Result<(), WalletError> {
        let keys = self.wallet.keys()?;
        if keys.is_empty() {
            let dir = self.wallet.path().display().to_string();
            return self.say(format!("no keys in {dir}"));
        }
        let width = keys.iter().map(|k| k.name.len()).max().unwrap_or(0);
        for key in keys {
            self.say(format!(
                "{:<width$}  {}  {}",
                key.name,
                key.address(),
                key.keystore.origin
            ))?;
        }
        Ok(())
    }

    /// `address`: the address of a key.
    pub fn address(&mut self, name: Option<&str>) -> Result<(), WalletError> {
        let key = self.wallet.resolve(name)?;
        self.say(key.address().to_string())
    }

    /// `balance`: an account's balance, checked against `trusted` when given.
    pub async fn balance(
        &mut self,
        target: Option<&str>,
        trusted: Option<&TrustedValidators>,
    ) -> Result<(), WalletError> {
        let address = self.target_address(target)?;
        let client = self.client(CALL_TIMEOUT)?;
        let Some(trusted) = trusted else {
            let account = self.account(&client, &address).await?;
            self.say(format!("address: {address}"))?;
            self.say(format!("balance: {}", account.balance))?;
            self.say(format!("nonce:   {}", account.nonce))?;
            return self.say(format!(
                "unverified: as {} reports it; add --verify to check it against the genesis \
                 validators",
                self.rpc_url
            ));
        };
        let answer = StateApiClient::get_proof(&client, Bech32Address(address), None)
            .await
            .map_err(rpc_error(&self.rpc_url, "state_getProof"))?;
        let verified = verify_account_answer(&answer, &address, trusted)?;
        let state = verified.state();
        self.say(format!("address: {address}"))?;
        self.say(format!("balance: {}", state.balance))?;
        self.say(format!("nonce:   {}", state.nonce))?;
        self.say(format!(
            "verified against {} validators, height {} (block {}, precommits from {})",
            verified.validators, verified.height, verified.block_hash, verified.signers
        ))
    }

    /// `send`: signs a transfer with the next nonce and submits it, waiting for its commit if
    /// `wait` is given.
    pub async fn send(&mut self, send: &SendRequest<'_>) -> Result<(), WalletError> {
        let to: Address = send
            .to
            .parse()
            .map_err(
                |error: cairn_ledger::LedgerError| WalletError::InvalidAddress {
                    text: send.to.into(),
                    reason: error.to_string(),
                },
            )?;
        let stored = self.wallet.resolve(send.from)?;
        let sender = stored.address();
        let needed = send
            .amount
            .checked_add(send.fee)
            .ok_or(WalletError::Overflow {
                what: "amount plus fee",
            })?;
        let wait = send
            .wait
            .map(|secs| Duration::from_secs(secs.min(MAX_WAIT_SECS)));
        let client = self.client(wait.map_or(CALL_TIMEOUT, |wait| wait + CALL_TIMEOUT))?;
        let status = NodeApiClient::node_status(&client)
            .await
            .map_err(rpc_error(&self.rpc_url, "node_status"))?;
        let account = self.account(&client, &sender).await?;
        if account.balance < needed {
            return Err(WalletError::InsufficientBalance {
                address: sender.to_string(),
                balance: account.balance,
                needed: u128::from(needed),
            });
        }
        let key = unlock(&self.passphrase, &stored)?;
        let signed = Transaction {
            chain_id: status.chain_id.clone(),
            signer: key.public_key(),
            nonce: account.nonce,
            fee: send.fee,
            payload: Payload::Transfer {
                to,
                amount: send.amount,
            },
        }
        .sign(&key);
        let hash = signed.hash();
        let bytes = HexBytes(signed.encode());
        self.say(format!(
            "sending {} from {sender} to {to} (fee {}, nonce {}, chain {})",
            send.amount, send.fee, account.nonce, status.chain_id
        ))?;
        match wait {
            Some(wait) => {
                let wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
                let receipt = TxApiClient::submit_and_wait(&client, bytes, Some(wait_ms))
                    .await
                    .map_err(rpc_error(&self.rpc_url, "tx_submitAndWait"))?;
                check_hash(hash, receipt.tx_hash)?;
                self.say(format!("tx hash: {hash}"))?;
                self.say(format!(
                    "committed at height {} (index {}, fee paid {})",
                    receipt.height, receipt.index, receipt.fee_paid
                ))
            }
            None => {
                let accepted = TxApiClient::submit(&client, bytes)
                    .await
                    .map_err(rpc_error(&self.rpc_url, "tx_submit"))?;
                check_hash(hash, accepted.0)?;
                self.say(format!("tx hash: {hash}"))?;
                self.say(format!(
                    "submitted; follow it with `cairn wallet tx {hash}`"
                ))
            }
        }
    }

    /// `tx`: where a transaction is.
    pub async fn tx(&mut self, hash: &str) -> Result<(), WalletError> {
        let parsed = Hash::from_hex(hash)
            .filter(|_| hash.starts_with("0x"))
            .ok_or_else(|| WalletError::InvalidTxHash { text: hash.into() })?;
        let client = self.client(CALL_TIMEOUT)?;
        let status = TxApiClient::get(&client, HexHash(parsed))
            .await
            .map_err(rpc_error(&self.rpc_url, "tx_get"))?;
        match status {
            RpcTxStatus::Pending => self.say(format!("{parsed}: pending in the node's mempool")),
            RpcTxStatus::Unknown => self.say(format!(
                "{parsed}: unknown to this node (neither pending nor committed)"
            )),
            RpcTxStatus::Committed(receipt) => {
                self.say(format!("{parsed}: committed"))?;
                self.say(format!("height:   {}", receipt.height))?;
                self.say(format!("index:    {}", receipt.index))?;
                self.say(format!("sender:   {}", receipt.sender))?;
                self.say(format!("nonce:    {}", receipt.nonce))?;
                self.say(format!("fee paid: {}", receipt.fee_paid))
            }
        }
    }

    /// An address given as text, or the address of a key name (or of the default key).
    fn target_address(&self, target: Option<&str>) -> Result<Address, WalletError> {
        if let Some(text) = target {
            if text.starts_with("cairn1") {
                return text.parse().map_err(|error: cairn_ledger::LedgerError| {
                    WalletError::InvalidAddress {
                        text: text.into(),
                        reason: error.to_string(),
                    }
                });
            }
        }
        Ok(self.wallet.resolve(target)?.address())
    }

    async fn account(
        &self,
        client: &HttpClient,
        address: &Address,
    ) -> Result<Account, WalletError> {
        let account = StateApiClient::get_account(client, Bech32Address(*address), None)
            .await
            .map_err(rpc_error(&self.rpc_url, "state_getAccount"))?;
        Ok(account.map(Account::from).unwrap_or_default())
    }
}

/// What `send` sends.
#[derive(Clone, Debug)]
pub struct SendRequest<'a> {
    /// The key to send from; the default key if `None`.
    pub from: Option<&'a str>,
    pub to: &'a str,
    pub amount: u64,
    pub fee: u64,
    /// Wait this many seconds for the commit (at most [`MAX_WAIT_SECS`]); `None`: do not wait.
    pub wait: Option<u64>,
}

/// Where `--verify` finds the genesis it trusts: `--genesis`, else `$CAIRN_HOME/genesis.json`.
pub fn trusted_genesis_path(explicit: Option<PathBuf>) -> Result<PathBuf, WalletError> {
    if let Some(path) = explicit {
        return Ok(path);
    }
    std::env::var_os("CAIRN_HOME")
        .map(|home| PathBuf::from(home).join("genesis.json"))
        .filter(|path| path.is_file())
        .ok_or(WalletError::NoTrustedGenesis)
}

fn unlock(
    passphrase: &PassphraseSource,
    stored: &StoredKey,
) -> Result<cairn_ledger::SecretKey, WalletError> {
    let passphrase = passphrase.unlock(&stored.name)?;
    stored.unlock(passphrase.as_bytes())
}

fn check_hash(ours: Hash, theirs: Hash) -> Result<(), WalletError> {
    if ours == theirs {
        Ok(())
    } else {
        Err(WalletError::Unverified {
            reason: format!("the node reports transaction {theirs}, we signed {ours}"),
        })
    }
}

fn rpc_error(url: &str, method: &'static str) -> impl FnOnce(ClientError) -> WalletError {
    let url = url.to_string();
    move |error| {
        let reason = match &error {
            ClientError::Call(object) => match object.data() {
                Some(data) => format!(
                    "{} (code {}, {})",
                    object.message(),
                    object.code(),
                    data.get()
                ),
                None => format!("{} (code {})", object.message(), object.code()),
            },
            ClientError::Transport(transport) => format!("cannot reach the node: {transport}"),
            other => other.to_string(),
        };
        WalletError::Rpc {
            url,
            method,
            reason,
        }
    }
}
