//! Devnet generation: reproducible from a seed, and its files round-trip with safe modes.

use std::os::unix::fs::PermissionsExt;

use cairn_genesis::{
    devnet::{self, derive_key, read_accounts, read_validator_key},
    DevnetSpec, Genesis, GenesisError,
};
use cairn_ledger::Address;

fn spec(seed: Option<[u8; 32]>) -> DevnetSpec {
    DevnetSpec {
        chain_id: "cairn-devnet".into(),
        genesis_time_ms: 1_735_689_600_000,
        validators: 4,
        accounts: 5,
        balance: 1_000_000,
        seed,
        ..Default::default()
    }
}

fn seeds(devnet: &devnet::Devnet) -> Vec<[u8; 32]> {
    devnet
        .validator_keys
        .iter()
        .chain(&devnet.account_keys)
        .map(|key| key.seed())
        .collect()
}

#[test]
fn a_fixed_seed_reproduces_the_devnet() {
    let first = devnet::generate(&spec(Some([9; 32]))).unwrap();
    let second = devnet::generate(&spec(Some([9; 32]))).unwrap();
    assert_eq!(first.genesis, second.genesis);
    assert_eq!(first.genesis.hash(), second.genesis.hash());
    assert_eq!(seeds(&first), seeds(&second));

    let other = devnet::generate(&spec(Some([10; 32]))).unwrap();
    assert_ne!(other.genesis.hash(), first.genesis.hash());
    assert!(seeds(&other)
        .iter()
        .all(|seed| !seeds(&first).contains(seed)));
}

#[test]
fn keys_follow_the_documented_derivation() {
    let devnet = devnet::generate(&spec(Some([9; 32]))).unwrap();
    let genesis = &devnet.genesis;
    assert_eq!(genesis.validators().len(), 4);
    for (index, (validator, key)) in genesis
        .validators()
        .iter()
        .zip(&devnet.validator_keys)
        .enumerate()
    {
        assert_eq!(key.seed(), derive_key(&[9; 32], b"validator", index).seed());
        assert_eq!(validator.public_key, key.public_key());
        assert_eq!(validator.name, format!("validator-{index}"));
        assert_eq!(validator.power, 1);
    }
    for (index, (funded, key)) in genesis
        .funded_accounts()
        .iter()
        .zip(&devnet.account_keys)
        .enumerate()
    {
        assert_eq!(key.seed(), derive_key(&[9; 32], b"account", index).seed());
        assert_eq!(funded.address, Address::from_public_key(&key.public_key()));
        assert_eq!(funded.balance, 1_000_000);
    }
    assert_eq!(genesis.funded_accounts().len(), 5);
    assert_eq!(genesis.total_supply(), 5_000_000);
    assert_eq!(genesis.genesis_time_ms(), 1_735_689_600_000);
    assert_eq!(genesis.initial_height(), 1);
}

#[test]
fn without_a_seed_every_devnet_is_new() {
    let first = devnet::generate(&spec(None)).unwrap();
    let second = devnet::generate(&spec(None)).unwrap();
    assert_ne!(first.genesis.hash(), second.genesis.hash());
    assert_ne!(seeds(&first), seeds(&second));
}

#[test]
fn an_invalid_spec_is_refused_by_the_same_rules() {
    let error = devnet::generate(&DevnetSpec {
        validators: 0,
        ..spec(Some([1; 32]))
    })
    .unwrap_err();
    assert_eq!(error.to_string(), "validators: empty validator set");
    let error = devnet::generate(&DevnetSpec {
        balance: u64::MAX,
        ..spec(Some([1; 32]))
    })
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "accounts[1].balance: total supply overflows u64"
    );
    let error = devnet::generate(&DevnetSpec {
        chain_id: "no spaces".into(),
        ..spec(Some([1; 32]))
    })
    .unwrap_err();
    assert_eq!(error.field(), Some("chain_id"));
    let error = devnet::generate(&DevnetSpec {
        validators: usize::MAX,
        ..spec(None)
    })
    .unwrap_err();
    assert_eq!(error.field(), Some("validators"));
}

