//! The wallet without a network: SLIP-0010 and BIP-39 against their published vectors, the
//! keystore (round trip, wrong passphrase, tampering, file modes), the wallet directory, argument
//! parsing, and `verify_account_answer` against a real store and a signed commit certificate,
//! with every link of the chain broken once.

use std::{fs, os::unix::fs::PermissionsExt, path::Path};

use cairn_consensus::{encoding::vote_sign_bytes, Round, Vote, VoteType};
use cairn_genesis::{devnet, DevnetSpec};
use cairn_ledger::{Address, Block, LedgerStore, SecretKey, SignaturePolicy, StoreConfig};
use cairn_node::{
    context::CairnContext,
    wallet::{
        derivation::{
            generate_mnemonic, key_from_mnemonic, mnemonic_from_entropy, parse_mnemonic,
            parse_secret_key, seed_from_mnemonic, MNEMONIC_WORDS,
        },
        parse_args, verify_account_answer, DerivationPath, ExtendedKey, KdfParams, KeyOrigin,
        Keystore, TrustedValidators, WalletArgs, WalletCommand, WalletDir, WalletError, COIN_TYPE,
    },
};
use cairn_rpc::types::{
    RpcAccount, RpcAccountProof, RpcCommit, RpcCommitSignature, RpcHeader, RpcMerkleProof,
};

/// Cheap KDF parameters: tests check the format and the logic, not the cost.
fn test_kdf() -> KdfParams {
    KdfParams::with_memory_kib(64)
}

fn unhex(text: &str) -> Vec<u8> {
    hex::decode(text).unwrap()
}

// ---------------------------------------------------------------------------------------------
// SLIP-0010

/// SLIP-0010, "Test vector 1 for ed25519": seed 000102030405060708090a0b0c0d0e0f. Path, chain
/// code, private key, and (where listed here) the public key without SLIP-0010's 0x00 prefix.
const SLIP10_VECTOR_1: &[(&str, &str, &str, Option<&str>)] = &[
    (
        "m",
        "90046a93de5380a72b5e45010748567d5ea02bbf6522f979e05c0d8d8ca9fffb",
        "2b4be7f19ee27bbf30c667b642d5f4aa69fd169872f8fc3059c08ebae2eb19e7",
        Some("a4b2856bfec510abab89753fac1ac0e1112364e7d250545963f135f2a33188ed"),
    ),
    (
        "m/0'",
        "8b59aa11380b624e81507a27fedda59fea6d0b779a778918a2fd3590e16e9c69",
        "68e0fe46dfb67e368c75379acec591dad19df3cde26e63b93a8e704f1dade7a3",
        Some("8c8a13df77a28f3445213a0f432fde644acaa215fc72dcdf300d5efaa85d350c"),
    ),
    (
        "m/0'/1'",
        "a320425f77d1b5c2505a6b1b27382b37368ee640e3557c315416801243552f14",
        "b1d0bad404bf35da785a64ca1ac54b2617211d2777696fbffaf208f746ae84f2",
        Some("1932a5270f335bed617d5b935c80aedb1a35bd9fc1e31acafd5372c30f5c1187"),
    ),
    (
        "m/0'/1'/2'",
        "2e69929e00b5ab250f49c3fb1c12f252de4fed2c1db88387094a0f8c4c9ccd6c",
        "92a5b23c0b8a99e37d07df3fb9966917f5d06e02ddbd909c7e184371463e9fc9",
        None,
    ),
    (
        "m/0'/1'/2'/2'",
        "8f6d87f93d750e0efccda017d662a1b31a266e4a6f5993b15f5c1f07f74dd5cc",
        "30d1dc7e5fc04c31219ab25a27ae00b50f6fd66622f6e9c913253d6511d1e662",
        None,
    ),
    (
        "m/0'/1'/2'/2'/1000000000'",
        "68789923a0cac2cd5a29172a475fe9e0fb14cd6adb5ad98a3fa70333e7afa230",
        "8f94d394a8e8fd6b1bc2f3f49f5c47e385281d5c17e65324b0f62483e37e8793",
        None,
    ),
];

