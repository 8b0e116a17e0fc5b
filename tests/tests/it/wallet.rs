//! `cairn wallet` against a 4-validator devnet of real processes: import a funded devnet key,
//! create a key from a new recovery phrase, send to it and back with `--wait`, check its balance
//! with `--verify` against the genesis, and refuse answers whose proof, state root, balance or
//! certificate was tampered with. The wallet runs in this process through its argument parser,
//! exactly as `cairn wallet` would run it.

use std::{path::PathBuf, time::Duration};

use cairn_genesis::{devnet, DevnetSpec};
use cairn_node::wallet::{
    execute, parse_args, verify_account_answer, TrustedValidators, WalletError,
};
use cairn_rpc::{Bech32Address, StateApiClient};
use cairn_tests::{call, exclusive, wait_for, Devnet, Result};

const WAIT: Duration = Duration::from_secs(90);

/// A wallet directory and its passphrase, pointed at one node.
struct TestWallet {
    _temp: tempfile::TempDir,
    dir: PathBuf,
    passphrase_file: PathBuf,
    rpc_url: String,
}

impl TestWallet {
    fn new(rpc_url: &str) -> Result<TestWallet> {
        let temp = tempfile::tempdir()?;
        let passphrase_file = temp.path().join("passphrase");
        std::fs::write(&passphrase_file, "e2e passphrase, not a secret\n")?;
        Ok(TestWallet {
            dir: temp.path().join("wallet"),
            passphrase_file,
            rpc_url: rpc_url.into(),
            _temp: temp,
        })
    }

    /// Runs `cairn wallet <args>` with this wallet's options; returns what it printed.
    async fn run(&self, args: &[&str]) -> std::result::Result<String, WalletError> {
        self.run_with_passphrase(&self.passphrase_file, args).await
    }

    async fn run_with_passphrase(
        &self,
        passphrase_file: &std::path::Path,
        args: &[&str],
    ) -> std::result::Result<String, WalletError> {
        let mut argv: Vec<String> = vec![
            "cairn-wallet".into(),
            "--wallet-dir".into(),
            self.dir.display().to_string(),
            "--rpc".into(),
            self.rpc_url.clone(),
            "--passphrase-file".into(),
            passphrase_file.display().to_string(),
            // Cheap keystores: the test is about the flow, not the KDF's cost.
            "--kdf-memory-kib".into(),
            "64".into(),
        ];
        argv.extend(args.iter().map(|arg| arg.to_string()));
        let parsed = parse_args(argv).map_err(|error| WalletError::Passphrase {
            reason: format!("bad test arguments: {error}"),
        })?;
        let mut out = Vec::new();
        execute(parsed, &mut out).await?;
        let text = String::from_utf8_lossy(&out).into_owned();
        println!("$ cairn wallet {}\n{text}", args.join(" "));
        Ok(text)
    }
}

/// The value after `prefix` on the first line that starts with it.
fn field(output: &str, prefix: &str) -> Result<String> {
    output
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map(|value| value.trim().to_string())
        .ok_or_else(|| format!("no {prefix:?} in:\n{output}").into())
}

