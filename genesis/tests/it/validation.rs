//! One test per rule: a valid document with one field broken is refused, and the error names
//! that field.

use cairn_genesis::{
    devnet, genesis::*, DevnetSpec, Genesis, GenesisError, GenesisFile, ValidatorEntry,
};
use cairn_ledger::block::MAX_BLOCK_BYTES;

use crate::{address, key, to_json, valid_file};

/// Applies `mutate` to a valid document and returns the validation error.
fn refuse(mutate: impl FnOnce(&mut GenesisFile)) -> GenesisError {
    let mut file = valid_file();
    mutate(&mut file);
    // Through the JSON text, as a node reads it, and straight from the parsed document.
    let from_text = Genesis::from_json(&to_json(&file)).expect_err("a broken genesis was accepted");
    let from_file = Genesis::from_file(file).expect_err("a broken genesis was accepted");
    assert_eq!(from_text.to_string(), from_file.to_string());
    from_text
}

/// Asserts that `error` names `field` and says `reason`.
#[track_caller]
fn assert_names(error: &GenesisError, field: &str, reason: &str) {
    assert_eq!(error.field(), Some(field), "{error}");
    let message = error.to_string();
    assert!(message.starts_with(&format!("{field}: ")), "{message}");
    assert!(
        message.contains(reason),
        "{message:?} does not say {reason:?}"
    );
}

#[test]
fn the_valid_document_is_accepted() {
    let genesis = Genesis::from_json(&to_json(&valid_file())).unwrap();
    assert_eq!(genesis.chain_id(), "cairn-test");
    assert_eq!(genesis.genesis_time_ms(), 1_735_689_600_000);
    assert_eq!(genesis.validators().len(), 4);
    assert_eq!(genesis.total_voting_power(), 10);
    assert_eq!(genesis.total_supply(), 1_000_000 * (100 + 101 + 102));
    assert_eq!(genesis.accounts()[0].0, address(100));
    assert_eq!(genesis.accounts()[0].1.nonce, 0);
}

#[test]
fn chain_id_must_be_1_to_64_safe_characters() {
    let error = refuse(|f| f.chain_id = String::new());
    assert_names(&error, "chain_id", "empty");
    let error = refuse(|f| f.chain_id = "a".repeat(65));
    assert_names(&error, "chain_id", "longer than 64");
    for bad in ["cairn test", "cairn/test", "cairné", "cairn\0", "cairn\n"] {
        let error = refuse(|f| f.chain_id = bad.into());
        assert_names(&error, "chain_id", "only letters, digits");
    }
    let mut file = valid_file();
    file.chain_id = format!("{}.-_AZ09", "a".repeat(57));
    assert_eq!(file.chain_id.len(), 64);
    Genesis::from_file(file).unwrap();
}

#[test]
fn genesis_time_must_be_rfc3339() {
    for bad in [
        "",
        "yesterday",
        "2025-01-01",
        "2025-02-30T00:00:00Z",
        "1969-12-31T23:59:59Z",
    ] {
        let error = refuse(|f| f.genesis_time = bad.into());
        assert_names(&error, "genesis_time", "invalid time");
    }
}

#[test]
fn initial_height_must_be_positive() {
    let error = refuse(|f| f.initial_height = 0);
    assert_names(&error, "initial_height", "0 is outside 1..=");
    let error = refuse(|f| f.initial_height = u64::MAX);
    assert_names(&error, "initial_height", "is outside 1..=");
}