/// SLIP-0010, "Test vector 2 for ed25519": the largest hardened index, 2³¹ − 1.
const SLIP10_VECTOR_2_SEED: &str = "fffcf9f6f3f0edeae7e4e1dedbd8d5d2cfccc9c6c3c0bdbab7b4b1aeaba8a5a29f9c999693908d8a8784817e7b7875726f6c696663605d5a5754514e4b484542";
const SLIP10_VECTOR_2: &[(&str, &str, &str)] = &[
    (
        "m",
        "ef70a74db9c3a5af931b5fe73ed8e1a53464133654fd55e7a66f8570b8e33c3b",
        "171cb88b1b3c1db25add599712e36245d75bc65a1a5c9e18d76f9f2b1eab4012",
    ),
    (
        "m/0'",
        "0b78a3226f915c082bf118f83618a618ab6dec793752624cbeb622acb562862d",
        "1559eb2bbec5790b0c65d8693e4d0875b1747f4970ae8b650486ed7470845635",
    ),
    (
        "m/0'/2147483647'",
        "138f0b2551bcafeca6ff2aa88ba8ed0ed8de070841f0c4ef0165df8181eaad7f",
        "ea4f5bfe8694d8bb74b7b59404632fd5968b774ed545e810de9c32a4fb4192f4",
    ),
    (
        "m/0'/2147483647'/1'/2147483646'/2'",
        "5d70af781f3a37b829f0d060924d5e960bdc02e85423494afc0b1a41bbe196d4",
        "551d333177df541ad876a60ea71f00447931c0a9da16f227c11ea080d7391b8d",
    ),
];

#[test]
fn slip10_ed25519_test_vector_1() {
    let seed = unhex("000102030405060708090a0b0c0d0e0f");
    for (path, chain_code, private, public) in SLIP10_VECTOR_1 {
        let path: DerivationPath = path.parse().unwrap();
        let node = ExtendedKey::derive(&seed, &path).unwrap();
        assert_eq!(
            hex::encode(node.chain_code()),
            *chain_code,
            "chain code at {path}"
        );
        assert_eq!(hex::encode(node.secret_bytes()), *private, "key at {path}");
        if let Some(public) = public {
            let key = node.secret_key().public_key();
            assert_eq!(hex::encode(key.as_bytes()), *public, "public key at {path}");
        }
    }
    // Deriving step by step gives the same nodes as deriving a path.
    let master = ExtendedKey::master(&seed).unwrap();
    let m0 = master.child(0).unwrap();
    assert_eq!(hex::encode(m0.secret_bytes()), SLIP10_VECTOR_1[1].2);
}

#[test]
fn slip10_ed25519_test_vector_2() {
    let seed = unhex(SLIP10_VECTOR_2_SEED);
    for (path, chain_code, private) in SLIP10_VECTOR_2 {
        let path: DerivationPath = path.parse().unwrap();
        let node = ExtendedKey::derive(&seed, &path).unwrap();
        assert_eq!(
            hex::encode(node.chain_code()),
            *chain_code,
            "chain code at {path}"
        );
        assert_eq!(hex::encode(node.secret_bytes()), *private, "key at {path}");
    }
}

#[test]
fn derivation_paths_parse_print_and_refuse_what_ed25519_cannot_do() {
    let cairn = DerivationPath::cairn(0).unwrap();
    assert_eq!(cairn.to_string(), format!("m/44'/{COIN_TYPE}'/0'/0'/0'"));
    assert_eq!(
        "m/44'/17217'/0'/0'/0'".parse::<DerivationPath>().unwrap(),
        cairn
    );
    assert_eq!(
        "m/44h/17217H/0'/0'/0'".parse::<DerivationPath>().unwrap(),
        cairn
    );
    assert_eq!(
        DerivationPath::cairn(7).unwrap().levels(),
        &[44, COIN_TYPE, 7, 0, 0]
    );
    assert!(DerivationPath::cairn(1 << 31).is_err());
    for bad in [
        "",
        "44'/0'",
        "m/44",
        "m/44'/0",
        "m/'",
        "m/-1'",
        "m/+1'",
        "m/2147483648'",
        "m/99999999999'",
        "m//0'",
    ] {
        assert!(bad.parse::<DerivationPath>().is_err(), "{bad:?} parsed");
    }
    assert!(ExtendedKey::master(&[1; 32])
        .unwrap()
        .child(1 << 31)
        .is_err());
}

