//! How ledger values are written in JSON, in one place:
//!
//! - hashes, keys, signatures and byte strings: `0x`-prefixed lowercase hex (the prefix is optional
//!   on input);
//! - addresses: their bech32m text form (`cairn1…`);
//! - amounts (balances, fees, transfer amounts, voting power): decimal strings, because a `u64`
//!   does not fit a JSON number that JavaScript reads exactly;
//! - heights, nonces, indexes and counts: JSON numbers.
//!
//! Struct fields use the `serde(with = …)` modules here; method parameters use the newtypes
//! ([`HexHash`], [`Bech32Address`], [`HexBytes`], [`BlockTag`]), since a trait method's parameter
//! cannot carry a serde attribute.

use std::{fmt, str::FromStr};

use cairn_ledger::{Address, Hash, PublicKey, Signature};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

/// A value written as fixed-length hex.
pub(crate) trait FixedHex: Sized {
    const WHAT: &'static str;
    fn to_hex(&self) -> String;
    fn from_hex(text: &str) -> Option<Self>;
}

impl FixedHex for Hash {
    const WHAT: &'static str = "a 32-byte hash as 0x-hex";
    fn to_hex(&self) -> String {
        self.to_string()
    }
    fn from_hex(text: &str) -> Option<Self> {
        Hash::from_hex(text)
    }
}

impl FixedHex for PublicKey {
    const WHAT: &'static str = "a 32-byte public key as 0x-hex";
    fn to_hex(&self) -> String {
        self.to_string()
    }
    fn from_hex(text: &str) -> Option<Self> {
        PublicKey::from_hex(text)
    }
}

impl FixedHex for Signature {
    const WHAT: &'static str = "a 64-byte signature as 0x-hex";
    fn to_hex(&self) -> String {
        self.to_string()
    }
    fn from_hex(text: &str) -> Option<Self> {
        Signature::from_hex(text)
    }
}

/// `serde(with)` for a [`FixedHex`] value.
pub(crate) mod fixed_hex {
    use super::*;

    pub fn serialize<T: FixedHex, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_hex())
    }

    pub fn deserialize<'de, T: FixedHex, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<T, D::Error> {
        let text = String::deserialize(deserializer)?;
        T::from_hex(&text).ok_or_else(|| de::Error::custom(format!("expected {}", T::WHAT)))
    }
}

/// `serde(with)` for an optional [`FixedHex`] value (`null` when absent).
pub(crate) mod opt_fixed_hex {
    use super::*;

    pub fn serialize<T: FixedHex, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.serialize_str(&value.to_hex()),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, T: FixedHex, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<T>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| {
                T::from_hex(&text).ok_or_else(|| de::Error::custom(format!("expected {}", T::WHAT)))
            })
            .transpose()
    }
}

/// `serde(with)` for a byte string of any length as `0x`-hex.
pub(crate) mod bytes_hex {
    use super::*;

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("0x{}", hex::encode(bytes)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        decode_hex(&text).map_err(de::Error::custom)
    }
}

/// Decodes `0x`-prefixed (or bare) hex of any even length.
pub(crate) fn decode_hex(text: &str) -> Result<Vec<u8>, String> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    hex::decode(digits).map_err(|error| format!("expected 0x-hex bytes: {error}"))
}

/// `serde(with)` for an address in bech32m text.
pub(crate) mod address_text {
    use super::*;

    pub fn serialize<S: Serializer>(address: &Address, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(address)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Address, D::Error> {
        let text = String::deserialize(deserializer)?;
        Address::from_str(&text).map_err(de::Error::custom)
    }
}

/// `serde(with)` for an optional address (`null` when absent).
pub(crate) mod opt_address_text {
    use super::*;

    pub fn serialize<S: Serializer>(
        address: &Option<Address>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match address {
            Some(address) => serializer.collect_str(address),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Address>, D::Error> {
        Option::<String>::deserialize(deserializer)?
            .map(|text| Address::from_str(&text).map_err(de::Error::custom))
            .transpose()
    }
}

/// `serde(with)` for an amount as a decimal string: digits only, no sign, no exponent.
pub(crate) mod amount {
    use super::*;

    pub fn serialize<S: Serializer>(amount: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(amount)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_amount(&text).map_err(de::Error::custom)
    }
}

pub(crate) fn parse_amount(text: &str) -> Result<u64, String> {
    if text.is_empty() || !text.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!(
            "expected an amount as a decimal string, got {text:?}"
        ));
    }
    text.parse()
        .map_err(|_| format!("amount {text:?} does not fit 64 bits"))
}

/// A hash parameter: a block or transaction hash as `0x`-hex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HexHash(pub Hash);

impl From<Hash> for HexHash {
    fn from(hash: Hash) -> Self {
        HexHash(hash)
    }
}

impl Serialize for HexHash {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        fixed_hex::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for HexHash {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        fixed_hex::deserialize(deserializer).map(HexHash)
    }
}

/// An address parameter in bech32m text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Bech32Address(pub Address);

impl From<Address> for Bech32Address {
    fn from(address: Address) -> Self {
        Bech32Address(address)
    }
}

impl Serialize for Bech32Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        address_text::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for Bech32Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        address_text::deserialize(deserializer).map(Bech32Address)
    }
}