#[test]
fn timeouts_must_be_positive_and_sane() {
    let too_long = MAX_TIMEOUT_MS + 1;
    type SetTimeout = fn(&mut GenesisFile, u64);
    let cases: [(&str, SetTimeout, u64); 7] = [
        (
            "consensus.timeout_propose.base_ms",
            |f, v| f.consensus.timeout_propose.base_ms = v,
            0,
        ),
        (
            "consensus.timeout_prevote.base_ms",
            |f, v| f.consensus.timeout_prevote.base_ms = v,
            0,
        ),
        (
            "consensus.timeout_precommit.base_ms",
            |f, v| f.consensus.timeout_precommit.base_ms = v,
            0,
        ),
        (
            "consensus.timeout_propose.per_round_ms",
            |f, v| f.consensus.timeout_propose.per_round_ms = v,
            too_long,
        ),
        (
            "consensus.timeout_prevote.per_round_ms",
            |f, v| f.consensus.timeout_prevote.per_round_ms = v,
            too_long,
        ),
        (
            "consensus.timeout_precommit.per_round_ms",
            |f, v| f.consensus.timeout_precommit.per_round_ms = v,
            too_long,
        ),
        (
            "consensus.timeout_commit_ms",
            |f, v| f.consensus.timeout_commit_ms = v,
            too_long,
        ),
    ];
    for (field, set, bad) in cases {
        let error = refuse(|f| set(f, bad));
        assert_names(&error, field, &format!("{bad} is outside"));
        let error = refuse(|f| set(f, u64::MAX));
        assert_names(&error, field, "is outside");
    }
    for field in ["timeout_propose", "timeout_prevote", "timeout_precommit"] {
        let error = refuse(|f| match field {
            "timeout_propose" => f.consensus.timeout_propose.base_ms = too_long,
            "timeout_prevote" => f.consensus.timeout_prevote.base_ms = too_long,
            _ => f.consensus.timeout_precommit.base_ms = too_long,
        });
        assert_names(
            &error,
            &format!("consensus.{field}.base_ms"),
            "is outside 1..=",
        );
    }
    // Zero increments and a zero commit timeout are legitimate settings.
    let mut file = valid_file();
    file.consensus.timeout_propose.per_round_ms = 0;
    file.consensus.timeout_commit_ms = 0;
    file.consensus.timeout_prevote.base_ms = MAX_TIMEOUT_MS;
    Genesis::from_file(file).unwrap();
}

#[test]
fn block_limits_stay_within_the_ledger() {
    let ledger_max = MAX_BLOCK_BYTES as u64;
    let error = refuse(|f| f.consensus.max_block_bytes = ledger_max + 1);
    assert_names(
        &error,
        "consensus.max_block_bytes",
        &format!("..={ledger_max}"),
    );
    let error = refuse(|f| f.consensus.max_block_bytes = 0);
    assert_names(&error, "consensus.max_block_bytes", "0 is outside");
    let error = refuse(|f| f.consensus.max_block_bytes = MIN_BLOCK_BYTES - 1);
    assert_names(&error, "consensus.max_block_bytes", "is outside");
    let error = refuse(|f| f.consensus.max_block_txs = 0);
    assert_names(&error, "consensus.max_block_txs", "0 is outside 1..=");
    let error = refuse(|f| f.consensus.max_block_txs = MAX_BLOCK_TXS + 1);
    assert_names(&error, "consensus.max_block_txs", "is outside");

    let mut file = valid_file();
    file.consensus.max_block_bytes = ledger_max;
    file.consensus.max_block_txs = MAX_BLOCK_TXS;
    Genesis::from_file(file.clone()).unwrap();
    file.consensus.max_block_bytes = MIN_BLOCK_BYTES;
    file.consensus.max_block_txs = 1;
    Genesis::from_file(file).unwrap();
}

#[test]
fn validator_set_must_not_be_empty_or_huge() {
    let error = refuse(|f| f.validators.clear());
    assert_names(&error, "validators", "empty validator set");
    let error = refuse(|f| {
        let one = f.validators[0].clone();
        f.validators = vec![one; MAX_VALIDATORS + 1];
    });
    assert_names(&error, "validators", &format!("at most {MAX_VALIDATORS}"));
}

#[test]
fn zero_voting_power_is_refused() {
    let error = refuse(|f| f.validators[2].power = 0);
    assert_eq!(error.to_string(), "validators[2].power: zero voting power");
    assert!(matches!(error, GenesisError::ZeroVotingPower { .. }));
}

#[test]
fn total_voting_power_is_bounded() {
    let error = refuse(|f| f.validators[1].power = MAX_TOTAL_VOTING_POWER);
    assert_names(&error, "validators[1].power", "total voting power exceeds");
    let error = refuse(|f| f.validators[3].power = u64::MAX);
    assert_names(&error, "validators[3].power", "total voting power exceeds");
    // u64 wrap-around would make the sum small again; it must be caught, not wrapped.
    let error = refuse(|f| {
        f.validators[0].power = u64::MAX;
        f.validators[1].power = 2;
    });
    assert_names(&error, "validators[0].power", "total voting power exceeds");

    let mut file = valid_file();
    file.validators.truncate(1);
    file.validators[0].power = MAX_TOTAL_VOTING_POWER;
    assert_eq!(
        Genesis::from_file(file).unwrap().total_voting_power(),
        MAX_TOTAL_VOTING_POWER
    );
}