// ---------------------------------------------------------------------------------------------
// BIP-39

#[test]
fn bip39_vector_and_our_path() {
    // BIP-39's English vector for 32 zero bytes, with passphrase "TREZOR".
    let mnemonic = mnemonic_from_entropy(&[0; 32]).unwrap();
    let words = format!("{} art", ["abandon"; 23].join(" "));
    assert_eq!(mnemonic.to_string(), words);
    assert_eq!(
        hex::encode(*seed_from_mnemonic(&mnemonic, "TREZOR")),
        "bda85446c68413707090a52022edd26a1c9462295029f2e60cd7c4f2bbd30971\
         70af7a4d73245cafa9c3cca8d561a7c3de6f5d4a10be8ed2a5e608d68f92fcc8"
    );
    // The empty passphrase, which the wallet uses.
    assert_eq!(
        hex::encode(*seed_from_mnemonic(&mnemonic, "")),
        "408b285c123836004f4b8842c89324c1f01382450c0d439af345ba7fc49acf70\
         5489c6fc77dbd4e3dc1dd8cc6bc9f043db8ada1e243c4a0eafb290d399480840"
    );
    // Our path, computed independently (Python's hashlib and hmac) from the same seed: a change
    // of coin type or path shape would move every user's keys, so it must fail here.
    let key = key_from_mnemonic(&mnemonic, &DerivationPath::cairn(0).unwrap()).unwrap();
    assert_eq!(
        hex::encode(key.seed()),
        "5880e55636467ab9ed93ec7ea59cb71ce4eed68fcd0af18cb4a00537db6e0392"
    );
    let account1 = key_from_mnemonic(&mnemonic, &DerivationPath::cairn(1).unwrap()).unwrap();
    assert_eq!(
        hex::encode(account1.seed()),
        "700eaac75b4d807a19e741bd88b355ed0b0d73e03bcfe603e787658a03b15c7d"
    );
}

#[test]
fn new_mnemonics_have_24_words_and_round_trip() {
    let first = generate_mnemonic().unwrap();
    let second = generate_mnemonic().unwrap();
    assert_eq!(first.word_count(), MNEMONIC_WORDS);
    assert_ne!(first.to_string(), second.to_string());
    let text = first.to_string();
    let parsed = parse_mnemonic(&text).unwrap();
    assert_eq!(parsed.to_entropy(), first.to_entropy());
    // Case and white space do not matter.
    let sloppy = format!("  {}\n", text.to_uppercase().replace(' ', " \t "));
    assert_eq!(
        parse_mnemonic(&sloppy).unwrap().to_entropy(),
        first.to_entropy()
    );
    // The same words give the same key.
    let path = DerivationPath::cairn(0).unwrap();
    assert_eq!(
        key_from_mnemonic(&first, &path).unwrap().public_key(),
        key_from_mnemonic(&parsed, &path).unwrap().public_key()
    );
}

#[test]
fn bad_mnemonics_are_refused() {
    let words: Vec<String> = generate_mnemonic()
        .unwrap()
        .words()
        .map(str::to_string)
        .collect();
    // A swapped pair of distinct words breaks the checksum (the 24th word carries 8 bits of it).
    let mut swapped = words.clone();
    let other = (1..24).find(|i| swapped[*i] != swapped[0]).unwrap();
    swapped.swap(0, other);
    let mut unknown = words.clone();
    unknown[5] = "cairnish".into();
    for bad in [
        swapped.join(" "),
        unknown.join(" "),
        words[..23].join(" "),
        String::new(),
        "abandon".into(),
    ] {
        assert!(
            matches!(
                parse_mnemonic(&bad),
                Err(WalletError::InvalidMnemonic { .. })
            ),
            "{bad:?} parsed"
        );
    }
}

