//! The test vectors in docs/encoding.md are checked here, so the document cannot drift from the code.

use std::collections::HashMap;

use cairn_ledger::{
    testing::transfer, Address, Hash, Payload, PublicKey, SecretKey, Signature, SignedTransaction,
};

/// Reads the `name: `value`` lines of the "Test vector" section.
fn documented_vector() -> HashMap<String, String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/encoding.md");
    let text = std::fs::read_to_string(path).unwrap();
    let section = text
        .split("## Test vector")
        .nth(1)
        .expect("docs/encoding.md has a test vector");
    section
        .lines()
        .filter_map(|line| {
            let line = line.strip_prefix("- ")?;
            let (name, value) = line.split_once(": `")?;
            Some((
                name.trim().to_string(),
                value.strip_suffix('`')?.to_string(),
            ))
        })
        .collect()
}

fn hex_field(vector: &HashMap<String, String>, name: &str) -> Vec<u8> {
    let value = vector
        .get(name)
        .unwrap_or_else(|| panic!("vector field {name:?} is missing"));
    hex::decode(value.trim_start_matches("0x")).unwrap()
}

fn vector_transaction(vector: &HashMap<String, String>) -> SignedTransaction {
    let seed: [u8; 32] = hex_field(vector, "secret key seed").try_into().unwrap();
    let recipient_seed: [u8; 32] = hex_field(vector, "recipient key seed").try_into().unwrap();
    let recipient = Address::from_public_key(&SecretKey::from_seed(recipient_seed).public_key());
    let number = |name: &str| vector[name].parse::<u64>().unwrap();
    transfer(
        &SecretKey::from_seed(seed),
        &vector["chain id"],
        number("nonce"),
        recipient,
        number("amount"),
        number("fee"),
    )
}

#[test]
fn the_documented_vector_matches_the_code() {
    let vector = documented_vector();
    let tx = vector_transaction(&vector);
    assert_eq!(hex_field(&vector, "public key"), tx.tx.signer.0);
    assert_eq!(vector["sender address"], tx.tx.sender().to_string());
    let Payload::Transfer { to, .. } = tx.tx.payload;
    assert_eq!(vector["recipient address"], to.to_string());
    assert_eq!(hex_field(&vector, "signed bytes"), tx.tx.signing_bytes());
    assert_eq!(hex_field(&vector, "signature"), tx.signature.0);
    assert_eq!(hex_field(&vector, "signed transaction"), tx.encode());
    assert_eq!(Hash::from_hex(&vector["transaction hash"]), Some(tx.hash()));

    let decoded = SignedTransaction::decode(&hex_field(&vector, "signed transaction")).unwrap();
    assert!(decoded.verify_signature());
    let key = PublicKey(hex_field(&vector, "public key").try_into().unwrap());
    let signature = Signature(hex_field(&vector, "signature").try_into().unwrap());
    assert!(key.verify(&hex_field(&vector, "signed bytes"), &signature));
}

/// Prints the vector in the document's format: `cargo test -p cairn-ledger --test it
/// vectors::print -- --ignored --nocapture` regenerates it after a deliberate format change.
#[test]
#[ignore]
fn print_vector() {
    let seed = [0x11u8; 32];
    let recipient_seed = [0x22u8; 32];
    let key = SecretKey::from_seed(seed);
    let recipient = Address::from_public_key(&SecretKey::from_seed(recipient_seed).public_key());
    let tx = transfer(&key, "cairn-devnet", 7, recipient, 1_000_000, 10);
    println!("- secret key seed: `0x{}`", hex::encode(seed));
    println!("- public key: `0x{}`", hex::encode(tx.tx.signer.0));
    println!("- sender address: `{}`", tx.tx.sender());
    println!("- recipient key seed: `0x{}`", hex::encode(recipient_seed));
    println!("- recipient address: `{recipient}`");
    println!("- chain id: `cairn-devnet`");
    println!("- nonce: `7`");
    println!("- fee: `10`");
    println!("- amount: `1000000`");
    println!("- signed bytes: `0x{}`", hex::encode(tx.tx.signing_bytes()));
    println!("- signature: `0x{}`", hex::encode(tx.signature.0));
    println!("- signed transaction: `0x{}`", hex::encode(tx.encode()));
    println!("- transaction hash: `{}`", tx.hash());
}