async fn wait_height(devnet: &Devnet, at_least: u64) -> Result<u64> {
    let client = devnet.nodes[0].client()?;
    wait_for(&format!("height {at_least}"), WAIT, || {
        let client = client.clone();
        async move {
            let status = call(&client, "node_status", vec![]).await.ok()?;
            status
                .get("latestHeight")?
                .as_u64()
                .filter(|height| *height >= at_least)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wallet_sends_and_verifies_balances_on_a_devnet() -> Result<()> {
    let _guard = exclusive().await;
    let devnet = Devnet::start(4, 21600)?;
    let result = scenario(&devnet).await;
    if result.is_err() {
        devnet.dump_logs(40);
    }
    result
}

async fn scenario(devnet: &Devnet) -> Result<()> {
    wait_height(devnet, 1).await?;
    let genesis_path = devnet.dir.path().join("net").join("genesis.json");
    let genesis = genesis_path.display().to_string();
    let wallet = TestWallet::new(&devnet.nodes[0].rpc_url)?;

    // Import a funded devnet key from a file, as 0x-hex.
    let (funded_address, funded_key) = &devnet.accounts[0];
    let key_file = wallet.dir.with_file_name("funded.key");
    std::fs::write(&key_file, format!("0x{}\n", hex::encode(funded_key.seed())))?;
    let key_file = key_file.display().to_string();
    let imported = wallet
        .run(&["import", "funded", "--secret-key", "--from-file", &key_file])
        .await?;
    assert_eq!(field(&imported, "address:")?, funded_address.to_string());

    // A new key from a new 24-word recovery phrase.
    let created = wallet.run(&["new", "fresh"]).await?;
    let fresh = field(&created, "address:")?;
    let phrase = created
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .ok_or("no recovery phrase")?;
    assert_eq!(phrase.split_whitespace().count(), 24, "{created}");
    assert!(created.contains("m/44'/17217'/0'/0'/0'"), "{created}");
    let listed = wallet.run(&["list"]).await?;
    assert!(
        listed.contains("funded") && listed.contains(&fresh),
        "{listed}"
    );
    assert_eq!(wallet.run(&["address", "fresh"]).await?.trim(), fresh);
    let empty = wallet.run(&["balance", "fresh"]).await?;
    assert_eq!(field(&empty, "balance:")?, "0");

    // Send to it and wait for the commit.
    let sent = wallet
        .run(&[
            "send", "--from", "funded", "--to", &fresh, "--amount", "12345", "--fee", "2", "--wait",
        ])
        .await?;
    assert!(sent.contains("committed at height"), "{sent}");
    let tx_hash = field(&sent, "tx hash:")?;
    let status = wallet.run(&["tx", &tx_hash]).await?;
    assert!(status.contains("committed"), "{status}");
    assert_eq!(field(&status, "fee paid:")?, "2");

    // Its balance, verified against the genesis validators.
    let verified = wallet
        .run(&["balance", "fresh", "--verify", "--genesis", &genesis])
        .await?;
    assert_eq!(field(&verified, "balance:")?, "12345");
    assert!(
        verified.contains("verified against 4 validators, height"),
        "{verified}"
    );

    // The new key signs too: send some back, then verify through another node.
    let back = wallet
        .run(&[
            "send",
            "--from",
            "fresh",
            "--to",
            &funded_address.to_string(),
            "--amount",
            "100",
            "--wait",
        ])
        .await?;
    assert!(back.contains("committed at height"), "{back}");
    let other_node = TestWallet {
        rpc_url: devnet.nodes[2].rpc_url.clone(),
        dir: wallet.dir.clone(),
        passphrase_file: wallet.passphrase_file.clone(),
        _temp: tempfile::tempdir()?,
    };
    // Node 2 may be a block behind node 0: wait (bounded) until it shows the transfer back.
    let (node, fresh_ref, genesis_ref) = (&other_node, fresh.as_str(), genesis.as_str());
    let after = wait_for("node 2 to show the transfer back", WAIT, || async move {
        let args = ["balance", fresh_ref, "--verify", "--genesis", genesis_ref];
        let out = node.run(&args).await.ok()?;
        (field(&out, "balance:").ok()? == "12244").then_some(out)
    })
    .await?;
    assert_eq!(field(&after, "balance:")?, "12244");
    assert_eq!(field(&after, "nonce:")?, "1");

    // A wrong passphrase signs nothing.
    let wrong = wallet.dir.with_file_name("wrong-passphrase");
    std::fs::write(&wrong, "not the passphrase\n")?;
    let refused = wallet
        .run_with_passphrase(
            &wrong,
            &["send", "--from", "fresh", "--to", &fresh, "--amount", "1"],
        )
        .await;
    assert!(
        matches!(&refused, Err(error) if error.is_decryption_failure()),
        "{refused:?}"
    );

    // Tampered answers are refused; the honest one passes.
    let address: cairn_ledger::Address = fresh.parse()?;
    let client = devnet.nodes[0].client()?;
    let answer = StateApiClient::get_proof(&client, Bech32Address(address), None).await?;
    let trusted = TrustedValidators::load(&genesis_path)?;
    let honest = verify_account_answer(&answer, &address, &trusted)?;
    assert_eq!(honest.state().balance, 12244);
    let mut proof_flipped = answer.clone();
    let last = proof_flipped.proof.encoded.len() - 1;
    proof_flipped.proof.encoded[last] ^= 1;
    let mut root_flipped = answer.clone();
    root_flipped.state_root.0[31] ^= 1;
    let mut inflated = answer.clone();
    if let Some(account) = inflated.account.as_mut() {
        account.balance += 1_000_000;
    }
    let mut forged_signature = answer.clone();
    if let Some(commit) = forged_signature.commit.as_mut() {
        commit
            .precommits
            .iter_mut()
            .for_each(|p| p.signature.0[0] ^= 1);
    }
    for (what, tampered) in [
        ("a proof byte", proof_flipped),
        ("the state root", root_flipped),
        ("the balance", inflated),
        ("the precommit signatures", forged_signature),
    ] {
        match verify_account_answer(&tampered, &address, &trusted) {
            Err(error) if error.is_unverified() => {}
            other => return Err(format!("tampered {what} not refused: {other:?}").into()),
        }
    }
    // And against a genesis with other validators, the honest answer is refused too.
    let stranger = devnet::generate(&DevnetSpec {
        seed: Some([3; 32]),
        ..DevnetSpec::default()
    })?;
    let stranger = TrustedValidators::from_genesis(&stranger.genesis)?;
    if verify_account_answer(&answer, &address, &stranger).is_ok() {
        return Err("an answer verified against validators that never signed it".into());
    }
    Ok(())
}