#[test]
fn raw_secret_keys_parse_with_or_without_0x() {
    let key = SecretKey::from_seed([9; 32]);
    let text = hex::encode(key.seed());
    assert_eq!(
        parse_secret_key(&format!("0x{text}\n"))
            .unwrap()
            .public_key(),
        key.public_key()
    );
    assert_eq!(
        parse_secret_key(&text).unwrap().public_key(),
        key.public_key()
    );
    for bad in ["0x", "0x1234", "zz", &format!("0x{text}00")] {
        assert!(parse_secret_key(bad).is_err(), "{bad:?} parsed");
    }
}

// ---------------------------------------------------------------------------------------------
// The keystore

fn sample_keystore(passphrase: &str) -> (SecretKey, Keystore) {
    let key = SecretKey::from_seed([42; 32]);
    let origin = KeyOrigin::Mnemonic {
        path: DerivationPath::cairn(3).unwrap(),
    };
    let keystore = Keystore::encrypt(&key, origin, passphrase.as_bytes(), test_kdf()).unwrap();
    (key, keystore)
}

/// The keystore's JSON with one field changed by `edit`, read back.
fn edited(
    keystore: &Keystore,
    edit: impl FnOnce(&mut serde_json::Value),
) -> Result<Keystore, WalletError> {
    let mut json: serde_json::Value = serde_json::from_str(&keystore.to_json()).unwrap();
    edit(&mut json);
    Keystore::from_json(&json.to_string(), Path::new("edited.json"))
}

fn flip_hex_digit(value: &mut serde_json::Value) {
    let text = value.as_str().unwrap().to_string();
    let mut chars: Vec<char> = text.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == '0' { '1' } else { '0' };
    *value = serde_json::Value::String(chars.into_iter().collect());
}

#[test]
fn keystore_round_trips_through_its_file_format() {
    let (key, keystore) = sample_keystore("correct horse");
    let text = keystore.to_json();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["version"], 1);
    assert_eq!(json["crypto"]["kdf"], "argon2id");
    assert_eq!(json["crypto"]["cipher"], "chacha20poly1305");
    assert_eq!(json["origin"]["path"], "m/44'/17217'/3'/0'/0'");
    assert!(
        !text.contains(&hex::encode(key.seed())),
        "the secret is in the clear"
    );
    let read = Keystore::from_json(&text, Path::new("k.json")).unwrap();
    assert_eq!(read, keystore);
    assert_eq!(read.address, Address::from_public_key(&key.public_key()));
    let unlocked = read.decrypt(b"correct horse", Path::new("k.json")).unwrap();
    assert_eq!(unlocked.seed(), key.seed());
    // Fresh salt and nonce every time: the same key and passphrase never give the same file.
    let (_, again) = sample_keystore("correct horse");
    assert_ne!(again.to_json(), text);
}

#[test]
fn the_default_kdf_is_strong_and_works() {
    let default = KdfParams::default();
    assert!(default.memory_kib >= 64 * 1024 && default.iterations >= 3);
    assert!(!default.is_weaker_than_default());
    assert!(test_kdf().is_weaker_than_default());
    let key = SecretKey::from_seed([5; 32]);
    let keystore = Keystore::encrypt(&key, KeyOrigin::SecretKey, b"pass", default).unwrap();
    let unlocked = keystore.decrypt(b"pass", Path::new("k.json")).unwrap();
    assert_eq!(unlocked.public_key(), key.public_key());
}

#[test]
fn wrong_passphrase_is_refused_clearly() {
    let (_, keystore) = sample_keystore("correct horse");
    let error = keystore
        .decrypt(b"correct horse!", Path::new("k.json"))
        .unwrap_err();
    assert!(error.is_decryption_failure(), "{error}");
    assert!(error.to_string().contains("wrong passphrase"), "{error}");
    assert!(Keystore::encrypt(
        &SecretKey::from_seed([1; 32]),
        KeyOrigin::SecretKey,
        b"",
        test_kdf()
    )
    .is_err());
}