#[test]
fn written_files_load_back() {
    let devnet = devnet::generate(&spec(Some([3; 32]))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("devnet");
    devnet::write(&root, &devnet).unwrap();

    let loaded = Genesis::load(root.join("genesis.json")).unwrap();
    assert_eq!(loaded, devnet.genesis);
    assert_eq!(loaded.hash(), devnet.genesis.hash());

    for (index, key) in devnet.validator_keys.iter().enumerate() {
        let path = root
            .join("validators")
            .join(index.to_string())
            .join("validator_key.json");
        assert_eq!(read_validator_key(&path).unwrap().seed(), key.seed());
    }
    let accounts = read_accounts(&root.join("accounts.json")).unwrap();
    assert_eq!(accounts.len(), devnet.account_keys.len());
    for ((address, key), (funded, expected)) in accounts.iter().zip(
        devnet
            .genesis
            .funded_accounts()
            .iter()
            .zip(&devnet.account_keys),
    ) {
        assert_eq!(*address, funded.address);
        assert_eq!(key.seed(), expected.seed());
    }
}

#[test]
fn secret_files_are_private() {
    let devnet = devnet::generate(&spec(Some([4; 32]))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    devnet::write(dir.path(), &devnet).unwrap();
    let mode =
        |path: std::path::PathBuf| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
    for index in 0..4 {
        let path = dir
            .path()
            .join(format!("validators/{index}/validator_key.json"));
        assert_eq!(mode(path), 0o600);
    }
    assert_eq!(mode(dir.path().join("accounts.json")), 0o600);
    assert_eq!(mode(dir.path().join("genesis.json")), 0o644);
}

#[test]
fn write_never_overwrites_a_devnet() {
    let dir = tempfile::tempdir().unwrap();
    let first = devnet::generate(&spec(Some([5; 32]))).unwrap();
    devnet::write(dir.path(), &first).unwrap();
    let second = devnet::generate(&spec(Some([6; 32]))).unwrap();
    let error = devnet::write(dir.path(), &second).unwrap_err();
    assert!(matches!(error, GenesisError::Write { .. }), "{error}");
    assert_eq!(
        Genesis::load(dir.path().join("genesis.json")).unwrap(),
        first.genesis
    );
}

#[test]
fn tampered_key_files_are_refused() {
    let devnet = devnet::generate(&spec(Some([7; 32]))).unwrap();
    let dir = tempfile::tempdir().unwrap();
    devnet::write(dir.path(), &devnet).unwrap();

    let path = dir.path().join("validators/0/validator_key.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let other = devnet.validator_keys[1].public_key().to_string();
    let mine = devnet.validator_keys[0].public_key().to_string();
    std::fs::write(&path, text.replace(&mine, &other)).unwrap();
    assert!(matches!(
        read_validator_key(&path),
        Err(GenesisError::InvalidKeyFile { .. })
    ));

    let path = dir.path().join("accounts.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let first = devnet.genesis.funded_accounts()[0].address.to_string();
    let second = devnet.genesis.funded_accounts()[1].address.to_string();
    std::fs::write(&path, text.replacen(&first, &second, 1)).unwrap();
    let error = read_accounts(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("[0]: the secret key does not match"),
        "{error}"
    );
}

/// Pins the key derivation: the crate documentation's example genesis is this devnet.
#[test]
fn the_documented_example_is_this_devnet() {
    let devnet = devnet::generate(&DevnetSpec {
        chain_id: "cairn-example".into(),
        genesis_time_ms: 1_735_689_600_000,
        validators: 3,
        accounts: 2,
        balance: 1_000_000_000_000,
        seed: Some([7; 32]),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(
        devnet.genesis.validators()[0].public_key.to_string(),
        "0x3fed9782d6d33206a1888e6617334012ce6e47e42df0297c409602021e4026d3"
    );
    assert_eq!(
        devnet.genesis.hash().to_string(),
        "0x3717c3468992bcd4d2143684e523c801759a047f814c96f872759038a701f22a"
    );
}