#[test]
fn duplicate_validator_keys_are_refused() {
    let error = refuse(|f| f.validators[3].public_key = f.validators[1].public_key.clone());
    assert_names(
        &error,
        "validators[3].public_key",
        "already at validators[1]",
    );
    assert!(matches!(
        error,
        GenesisError::DuplicateValidator { first: 1, .. }
    ));
    // The same key in upper-case hex is the same key.
    let error = refuse(|f| {
        f.validators[3].public_key = f.validators[1]
            .public_key
            .to_uppercase()
            .replacen("0X", "0x", 1)
    });
    assert_names(
        &error,
        "validators[3].public_key",
        "duplicate validator key",
    );
}

#[test]
fn malformed_public_keys_are_refused() {
    let good = key(0).public_key().to_string();
    for (bad, reason) in [
        (
            good.trim_start_matches("0x").to_string(),
            "must start with 0x",
        ),
        (String::new(), "must start with 0x"),
        ("0x".to_string(), "64 hex digits"),
        (good[..good.len() - 2].to_string(), "64 hex digits"),
        (format!("{good}00"), "64 hex digits"),
        (format!("0x{}", "zz".repeat(32)), "not hex"),
        (format!("0x{}", "é".repeat(32)), "not hex"),
    ] {
        let error = refuse(|f| f.validators[2].public_key = bad.clone());
        assert_names(&error, "validators[2].public_key", reason);
    }
}

#[test]
fn small_order_keys_are_refused() {
    // The identity, and a point of order 4 (y = 0): under ZIP-215 anyone can sign for either.
    let identity = format!("0x01{}", "00".repeat(31));
    let order_four = format!("0x{}", "00".repeat(32));
    for bad in [identity, order_four] {
        let error = refuse(|f| f.validators[0].public_key = bad.clone());
        assert_names(&error, "validators[0].public_key", "small-order");
    }
}

#[test]
fn validator_names_are_checked() {
    let error = refuse(|f| f.validators[1].name = String::new());
    assert_names(&error, "validators[1].name", "empty");
    let error = refuse(|f| f.validators[1].name = "v".repeat(65));
    assert_names(&error, "validators[1].name", "longer than 64");
    let error = refuse(|f| f.validators[1].name = "bad\nname".into());
    assert_names(&error, "validators[1].name", "control character");
    let error = refuse(|f| f.validators[2].name = f.validators[0].name.clone());
    assert_names(&error, "validators[2].name", "already at validators[0]");

    let mut file = valid_file();
    file.validators[1].name = "validateur n°1 ✓".into();
    Genesis::from_file(file).unwrap();
}

#[test]
fn malformed_addresses_are_refused() {
    let good = address(7).to_string();
    let mut typo = good.clone().into_bytes();
    let last = typo.len() - 1;
    typo[last] = if typo[last] == b'q' { b'p' } else { b'q' };
    let typo = String::from_utf8(typo).unwrap();
    for bad in [
        String::new(),
        "cairn1".to_string(),
        typo,
        good.replacen("cairn", "cosmos", 1),
        format!("0x{}", "11".repeat(20)),
    ] {
        let error = refuse(|f| f.accounts[1].address = bad.clone());
        assert_names(&error, "accounts[1].address", "invalid address");
        assert!(matches!(error, GenesisError::InvalidAddress { .. }));
    }
}

#[test]
fn duplicate_accounts_are_refused() {
    let error = refuse(|f| f.accounts[2].address = f.accounts[0].address.clone());
    assert_names(&error, "accounts[2].address", "already at accounts[0]");
    // Upper case is the same address in bech32.
    let error = refuse(|f| f.accounts[2].address = f.accounts[0].address.to_uppercase());
    assert_names(&error, "accounts[2].address", "duplicate account");
}