#[test]
fn tampered_keystores_are_refused() {
    let (_, keystore) = sample_keystore("pw");
    let other_key = SecretKey::from_seed([43; 32]);
    type Edit = Box<dyn FnOnce(&mut serde_json::Value)>;
    // Edits that still parse: decryption must fail (the AEAD binds them).
    let bound: Vec<(&str, Edit)> = vec![
        (
            "ciphertext",
            Box::new(|j| flip_hex_digit(&mut j["crypto"]["ciphertext"])),
        ),
        (
            "nonce",
            Box::new(|j| flip_hex_digit(&mut j["crypto"]["nonce"])),
        ),
        (
            "salt",
            Box::new(|j| flip_hex_digit(&mut j["crypto"]["kdfParams"]["salt"])),
        ),
        (
            "iterations",
            Box::new(|j| j["crypto"]["kdfParams"]["iterations"] = 4.into()),
        ),
        (
            "memory",
            Box::new(|j| j["crypto"]["kdfParams"]["memoryKib"] = 128.into()),
        ),
        (
            "origin path",
            Box::new(|j| j["origin"]["path"] = "m/44'/17217'/4'/0'/0'".into()),
        ),
        (
            "origin kind",
            Box::new(|j| j["origin"] = serde_json::json!({"type": "secretKey"})),
        ),
        ("public key and address", {
            let public = other_key.public_key();
            Box::new(move |j| {
                j["publicKey"] = public.to_string().into();
                j["address"] = Address::from_public_key(&public).to_string().into();
            })
        }),
    ];
    for (what, edit) in bound {
        let read = edited(&keystore, edit).unwrap_or_else(|e| panic!("{what}: {e}"));
        let error = read.decrypt(b"pw", Path::new("k.json")).unwrap_err();
        assert!(error.is_decryption_failure(), "{what}: {error}");
    }
    // Edits refused when the file is read.
    let refused: Vec<(&str, Edit)> = vec![
        ("version 2", Box::new(|j| j["version"] = 2.into())),
        (
            "no version",
            Box::new(|j| {
                j.as_object_mut().unwrap().remove("version");
            }),
        ),
        ("address of another key", {
            let address = Address::from_public_key(&other_key.public_key()).to_string();
            Box::new(move |j| j["address"] = address.into())
        }),
        (
            "unknown kdf",
            Box::new(|j| j["crypto"]["kdf"] = "scrypt".into()),
        ),
        (
            "unknown cipher",
            Box::new(|j| j["crypto"]["cipher"] = "aes".into()),
        ),
        (
            "huge memory",
            Box::new(|j| j["crypto"]["kdfParams"]["memoryKib"] = u32::MAX.into()),
        ),
        (
            "zero iterations",
            Box::new(|j| j["crypto"]["kdfParams"]["iterations"] = 0.into()),
        ),
        (
            "short ciphertext",
            Box::new(|j| j["crypto"]["ciphertext"] = "0x00".into()),
        ),
        (
            "short salt",
            Box::new(|j| j["crypto"]["kdfParams"]["salt"] = "0x00".into()),
        ),
        ("unknown field", Box::new(|j| j["extra"] = 1.into())),
        (
            "non-hardened path",
            Box::new(|j| j["origin"]["path"] = "m/44'/0".into()),
        ),
    ];
    for (what, edit) in refused {
        assert!(edited(&keystore, edit).is_err(), "{what} was accepted");
    }
    let error = edited(&keystore, |j| j["version"] = 2.into()).unwrap_err();
    assert!(
        error.to_string().contains("version 2 is not supported"),
        "{error}"
    );
}

// ---------------------------------------------------------------------------------------------
// The wallet directory

