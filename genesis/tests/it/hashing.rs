//! The genesis hash depends on the genesis's meaning and on nothing else.

use cairn_genesis::{validator_set_hash, AccountEntry, Genesis, GenesisFile};
use cairn_ledger::{Hash, LedgerStore, StoreConfig};

use crate::{address, key, to_json, valid_file};

fn hash_of(file: &GenesisFile) -> Hash {
    Genesis::from_file(file.clone()).unwrap().hash()
}

/// Pins the hashed layout: if this changes, every existing chain's genesis hash changes with it.
#[test]
fn hash_is_pinned() {
    let genesis = Genesis::from_file(valid_file()).unwrap();
    assert_eq!(
        genesis.hash().to_string(),
        "0x61324c0a4c76078f72c61aa803694e763c103097b0d948fa36d90efea225bb13"
    );
    assert_eq!(
        genesis.validator_set_hash().to_string(),
        "0xb4f94ab326d75c321851767c989fab641a5cd9080f2963f8801975e79f1aa1aa"
    );
}

#[test]
fn formatting_and_key_order_do_not_matter() {
    let file = valid_file();
    let expected = hash_of(&file);
    let pretty = to_json(&file);
    let compact = serde_json::to_string(&file).unwrap();
    // Through a `Value`, object keys come out in alphabetical order, not declaration order.
    let value: serde_json::Value = serde_json::from_str(&pretty).unwrap();
    let sorted_keys = value.to_string();
    assert_ne!(sorted_keys, compact);
    let spaced = pretty.replace(": ", " :\t ").replace('\n', "\r\n\n");
    for text in [pretty, compact, sorted_keys, spaced] {
        assert_eq!(
            Genesis::from_json(&text).unwrap().hash(),
            expected,
            "{text}"
        );
    }
}

#[test]
fn the_same_instant_in_another_zone_is_the_same_genesis() {
    let mut file = valid_file();
    let expected = hash_of(&file);
    for text in [
        "2025-01-01T01:00:00+01:00",
        "2024-12-31T19:00:00.000-05:00",
        "2025-01-01t00:00:00z",
    ] {
        file.genesis_time = text.into();
        assert_eq!(hash_of(&file), expected, "{text}");
    }
}

#[test]
fn listing_order_and_hex_case_do_not_matter() {
    let file = valid_file();
    let genesis = Genesis::from_file(file.clone()).unwrap();
    let mut reordered = file.clone();
    reordered.validators.reverse();
    reordered.accounts.rotate_left(1);
    let reordered = Genesis::from_file(reordered).unwrap();
    assert_eq!(reordered.hash(), genesis.hash());
    assert_eq!(reordered.validator_set_hash(), genesis.validator_set_hash());

    let mut upper = file;
    upper.validators[0].public_key = upper.validators[0]
        .public_key
        .to_uppercase()
        .replacen("0X", "0x", 1);
    upper.accounts[0].address = upper.accounts[0].address.to_uppercase();
    assert_eq!(hash_of(&upper), genesis.hash());
}

#[test]
fn every_field_changes_the_hash() {
    type Change = fn(&mut GenesisFile);
    let changes: Vec<(&str, Change)> = vec![
        ("chain_id", |f| f.chain_id.push('2')),
        ("genesis_time", |f| {
            f.genesis_time = "2025-01-01T00:00:00.001Z".into()
        }),
        ("initial_height", |f| f.initial_height = 2),
        ("propose.base", |f| f.consensus.timeout_propose.base_ms += 1),
        ("propose.per_round", |f| {
            f.consensus.timeout_propose.per_round_ms += 1
        }),
        ("prevote.base", |f| f.consensus.timeout_prevote.base_ms += 1),
        ("prevote.per_round", |f| {
            f.consensus.timeout_prevote.per_round_ms += 1
        }),
        ("precommit.base", |f| {
            f.consensus.timeout_precommit.base_ms += 1
        }),
        ("precommit.per_round", |f| {
            f.consensus.timeout_precommit.per_round_ms += 1
        }),
        ("commit", |f| f.consensus.timeout_commit_ms += 1),
        ("max_block_bytes", |f| f.consensus.max_block_bytes -= 1),
        ("max_block_txs", |f| f.consensus.max_block_txs += 1),
        ("validator name", |f| f.validators[0].name.push('x')),
        ("validator key", |f| {
            f.validators[0].public_key = key(50).public_key().to_string()
        }),
        ("validator power", |f| f.validators[0].power += 1),
        ("validator removed", |f| {
            f.validators.pop();
        }),
        ("account address", |f| {
            f.accounts[0].address = address(50).to_string()
        }),
        ("account balance", |f| f.accounts[0].balance = "1".into()),
        ("account removed", |f| {
            f.accounts.pop();
        }),
        ("account added", |f| {
            f.accounts.push(AccountEntry {
                address: address(51).to_string(),
                balance: "0".into(),
            })
        }),
        // Moving value between two accounts keeps the total but not the genesis.
        ("balances swapped", |f| {
            let first = f.accounts[0].balance.clone();
            f.accounts[0].balance = f.accounts[1].balance.clone();
            f.accounts[1].balance = first;
        }),
    ];
    let mut seen = vec![(String::from("original"), hash_of(&valid_file()))];
    for (name, change) in changes {
        let mut file = valid_file();
        change(&mut file);
        let hash = hash_of(&file);
        if let Some((other, _)) = seen.iter().find(|(_, seen_hash)| *seen_hash == hash) {
            panic!("changing {name} gives the same hash as {other}");
        }
        seen.push((name.into(), hash));
    }
}

