//! The simulated application: which values exist and which are valid.

use cairn_consensus::testing::test_signature;

/// Valid values are even, invalid ones odd.
pub fn is_valid(value: u64) -> bool {
    value & 1 == 0
}

fn mix(parts: &[u64]) -> u64 {
    let bytes: Vec<u8> = parts.iter().flat_map(|p| p.to_be_bytes()).collect();
    test_signature(0xa11ce, &bytes)
}

/// The value an honest proposer's application offers.
pub fn honest_value(seed: u64, node: usize, height: u64, round: u32) -> u64 {
    mix(&[seed, 1, node as u64, height, u64::from(round)]) & !1
}

/// A valid value a byzantine validator makes up.
pub fn byzantine_valid_value(seed: u64, node: usize, height: u64, round: u32, salt: u64) -> u64 {
    mix(&[seed, 2, node as u64, height, u64::from(round), salt]) & !1
}

/// An invalid value.
pub fn invalid_value(seed: u64, node: usize, height: u64, round: u32) -> u64 {
    mix(&[seed, 3, node as u64, height, u64::from(round)]) | 1
}