#[test]
fn wallet_files_are_private_and_never_overwritten() {
    let temp = tempfile::tempdir().unwrap();
    let wallet = WalletDir::new(temp.path().join("wallet"));
    assert!(wallet.names().unwrap().is_empty());
    assert!(matches!(
        wallet.resolve(None),
        Err(WalletError::EmptyWallet { .. })
    ));

    let (key, keystore) = sample_keystore("pw");
    let path = wallet.save("alice", &keystore).unwrap();
    let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(wallet.path()), 0o700);
    assert!(matches!(
        wallet.save("alice", &keystore),
        Err(WalletError::KeyExists { .. })
    ));
    // No temporary file is left behind.
    assert_eq!(fs::read_dir(wallet.path()).unwrap().count(), 1);

    let stored = wallet.load("alice").unwrap();
    assert_eq!(
        stored.address(),
        Address::from_public_key(&key.public_key())
    );
    assert_eq!(stored.unlock(b"pw").unwrap().seed(), key.seed());
    assert!(stored.unlock(b"nope").unwrap_err().is_decryption_failure());
    assert!(matches!(
        wallet.load("bob"),
        Err(WalletError::NoSuchKey { .. })
    ));

    // One key: the default. Two: ambiguous unless one is called "default".
    assert_eq!(wallet.resolve(None).unwrap().name, "alice");
    wallet.save("bob", &sample_keystore("pw").1).unwrap();
    assert!(matches!(
        wallet.resolve(None),
        Err(WalletError::AmbiguousKey { .. })
    ));
    wallet.save("default", &sample_keystore("pw").1).unwrap();
    assert_eq!(wallet.resolve(None).unwrap().name, "default");
    assert_eq!(wallet.names().unwrap(), ["alice", "bob", "default"]);

    for bad in ["", "../x", "a/b", ".hidden", "spa ce", &"x".repeat(65)] {
        assert!(
            matches!(
                wallet.save(bad, &keystore),
                Err(WalletError::InvalidName { .. })
            ),
            "{bad:?} accepted"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Arguments

#[test]
fn arguments_parse_as_documented() {
    let args = parse_args([
        "cairn-wallet",
        "--wallet-dir",
        "/tmp/w",
        "send",
        "--to",
        "cairn1xyz",
        "--amount",
        "5",
        "--wait",
        "--rpc",
        "http://127.0.0.1:9",
    ])
    .unwrap();
    assert_eq!(args.rpc, "http://127.0.0.1:9");
    match args.command {
        WalletCommand::Send(send) => {
            assert_eq!(
                (send.amount, send.fee, send.wait, send.wait_secs),
                (5, 1, true, 30)
            );
        }
        other => panic!("{other:?}"),
    }
    let import = parse_args(["w", "import", "funded", "--secret-key"]).unwrap();
    assert!(matches!(import.command, WalletCommand::Import(ref a) if a.name == "funded"));
    // Exactly one kind of import; --genesis only with --verify; a bounded wait.
    for bad in [
        &["w", "import"][..],
        &["w", "import", "--mnemonic", "--secret-key"],
        &["w", "import", "--secret-key", "--account", "1"],
        &["w", "balance", "--genesis", "g.json"],
        &[
            "w",
            "send",
            "--to",
            "x",
            "--amount",
            "1",
            "--wait-secs",
            "0",
        ],
        &["w", "send", "--to", "x", "--amount", "-1"],
    ] {
        assert!(parse_args(bad.iter().copied()).is_err(), "{bad:?} parsed");
    }
}

/// `cairn`'s `main.rs` nests the wallet as `cairn wallet …`; the same shape here.
#[derive(clap::Parser, Debug)]
#[command(name = "cairn")]
struct NestedCli {
    #[command(subcommand)]
    command: NestedCommand,
}

#[derive(clap::Subcommand, Debug)]
enum NestedCommand {
    Wallet(WalletArgs),
}

#[test]
fn the_wallet_nests_under_cairn_with_global_options() {
    use clap::{CommandFactory, Parser};
    NestedCli::command().debug_assert();
    // Global options may come before or after the subcommand.
    for argv in [
        &[
            "cairn",
            "wallet",
            "--rpc",
            "http://n:1",
            "balance",
            "bob",
            "--verify",
        ][..],
        &[
            "cairn",
            "wallet",
            "balance",
            "bob",
            "--verify",
            "--rpc",
            "http://n:1",
        ],
    ] {
        let NestedCommand::Wallet(args) = NestedCli::try_parse_from(argv).unwrap().command;
        assert_eq!(args.rpc, "http://n:1");
        assert!(matches!(
            args.command,
            WalletCommand::Balance { verify: true, ref target, .. } if target.as_deref() == Some("bob")
        ));
    }
}

// ---------------------------------------------------------------------------------------------
// Verifying an account answer

/// A one-block chain in a real store, and the `state_getProof` answer a node would give for
/// `address`, with precommits from every validator.
struct SignedChain {
    devnet: devnet::Devnet,
    block: Block,
    funded: Address,
    store: LedgerStore,
    /// After the store, so the store closes first.
    _dir: tempfile::TempDir,
}

impl SignedChain {
    fn new() -> SignedChain {
        let devnet = devnet::generate(&DevnetSpec {
            validators: 4,
            accounts: 2,
            seed: Some([7; 32]),
            ..DevnetSpec::default()
        })
        .unwrap();
        let genesis = &devnet.genesis;
        let dir = tempfile::tempdir().unwrap();
        let store = LedgerStore::open(dir.path(), StoreConfig::default()).unwrap();
        store
            .commit_genesis(genesis.chain_id(), genesis.hash(), &genesis.accounts())
            .unwrap();
        let sender = &devnet.account_keys[0];
        let recipient = Address::from_public_key(&devnet.account_keys[1].public_key());
        let transfer =
            cairn_ledger::testing::transfer(sender, genesis.chain_id(), 0, recipient, 77, 1);
        let (block, mut execution) = store
            .propose_block(
                1_700_000_000_000,
                genesis.validators()[0].address(),
                genesis.validator_set_hash(),
                vec![transfer],
                SignaturePolicy::VerifyAll,
            )
            .unwrap();
        store
            .commit_block(&block, &mut execution, b"certificate")
            .unwrap();
        SignedChain {
            funded: recipient,
            devnet,
            block,
            store,
            _dir: dir,
        }
    }

    fn trusted(&self) -> TrustedValidators {
        TrustedValidators::from_genesis(&self.devnet.genesis).unwrap()
    }

    fn precommit(&self, key: &SecretKey, header: &RpcHeader, round: u32) -> RpcCommitSignature {
        let vote = Vote::<CairnContext> {
            height: header.height,
            round: Round(round),
            vote_type: VoteType::Precommit,
            value: Some(header.hash.0),
            validator: key.public_key(),
        };
        RpcCommitSignature {
            validator: key.public_key(),
            signature: key.sign(&vote_sign_bytes(self.devnet.genesis.chain_id(), &vote)),
        }
    }

    fn answer(&self, address: &Address) -> RpcAccountProof {
        let proof = self.store.account_proof(address, 1).unwrap();
        let header = RpcHeader::from(&self.block.header);
        let precommits = self
            .devnet
            .validator_keys
            .iter()
            .map(|key| self.precommit(key, &header, 0))
            .collect();
        RpcAccountProof {
            address: *address,
            height: 1,
            state_root: proof.state_root,
            state_key: address.state_key(),
            account: proof.account.map(RpcAccount::from),
            proof: RpcMerkleProof::from(&proof.proof),
            commit: Some(RpcCommit {
                height: 1,
                round: 0,
                block_hash: header.hash,
                precommits,
            }),
            header: Some(header),
        }
    }
}

#[test]
fn an_honest_answer_verifies() {
    let chain = SignedChain::new();
    let trusted = chain.trusted();
    let verified =
        verify_account_answer(&chain.answer(&chain.funded), &chain.funded, &trusted).unwrap();
    assert_eq!(verified.height, 1);
    assert_eq!(verified.validators, 4);
    assert_eq!(verified.signers, 4);
    assert_eq!(verified.block_hash, chain.block.hash());
    assert_eq!(verified.state().balance, 1_000_000_000_000 + 77);
    // Three of four precommits are more than 2/3 of the power.
    let mut three = chain.answer(&chain.funded);
    three.commit.as_mut().unwrap().precommits.truncate(3);
    assert_eq!(
        verify_account_answer(&three, &chain.funded, &trusted)
            .unwrap()
            .signers,
        3
    );
    // An address with no account: proven absent.
    let nobody = Address([0xAB; 20]);
    let absent = verify_account_answer(&chain.answer(&nobody), &nobody, &trusted).unwrap();
    assert_eq!(absent.account, None);
    assert_eq!(absent.state().balance, 0);
}

#[test]
fn every_broken_link_is_refused() {
    let chain = SignedChain::new();
    let trusted = chain.trusted();
    let outsider = SecretKey::from_seed([99; 32]);
    type Tamper<'a> = Box<dyn Fn(&mut RpcAccountProof) + 'a>;
    fn header(answer: &RpcAccountProof) -> RpcHeader {
        answer.header.clone().unwrap()
    }
    fn commit(answer: &mut RpcAccountProof) -> &mut RpcCommit {
        answer.commit.as_mut().unwrap()
    }
    let cases: Vec<(&str, Tamper)> = vec![
        (
            "a proof byte flipped",
            Box::new(|a| {
                let last = a.proof.encoded.len() - 1;
                a.proof.encoded[last] ^= 1;
            }),
        ),
        (
            "a sibling hash changed",
            Box::new(|a| {
                let middle = a.proof.encoded.len() / 2;
                a.proof.encoded[middle] ^= 0x80;
            }),
        ),
        (
            "the state root changed",
            Box::new(|a| a.state_root.0[0] ^= 1),
        ),
        (
            "the balance inflated",
            Box::new(|a| a.account.as_mut().unwrap().balance += 1),
        ),
        ("the account hidden", Box::new(|a| a.account = None)),
        (
            "the header's time changed",
            Box::new(|a| a.header.as_mut().unwrap().time_ms += 1),
        ),
        (
            "the header re-hashed, the commit following it",
            Box::new(|a| {
                let mut block_header = header(a).to_header().unwrap();
                block_header.time_ms += 1;
                let rehashed = RpcHeader::from(&block_header);
                commit(a).block_hash = rehashed.hash;
                a.header = Some(rehashed);
            }),
        ),
        ("the header at another height", Box::new(|a| a.height = 2)),
        (
            "no header or commit",
            Box::new(|a| {
                a.header = None;
                a.commit = None;
            }),
        ),
        (
            "a signature byte flipped",
            Box::new(|a| commit(a).precommits[0].signature.0[5] ^= 1),
        ),
        ("another round", Box::new(|a| commit(a).round = 1)),
        (
            "only two of four precommits",
            Box::new(|a| commit(a).precommits.truncate(2)),
        ),
        (
            "one validator counted twice",
            Box::new(|a| {
                let first = commit(a).precommits[0].clone();
                let precommits = &mut commit(a).precommits;
                precommits.truncate(2);
                precommits.push(first);
            }),
        ),
        (
            "a precommit from an outsider",
            Box::new(|a| {
                let signed = chain.precommit(&outsider, &header(a), 0);
                let precommits = &mut commit(a).precommits;
                precommits.truncate(2);
                precommits.push(signed);
            }),
        ),
    ];
    for (what, tamper) in cases {
        let mut answer = chain.answer(&chain.funded);
        tamper(&mut answer);
        let error = verify_account_answer(&answer, &chain.funded, &trusted).unwrap_err();
        assert!(error.is_unverified(), "{what}: {error}");
    }
    // An honest answer about another address.
    let other = Address::from_public_key(&chain.devnet.account_keys[0].public_key());
    assert!(verify_account_answer(&chain.answer(&other), &chain.funded, &trusted).is_err());

    // The same answer against a genesis the wallet was not given: other validators, or the same
    // validators on another chain.
    let honest = chain.answer(&chain.funded);
    for spec in [
        DevnetSpec {
            validators: 4,
            accounts: 2,
            seed: Some([8; 32]),
            ..DevnetSpec::default()
        },
        DevnetSpec {
            chain_id: "cairn-elsewhere".into(),
            validators: 4,
            accounts: 2,
            seed: Some([7; 32]),
            ..DevnetSpec::default()
        },
    ] {
        let other = devnet::generate(&spec).unwrap();
        let trusted = TrustedValidators::from_genesis(&other.genesis).unwrap();
        let error = verify_account_answer(&honest, &chain.funded, &trusted).unwrap_err();
        assert!(error.is_unverified(), "{error}");
    }
}
