//! The one canonical binary encoding of everything that is hashed or signed.
//!
//! It is [borsh]: integers little-endian at fixed width, byte arrays as they are, strings and
//! vectors behind a `u32` little-endian length, enums behind a one-byte variant index, structs as
//! their fields in declaration order. Every value of our types has exactly one encoding, and
//! [`decode`] accepts exactly those bytes: a wrong variant tag, a short input or any trailing byte is
//! an error. `docs/encoding.md` spells the layout out byte by byte.

use borsh::{BorshDeserialize, BorshSerialize};

use crate::error::LedgerError;

/// Encodes `value` canonically.
pub fn encode<T: BorshSerialize>(value: &T) -> Vec<u8> {
    // Writing into a Vec cannot fail; borsh's io::Result only matters for real writers.
    borsh::to_vec(value).unwrap_or_default()
}

/// Encodes `value` canonically into `out`, replacing what it held: for loops that encode many
/// values and would otherwise allocate for each.
pub fn encode_into<T: BorshSerialize>(value: &T, out: &mut Vec<u8>) {
    out.clear();
    // As in `encode`: writing into a Vec cannot fail.
    let _ = borsh::to_writer(out, value);
}

/// Appends the canonical encoding of `value` to `out`: for many values in one buffer.
pub fn encode_append<T: BorshSerialize>(value: &T, out: &mut Vec<u8>) {
    // As in `encode`: writing into a Vec cannot fail.
    let _ = borsh::to_writer(out, value);
}

/// Decodes `bytes` as a `T`, refusing anything but the canonical encoding of one value.
pub fn decode<T: BorshDeserialize + BorshSerialize>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, LedgerError> {
    let value = borsh::from_slice::<T>(bytes).map_err(|error| LedgerError::Decode {
        what,
        reason: error.to_string(),
    })?;
    // borsh already refuses trailing bytes and bad tags; re-encoding closes any gap left by a type
    // whose decoder is laxer than its encoder, so that one value never has two encodings.
    if encode(&value) != bytes {
        return Err(LedgerError::Decode {
            what,
            reason: "non-canonical encoding".into(),
        });
    }
    Ok(value)
}