#[test]
fn validator_set_hash_covers_keys_and_powers_only() {
    let file = valid_file();
    let base = Genesis::from_file(file.clone()).unwrap();

    let mut renamed = file.clone();
    renamed.validators[0].name = "renamed".into();
    assert_eq!(
        Genesis::from_file(renamed).unwrap().validator_set_hash(),
        base.validator_set_hash()
    );

    let mut repowered = file.clone();
    repowered.validators[0].power += 1;
    assert_ne!(
        Genesis::from_file(repowered).unwrap().validator_set_hash(),
        base.validator_set_hash()
    );

    let mut rekeyed = file;
    rekeyed.validators[0].public_key = key(60).public_key().to_string();
    assert_ne!(
        Genesis::from_file(rekeyed).unwrap().validator_set_hash(),
        base.validator_set_hash()
    );

    // Equal to the free function over (key, power) pairs in any order.
    let mut pairs: Vec<_> = base
        .validators()
        .iter()
        .map(|v| (v.public_key, v.power))
        .collect();
    pairs.reverse();
    assert_eq!(validator_set_hash(&pairs), base.validator_set_hash());
    assert_ne!(base.validator_set_hash(), base.hash());
}

#[test]
fn accounts_commit_to_a_ledger_store() {
    let genesis = Genesis::from_file(valid_file()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = LedgerStore::open(dir.path(), StoreConfig::default()).unwrap();
    store
        .commit_genesis(genesis.chain_id(), genesis.hash(), &genesis.accounts())
        .unwrap();
    let meta = store.meta().unwrap();
    assert_eq!(meta.genesis_hash, genesis.hash());
    for funded in genesis.funded_accounts() {
        let account = store.account(&funded.address).unwrap().unwrap();
        assert_eq!((account.balance, account.nonce), (funded.balance, 0));
    }
}

/// Recomputes both hashes byte by byte from the table in the `canonical` module documentation.
#[test]
fn hashes_follow_the_documented_layout() {
    let genesis = Genesis::from_file(valid_file()).unwrap();
    let params = genesis.consensus();
    let mut body = Vec::new();
    body.extend_from_slice(&(genesis.chain_id().len() as u32).to_le_bytes());
    body.extend_from_slice(genesis.chain_id().as_bytes());
    for value in [
        genesis.genesis_time_ms(),
        genesis.initial_height(),
        params.timeout_propose.base_ms,
        params.timeout_propose.per_round_ms,
        params.timeout_prevote.base_ms,
        params.timeout_prevote.per_round_ms,
        params.timeout_precommit.base_ms,
        params.timeout_precommit.per_round_ms,
        params.timeout_commit_ms,
        params.max_block_bytes,
        params.max_block_txs,
    ] {
        body.extend_from_slice(&value.to_le_bytes());
    }
    let mut validators = genesis.validators().to_vec();
    validators.sort_by_key(|v| v.public_key.0);
    let mut set = Vec::new();
    body.extend_from_slice(&(validators.len() as u32).to_le_bytes());
    set.extend_from_slice(&(validators.len() as u32).to_le_bytes());
    for v in &validators {
        body.extend_from_slice(&v.public_key.0);
        body.extend_from_slice(&v.power.to_le_bytes());
        body.extend_from_slice(&(v.name.len() as u32).to_le_bytes());
        body.extend_from_slice(v.name.as_bytes());
        set.extend_from_slice(&v.public_key.0);
        set.extend_from_slice(&v.power.to_le_bytes());
    }
    let mut accounts = genesis.funded_accounts().to_vec();
    accounts.sort_by_key(|a| a.address.0);
    body.extend_from_slice(&(accounts.len() as u32).to_le_bytes());
    for a in &accounts {
        body.extend_from_slice(&a.address.0);
        body.extend_from_slice(&a.balance.to_le_bytes());
    }
    assert_eq!(
        genesis.hash(),
        Hash::digest_parts(&[b"cairn/genesis/v1", &body])
    );
    assert_eq!(
        genesis.validator_set_hash(),
        Hash::digest_parts(&[b"cairn/validator-set/v1", &set])
    );
}