#[test]
fn balances_are_canonical_decimal_u64() {
    for (bad, reason) in [
        ("", "empty"),
        ("-1", "only the digits"),
        ("+1", "only the digits"),
        ("1.0", "only the digits"),
        ("1e3", "only the digits"),
        (" 1", "only the digits"),
        ("0x10", "only the digits"),
        ("١", "only the digits"),
        ("01", "leading zero"),
        ("18446744073709551616", "does not fit in a u64"),
        ("99999999999999999999999999999", "does not fit in a u64"),
    ] {
        let error = refuse(|f| f.accounts[0].balance = bad.into());
        assert_names(&error, "accounts[0].balance", reason);
    }
    let mut file = valid_file();
    file.accounts[0].balance = "0".into();
    file.accounts.truncate(2);
    file.accounts[1].balance = u64::MAX.to_string();
    assert_eq!(Genesis::from_file(file).unwrap().total_supply(), u64::MAX);
}

#[test]
fn total_supply_must_fit_u64() {
    let error = refuse(|f| {
        f.accounts[0].balance = u64::MAX.to_string();
        f.accounts[1].balance = "1".into();
    });
    assert_eq!(
        error.to_string(),
        "accounts[1].balance: total supply overflows u64"
    );
    assert!(matches!(error, GenesisError::SupplyOverflow { .. }));
}

#[test]
fn too_many_accounts_are_refused_before_any_work() {
    let spec = DevnetSpec {
        accounts: MAX_ACCOUNTS + 1,
        seed: Some([0; 32]),
        ..Default::default()
    };
    let error = devnet::generate(&spec).unwrap_err();
    assert_names(&error, "accounts", &format!("at most {MAX_ACCOUNTS}"));
}

#[test]
fn unknown_fields_are_refused_at_every_level() {
    let base: serde_json::Value = serde_json::from_str(&to_json(&valid_file())).unwrap();
    let pointers = [
        "",
        "/consensus",
        "/consensus/timeout_prevote",
        "/validators/1",
        "/accounts/2",
    ];
    for pointer in pointers {
        let mut value = base.clone();
        value
            .pointer_mut(pointer)
            .unwrap()
            .as_object_mut()
            .unwrap()
            .insert("voting_powr".into(), serde_json::json!(1));
        let error = Genesis::from_json(&value.to_string()).unwrap_err();
        assert!(matches!(error, GenesisError::Json { .. }), "{error}");
        assert!(
            error.to_string().contains("unknown field `voting_powr`"),
            "{error}"
        );
    }
}

#[test]
fn missing_fields_and_wrong_types_are_refused() {
    let base: serde_json::Value = serde_json::from_str(&to_json(&valid_file())).unwrap();
    let cases: [(&str, &str, serde_json::Value); 4] = [
        ("", "initial_height", serde_json::Value::Null),
        ("/accounts/0", "balance", serde_json::json!(1000)),
        ("/validators/0", "power", serde_json::json!(-1)),
        ("/validators/0", "power", serde_json::json!(1.5)),
    ];
    for (pointer, key, replacement) in cases {
        let mut value = base.clone();
        let object = value.pointer_mut(pointer).unwrap().as_object_mut().unwrap();
        if replacement.is_null() {
            object.remove(key);
        } else {
            object.insert(key.into(), replacement);
        }
        let error = Genesis::from_json(&value.to_string()).unwrap_err();
        assert!(matches!(error, GenesisError::Json { .. }), "{error}");
    }
    for text in ["", "null", "[]", "{", "{}", "\"genesis\""] {
        assert!(
            matches!(Genesis::from_json(text), Err(GenesisError::Json { .. })),
            "{text:?}"
        );
    }
}

#[test]
fn the_first_broken_rule_is_reported() {
    // Validators are checked in order, so the first bad entry is the one named.
    let error = refuse(|f| {
        f.validators[1].power = 0;
        f.validators[3].power = 0;
    });
    assert_names(&error, "validators[1].power", "zero voting power");
    let error = refuse(|f| {
        f.validators.push(ValidatorEntry {
            name: "extra".into(),
            public_key: key(99).public_key().to_string(),
            power: 0,
        });
    });
    assert_names(&error, "validators[4].power", "zero voting power");
}

#[test]
fn load_reports_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let error = Genesis::load(dir.path().join("missing.json")).unwrap_err();
    assert!(matches!(error, GenesisError::Read { .. }), "{error}");
    assert!(error.field().is_none());
}