/// A byte-string parameter (a signed transaction's canonical bytes) as `0x`-hex.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct HexBytes(pub Vec<u8>);

impl From<Vec<u8>> for HexBytes {
    fn from(bytes: Vec<u8>) -> Self {
        HexBytes(bytes)
    }
}

impl Serialize for HexBytes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        bytes_hex::serialize(&self.0, serializer)
    }
}

impl<'de> Deserialize<'de> for HexBytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        bytes_hex::deserialize(deserializer).map(HexBytes)
    }
}

/// Which block: a height (a JSON number) or `"latest"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BlockTag {
    Latest,
    Height(u64),
}

impl From<u64> for BlockTag {
    fn from(height: u64) -> Self {
        BlockTag::Height(height)
    }
}

impl Serialize for BlockTag {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            BlockTag::Latest => serializer.serialize_str("latest"),
            BlockTag::Height(height) => serializer.serialize_u64(*height),
        }
    }
}

impl<'de> Deserialize<'de> for BlockTag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TagVisitor;

        impl de::Visitor<'_> for TagVisitor {
            type Value = BlockTag;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a height (a non-negative integer) or \"latest\"")
            }

            fn visit_u64<E: de::Error>(self, height: u64) -> Result<BlockTag, E> {
                Ok(BlockTag::Height(height))
            }

            fn visit_i64<E: de::Error>(self, height: i64) -> Result<BlockTag, E> {
                u64::try_from(height)
                    .map(BlockTag::Height)
                    .map_err(|_| E::invalid_value(de::Unexpected::Signed(height), &self))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<BlockTag, E> {
                match text {
                    "latest" => Ok(BlockTag::Latest),
                    _ => Err(E::invalid_value(de::Unexpected::Str(text), &self)),
                }
            }
        }

        deserializer.deserialize_any(TagVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn amounts_are_strict_decimal_strings() {
        assert_eq!(parse_amount("0"), Ok(0));
        assert_eq!(parse_amount("18446744073709551615"), Ok(u64::MAX));
        for bad in ["", "-1", "+1", "1e3", " 1", "0x10", "18446744073709551616"] {
            assert!(parse_amount(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn block_tag_reads_numbers_and_latest_only() {
        let read = |value| serde_json::from_value::<BlockTag>(value);
        assert_eq!(read(json!(7)).unwrap(), BlockTag::Height(7));
        assert_eq!(read(json!("latest")).unwrap(), BlockTag::Latest);
        assert!(read(json!(-1)).is_err());
        assert!(read(json!("7")).is_err());
        assert!(read(json!(1.5)).is_err());
        assert_eq!(serde_json::to_value(BlockTag::Height(3)).unwrap(), json!(3));
    }

    #[test]
    fn hex_and_addresses_round_trip() {
        let hash = HexHash(Hash::digest(b"x"));
        let text = serde_json::to_value(hash).unwrap();
        assert!(text.as_str().unwrap().starts_with("0x"));
        assert_eq!(serde_json::from_value::<HexHash>(text).unwrap(), hash);
        assert!(serde_json::from_value::<HexHash>(json!("0x12")).is_err());

        let address = Bech32Address(Address([9; 20]));
        let text = serde_json::to_value(address).unwrap();
        assert!(text.as_str().unwrap().starts_with("cairn1"));
        assert_eq!(
            serde_json::from_value::<Bech32Address>(text).unwrap(),
            address
        );

        let bytes = HexBytes(vec![1, 2, 255]);
        assert_eq!(serde_json::to_value(&bytes).unwrap(), json!("0x0102ff"));
        assert_eq!(
            serde_json::from_value::<HexBytes>(json!("0102ff")).unwrap(),
            bytes
        );
        assert!(serde_json::from_value::<HexBytes>(json!("0xzz")).is_err());
    }
}
