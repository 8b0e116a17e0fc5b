//! No input makes validation panic, and whatever it accepts round-trips.

use cairn_genesis::{devnet, DevnetSpec, Genesis};
use proptest::prelude::*;
use serde_json::Value;

use crate::{to_json, valid_file};

/// If `text` is accepted, its canonical text is accepted too and means the same genesis.
fn check(text: &str) -> Result<(), TestCaseError> {
    if let Ok(genesis) = Genesis::from_json(text) {
        let again = Genesis::from_json(&genesis.to_json())
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(again.hash(), genesis.hash());
        prop_assert_eq!(again, genesis);
    }
    Ok(())
}

/// An arbitrary JSON value, biased towards the kinds that a genesis holds.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
        (0u64..5000).prop_map(Value::from),
        "\\PC{0,80}".prop_map(Value::String),
        "[0-9]{0,25}".prop_map(Value::String),
        "0x[0-9a-fA-F]{0,66}".prop_map(Value::String),
        "cairn1[02-9ac-hj-np-z]{30,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// Every path to a value inside `value`, as JSON pointers.
fn pointers(value: &Value, prefix: String, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                pointers(child, format!("{prefix}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (index, child) in items.iter().enumerate() {
                pointers(child, format!("{prefix}/{index}"), out);
            }
        }
        _ => {}
    }
    out.push(prefix);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        check(&text)?;
    }

    #[test]
    fn arbitrary_bytes_as_text_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn edited_valid_text_never_panics(
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6)
    ) {
        let mut bytes = to_json(&valid_file()).into_bytes();
        for (index, byte, kind) in edits {
            let at = index.index(bytes.len().max(1)).min(bytes.len());
            match kind {
                0 if at < bytes.len() => bytes[at] = byte,
                1 => bytes.insert(at, byte),
                _ if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => {}
            }
        }
        check(&String::from_utf8_lossy(&bytes))?;
    }

    #[test]
    fn any_value_anywhere_never_panics(
        choice in any::<prop::sample::Index>(),
        replacement in json_value(),
    ) {
        let mut value: Value = serde_json::from_str(&to_json(&valid_file())).unwrap();
        let mut paths = Vec::new();
        pointers(&value, String::new(), &mut paths);
        let path = choice.get(&paths).clone();
        if let Some(slot) = value.pointer_mut(&path) {
            *slot = replacement;
        }
        check(&value.to_string())?;
    }

    #[test]
    fn generated_devnets_round_trip(
        validators in 1usize..8,
        accounts in 0usize..8,
        balance in any::<u64>(),
        seed in any::<[u8; 32]>(),
        genesis_time_ms in 0u64..=253_402_300_799_999,
    ) {
        let spec = DevnetSpec {
            validators,
            accounts,
            balance: balance / (accounts.max(1) as u64),
            seed: Some(seed),
            genesis_time_ms,
            ..Default::default()
        };
        let devnet = devnet::generate(&spec).map_err(|e| TestCaseError::fail(e.to_string()))?;
        check(&devnet.genesis.to_json())?;
        let loaded = Genesis::from_json(&devnet.genesis.to_json()).unwrap();
        prop_assert_eq!(loaded.hash(), devnet.genesis.hash());
    }
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
        let text = format!("{}1{}", open.repeat(100_000), close.repeat(100_000));
        assert!(Genesis::from_json(&text).is_err());
        let inside = format!(
            "{{\"chain_id\":{}\"x\"{}}}",
            open.repeat(100_000),
            close.repeat(100_000)
        );
        assert!(Genesis::from_json(&inside).is_err());
    }
}
