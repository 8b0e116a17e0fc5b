//! Ed25519 keys and signatures, with one verification rule shared by single and batch checks.
//!
//! # Why not ed25519-dalek's own `verify`
//!
//! RFC 8032 leaves implementations free to check a signature with or without multiplying by the
//! cofactor, and to accept or refuse non-canonical point encodings. Libraries differ on exactly
//! those signatures that an attacker can craft on purpose (small-order keys, `R` with a torsion
//! component, non-canonical encodings), and even one library differs from itself: ed25519-dalek's
//! `verify` is cofactorless while its batch check is cofactored with random coefficients, so a
//! crafted signature can pass one and fail the other, or fail a batch only some of the time. In a
//! ledger that splits the chain: one node checks a transaction alone, another checks the block in
//! a batch, and they disagree about the state.
//!
//! So validity here is a pure function of the bytes, the ZIP-215 rules (the ones Zcash adopted for
//! exactly this reason), implemented directly on curve25519-dalek:
//!
//! 1. The public key `A` and the signature's `R` are decoded from their 32 bytes as points of the
//!    curve, accepting non-canonical encodings (a `y` coordinate at or above p, or a "negative
//!    zero" `x`); bytes that are no point make the signature invalid. Accepting them costs nothing
//!    in security and means every signature any RFC 8032 signer ever produced stays valid.
//! 2. `S`, the second half of the signature, must be a canonical scalar (< ℓ); otherwise anyone
//!    could turn one valid signature into another by adding ℓ (malleability).
//! 3. `k = SHA-512(R ‖ A ‖ message) mod ℓ`, hashing the encodings exactly as given, never
//!    re-encoded.
//! 4. The signature is valid iff `[8]([S]B − R − [k]A)` is the identity.
//!
//! Rule 4 is the cofactored equation: multiplying by 8 wipes any small-order (torsion) component,
//! so whether a signature is valid never depends on which random multiples a batch happens to
//! apply to the torsion parts. That is what makes single and batch verification agree.
//!
//! # Batches
//!
//! A batch of `n` signatures is valid iff
//! `[8](−(Σ zᵢSᵢ)B + Σ zᵢRᵢ + Σ (zᵢkᵢ)Aᵢ)` is the identity, one multiscalar multiplication for the
//! whole batch. Write `Dᵢ = [Sᵢ]B − Rᵢ − [kᵢ]Aᵢ`; the batch point is `−Σ zᵢ[8]Dᵢ`. Each `[8]Dᵢ`
//! lies in the prime-order subgroup, and it is the identity exactly when signature `i` is valid
//! alone. Hence:
//!
//! - if every signature is valid, every term is the identity and the batch is valid, always;
//! - if signature `j` is invalid, `[8]Dⱼ` has order ℓ, and for any fixed choice of the other
//!   coefficients at most one value of `zⱼ` modulo ℓ makes the sum vanish.
//!
//! The coefficients `zᵢ` are 128-bit scalars, and the ledger must be a pure function, so they come
//! from no random source: they are SHA-512 outputs over a transcript of the whole batch (its
//! length, and for every entry the public key, `R`, `S` and the challenge hash that binds the
//! message), with the index `i` appended. This is the Fiat–Shamir idea: the coefficients are fixed
//! only after every value that enters the equation is fixed, so an attacker must commit to the
//! whole batch before learning them. Modelling SHA-512 as a random oracle, each batch an attacker
//! tries has a chance of at most 2⁻¹²⁷ of passing with an invalid member, so even 2⁸⁰ hash
//! evaluations spent searching leave a chance of 2⁻⁴⁷. Up to that negligible probability, a batch
//! is valid iff each of its members is valid alone.
//!
//! Large batches are checked in chunks to bound memory; every chunk uses coefficients derived
//! from the transcript of the whole batch, so chunking changes neither the result nor the
//! argument above.

use std::{fmt, sync::LazyLock};

use borsh::{BorshDeserialize, BorshSerialize};
use curve25519_dalek::{
    constants::ED25519_BASEPOINT_POINT,
    edwards::{CompressedEdwardsY, EdwardsPoint},
    scalar::Scalar,
    traits::{IsIdentity, VartimeMultiscalarMul},
};
use ed25519_dalek::Signer;
use quick_cache::sync::Cache;
use sha2::{Digest, Sha512};

/// Domain tag in front of the batch transcript, so that its digest is never the digest of
/// anything else this node hashes with SHA-512.
const BATCH_TRANSCRIPT_DOMAIN: &[u8] = b"cairn/ed25519/batch-transcript/v1";

/// Domain tag for deriving one coefficient from the transcript digest and an index.
const BATCH_COEFFICIENT_DOMAIN: &[u8] = b"cairn/ed25519/batch-coefficient/v1";

/// Signatures per multiscalar multiplication. Pippenger's method gains little past a few
/// thousand points, and this bounds the scratch memory however large a block is.
const BATCH_CHUNK: usize = 2048;

/// Public keys kept decoded. About 30 MB.
const DECODED_KEYS_CAPACITY: usize = 1 << 17;

/// Public keys decoded before, by their encoding. Decoding a point takes a square root in the
/// field, about 3 µs, which was a third of a batch check's cost per signature; and the same
/// accounts sign block after block. Decoding is a pure function of the 32 bytes, so an answer
/// kept is the answer, for every node and every batch alike.
static DECODED_KEYS: LazyLock<Cache<[u8; 32], Option<EdwardsPoint>>> =
    LazyLock::new(|| Cache::new(DECODED_KEYS_CAPACITY));

/// The point a public key encodes, or `None` if the bytes are no point.
fn decode_public_key(bytes: &[u8; 32]) -> Option<EdwardsPoint> {
    if let Some(point) = DECODED_KEYS.get(bytes) {
        return point;
    }
    let point = CompressedEdwardsY(*bytes).decompress();
    DECODED_KEYS.insert(*bytes, point);
    point
}

/// An ed25519 public key as its 32 encoded bytes; validity is checked when it verifies.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, BorshSerialize, BorshDeserialize)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// True iff `signature` is a valid signature of `message` under this key, by the rules in the
    /// module documentation; always the same answer as a batch containing it.
    pub fn verify(&self, message: &[u8], signature: &Signature) -> bool {
        let challenge = challenge_hash(&signature.r_bytes(), &self.0, message);
        Decoded::new(self, signature, &challenge).is_some_and(|decoded| decoded.holds_alone())
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses `0x`-prefixed (or bare) hex of exactly 32 bytes. Any 32 bytes are accepted: whether
    /// they are a usable key is decided when a signature is checked against them.
    pub fn from_hex(text: &str) -> Option<PublicKey> {
        let text = text.strip_prefix("0x").unwrap_or(text);
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(PublicKey(bytes))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({self})")
    }
}

/// An ed25519 signature: the encoding of `R`, then the scalar `S`, 32 bytes each.
#[derive(Clone, Copy, PartialEq, Eq, Hash, BorshSerialize, BorshDeserialize)]
pub struct Signature(pub [u8; 64]);

impl Signature {
    pub fn as_bytes(&self) -> &[u8; 64] {
        &self.0
    }

    /// Parses `0x`-prefixed (or bare) hex of exactly 64 bytes.
    pub fn from_hex(text: &str) -> Option<Signature> {
        let text = text.strip_prefix("0x").unwrap_or(text);
        let mut bytes = [0u8; 64];
        hex::decode_to_slice(text, &mut bytes).ok()?;
        Some(Signature(bytes))
    }

    fn r_bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&self.0[..32]);
        bytes
    }

    fn s_bytes(&self) -> [u8; 32] {
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(&self.0[32..]);
        bytes
    }
}

impl fmt::Display for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x{}", hex::encode(self.0))
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({self})")
    }
}

/// A secret signing key. It is wiped from memory when dropped, and its `Debug` shows only the
/// public key.
#[derive(Clone)]
pub struct SecretKey(ed25519_dalek::SigningKey);

impl SecretKey {
    /// The key whose RFC 8032 seed is `seed`.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        SecretKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// The RFC 8032 seed; whoever holds it can sign, so it must be handled as the key itself.
    pub fn seed(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.0.verifying_key().to_bytes())
    }

    /// A standard, deterministic RFC 8032 signature, valid under every Ed25519 rule set,
    /// including this module's.
    pub fn sign(&self, message: &[u8]) -> Signature {
        Signature(self.0.sign(message).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretKey")
            .field("public_key", &self.public_key())
            .finish_non_exhaustive()
    }
}

/// One entry of a batch.
#[derive(Clone, Copy, Debug)]
pub struct SignatureCheck<'a> {
    pub public_key: &'a PublicKey,
    pub message: &'a [u8],
    pub signature: &'a Signature,
}

/// True iff every signature is valid; the empty batch is valid. Gives the same answer as checking
/// each with [`PublicKey::verify`] (see the module documentation), at a fraction of the cost.
pub fn verify_batch(checks: &[SignatureCheck<'_>]) -> bool {
    let batch = PreparedBatch::new(checks);
    if batch.entries.iter().any(Option::is_none) {
        return false;
    }
    batch
        .entries
        .chunks(BATCH_CHUNK)
        .enumerate()
        .all(|(chunk_index, chunk)| batch.chunk_holds(chunk_index * BATCH_CHUNK, chunk))
}

/// Index of the first invalid signature, or `None` if all are valid.
///
/// The batch is checked first, so the common all-valid case costs one batch verification; only a
/// chunk whose batch equation fails is checked signature by signature. Chunks before it passed
/// their batch check, so (up to the negligible probability of the batch argument) none of them
/// holds an invalid signature and the first failure found is the first overall.
pub fn first_invalid(checks: &[SignatureCheck<'_>]) -> Option<usize> {
    let batch = PreparedBatch::new(checks);
    for (chunk_index, chunk) in batch.entries.chunks(BATCH_CHUNK).enumerate() {
        let start = chunk_index * BATCH_CHUNK;
        if batch.chunk_holds(start, chunk) {
            continue;
        }
        let invalid = chunk
            .iter()
            .position(|entry| !entry.as_ref().is_some_and(Decoded::holds_alone));
        if let Some(offset) = invalid {
            return Some(start + offset);
        }
    }
    None
}

/// SHA-512(R ‖ A ‖ message) over the encodings as given: hashing a canonical re-encoding
/// instead would make the signer and the verifier disagree on non-canonical inputs.
fn challenge_hash(r_bytes: &[u8; 32], a_bytes: &[u8; 32], message: &[u8]) -> [u8; 64] {
    Sha512::new()
        .chain_update(r_bytes)
        .chain_update(a_bytes)
        .chain_update(message)
        .finalize()
        .into()
}

/// The values the verification equation is made of.
struct Decoded {
    a: EdwardsPoint,
    r: EdwardsPoint,
    s: Scalar,
    k: Scalar,
}

impl Decoded {
    /// `None` when the signature is invalid before any curve arithmetic: `A` or `R` is not a
    /// point, or `S` is not canonical.
    fn new(public_key: &PublicKey, signature: &Signature, challenge: &[u8; 64]) -> Option<Self> {
        let a = decode_public_key(&public_key.0)?;
        let r = CompressedEdwardsY(signature.r_bytes()).decompress()?;
        let s = Option::<Scalar>::from(Scalar::from_canonical_bytes(signature.s_bytes()))?;
        let k = Scalar::from_bytes_mod_order_wide(challenge);
        Some(Decoded { a, r, s, k })
    }

    /// `[8]([S]B − R − [k]A) = 0`.
    fn holds_alone(&self) -> bool {
        let expected_r =
            EdwardsPoint::vartime_double_scalar_mul_basepoint(&-self.k, &self.a, &self.s);
        (expected_r - self.r).mul_by_cofactor().is_identity()
    }
}

/// A batch decoded once, with the digest of its transcript.
struct PreparedBatch {
    /// `None` where the entry is invalid already by its encoding.
    entries: Vec<Option<Decoded>>,
    transcript: [u8; 64],
}

impl PreparedBatch {
    fn new(checks: &[SignatureCheck<'_>]) -> Self {
        let mut transcript = Sha512::new();
        transcript.update(BATCH_TRANSCRIPT_DOMAIN);
        transcript.update((checks.len() as u64).to_le_bytes());
        let mut entries = Vec::with_capacity(checks.len());
        for check in checks {
            let challenge = challenge_hash(
                &check.signature.r_bytes(),
                &check.public_key.0,
                check.message,
            );
            // Fixed-length fields, so the concatenation is unambiguous. The challenge hash binds
            // the message; together these fix every value that enters the batch equation.
            transcript.update(check.public_key.0);
            transcript.update(check.signature.0);
            transcript.update(challenge);
            entries.push(Decoded::new(check.public_key, check.signature, &challenge));
        }
        PreparedBatch {
            entries,
            transcript: transcript.finalize().into(),
        }
    }

    /// The coefficient of entry `index`: 128 bits of SHA-512(domain ‖ transcript ‖ index). The
    /// low bit is forced to one so that no coefficient is zero, which would drop its entry from
    /// the equation; this leaves 127 bits of unpredictability.
    fn coefficient(&self, index: usize) -> Scalar {
        let digest = Sha512::new()
            .chain_update(BATCH_COEFFICIENT_DOMAIN)
            .chain_update(self.transcript)
            .chain_update((index as u64).to_le_bytes())
            .finalize();
        let mut low = [0u8; 16];
        low.copy_from_slice(&digest[..16]);
        Scalar::from(u128::from_le_bytes(low) | 1)
    }

    /// Whether the batch equation holds for the entries `start..start + chunk.len()`; false if
    /// any of them failed to decode.
    fn chunk_holds(&self, start: usize, chunk: &[Option<Decoded>]) -> bool {
        let mut scalars = Vec::with_capacity(1 + 2 * chunk.len());
        let mut points = Vec::with_capacity(1 + 2 * chunk.len());
        let mut basepoint_scalar = Scalar::ZERO;
        scalars.push(Scalar::ZERO);
        points.push(ED25519_BASEPOINT_POINT);
        for (offset, entry) in chunk.iter().enumerate() {
            let Some(decoded) = entry else {
                return false;
            };
            let z = self.coefficient(start + offset);
            basepoint_scalar -= z * decoded.s;
            scalars.push(z);
            points.push(decoded.r);
            scalars.push(z * decoded.k);
            points.push(decoded.a);
        }
        scalars[0] = basepoint_scalar;
        EdwardsPoint::vartime_multiscalar_mul(&scalars, &points)
            .mul_by_cofactor()
            .is_identity()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use curve25519_dalek::constants::EIGHT_TORSION;
    use ed25519_dalek::Verifier;
    use proptest::prelude::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha20Rng;

    use super::*;

    /// ℓ, the order of the prime-order subgroup, little-endian.
    const ELL: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde,
        0x14, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];

    /// A public key, message and signature, owned.
    #[derive(Clone, Debug)]
    struct Case {
        key: PublicKey,
        message: Vec<u8>,
        signature: Signature,
    }

    impl Case {
        fn check(&self) -> SignatureCheck<'_> {
            SignatureCheck {
                public_key: &self.key,
                message: &self.message,
                signature: &self.signature,
            }
        }

        fn single(&self) -> bool {
            self.key.verify(&self.message, &self.signature)
        }

        /// ed25519-dalek's own cofactorless `verify`, for comparison.
        fn dalek(&self) -> bool {
            let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(&self.key.0) else {
                return false;
            };
            let signature = ed25519_dalek::Signature::from_bytes(&self.signature.0);
            key.verify(&self.message, &signature).is_ok()
        }
    }

    fn secret(n: u64) -> SecretKey {
        let mut rng = ChaCha20Rng::seed_from_u64(n);
        SecretKey::from_seed(rng.gen())
    }

    fn honest(count: usize) -> Vec<Case> {
        (0..count)
            .map(|i| {
                let key = secret(i as u64);
                let message = format!("transfer {i}").into_bytes();
                Case {
                    key: key.public_key(),
                    signature: key.sign(&message),
                    message,
                }
            })
            .collect()
    }

    /// A valid signature of `message` by the key of seed `seed`.
    fn signed(seed: u64, message: &[u8]) -> Case {
        let key = secret(seed);
        Case {
            key: key.public_key(),
            message: message.to_vec(),
            signature: key.sign(message),
        }
    }

    fn checks(cases: &[Case]) -> Vec<SignatureCheck<'_>> {
        cases.iter().map(Case::check).collect()
    }

    fn encode(point: &EdwardsPoint) -> [u8; 32] {
        point.compress().to_bytes()
    }

    /// k as a verifier computes it, written out independently of the module's helpers.
    fn challenge(r_bytes: &[u8; 32], a_bytes: &[u8; 32], message: &[u8]) -> Scalar {
        let mut hasher = Sha512::new();
        hasher.update(r_bytes);
        hasher.update(a_bytes);
        hasher.update(message);
        Scalar::from_bytes_mod_order_wide(&hasher.finalize().into())
    }

    /// A signature under the key encoded as `a_bytes` with nonce point encoded as `r_bytes`,
    /// where `a` and `r` are the discrete logarithms of their prime-order parts:
    /// S = r + k·a. Any torsion in the encoded points is left for the verifier to deal with.
    fn craft(a_bytes: [u8; 32], a: Scalar, r_bytes: [u8; 32], r: Scalar, message: &[u8]) -> Case {
        let k = challenge(&r_bytes, &a_bytes, message);
        let s = r + k * a;
        Case {
            key: PublicKey(a_bytes),
            message: message.to_vec(),
            signature: signature_from(r_bytes, s.to_bytes()),
        }
    }

    fn signature_from(r_bytes: [u8; 32], s_bytes: [u8; 32]) -> Signature {
        let mut bytes = [0u8; 64];
        bytes[..32].copy_from_slice(&r_bytes);
        bytes[32..].copy_from_slice(&s_bytes);
        Signature(bytes)
    }

    fn random_scalar(rng: &mut ChaCha20Rng) -> Scalar {
        let mut wide = [0u8; 64];
        rng.fill(&mut wide[..]);
        Scalar::from_bytes_mod_order_wide(&wide)
    }

    /// 32-byte little-endian addition with the carry dropped.
    fn add_le(x: &[u8; 32], y: &[u8; 32]) -> [u8; 32] {
        let mut out = [0u8; 32];
        let mut carry = 0u16;
        for ((out, x), y) in out.iter_mut().zip(x).zip(y) {
            let sum = u16::from(*x) + u16::from(*y) + carry;
            *out = sum.to_le_bytes()[0];
            carry = sum >> 8;
        }
        out
    }

    /// Encodings that decode to a point but are not what `compress` gives for it: y ≥ p (that is
    /// p + y' for a small y'), and x = 0 with the sign bit set.
    fn non_canonical_encodings() -> Vec<[u8; 32]> {
        let mut candidates = Vec::new();
        for small_y in 0u8..19 {
            // p + small_y, little-endian: p = 2^255 - 19 ends in 0xed and is 0xff up to 0x7f.
            let mut bytes = [0xffu8; 32];
            bytes[0] = 0xed + small_y;
            bytes[31] = 0x7f;
            candidates.push(bytes);
            bytes[31] |= 0x80;
            candidates.push(bytes);
        }
        for point in [EdwardsPoint::default(), EIGHT_TORSION[4]] {
            let mut bytes = encode(&point);
            bytes[31] |= 0x80;
            candidates.push(bytes);
        }
        candidates
            .into_iter()
            .filter(|bytes| {
                CompressedEdwardsY(*bytes)
                    .decompress()
                    .is_some_and(|point| encode(&point) != *bytes)
            })
            .collect()
    }

    /// The encodings of small-order points: the eight canonical ones, then the non-canonical.
    fn small_order_encodings() -> Vec<[u8; 32]> {
        let mut encodings: Vec<[u8; 32]> = EIGHT_TORSION.iter().map(encode).collect();
        encodings.extend(non_canonical_encodings().into_iter().filter(|bytes| {
            CompressedEdwardsY(*bytes)
                .decompress()
                .is_some_and(|point| point.is_small_order())
        }));
        encodings
    }

    /// Asserts that `case` gets the same answer alone, in a batch of one, and mixed into batches
    /// of valid signatures at the front, middle and back, and that `first_invalid` points at it
    /// exactly when it is invalid. Returns its validity.
    fn assert_consistent(case: &Case, padding: &[Case]) -> bool {
        let single = case.single();
        assert_eq!(
            verify_batch(&[case.check()]),
            single,
            "batch of one: {case:?}"
        );
        assert_eq!(
            first_invalid(&[case.check()]),
            (!single).then_some(0),
            "{case:?}"
        );
        for len in [2, 5, 17] {
            for position in [0, len / 2, len - 1] {
                let mut batch = checks(&padding[..len - 1]);
                batch.insert(position, case.check());
                assert_eq!(
                    verify_batch(&batch),
                    single,
                    "at {position} of {len}: {case:?}"
                );
                assert_eq!(
                    first_invalid(&batch),
                    (!single).then_some(position),
                    "at {position} of {len}: {case:?}"
                );
            }
        }
        single
    }

    #[test]
    fn signatures_verify_alone_and_in_batches() {
        let cases = honest(1000);
        for case in &cases[..50] {
            assert!(case.single());
            assert!(case.dalek());
        }
        for len in [1, 2, 64, 1000] {
            let batch = checks(&cases[..len]);
            assert!(verify_batch(&batch), "batch of {len}");
            assert_eq!(first_invalid(&batch), None, "batch of {len}");
        }
    }

    #[test]
    fn empty_batch_is_valid() {
        assert!(verify_batch(&[]));
        assert_eq!(first_invalid(&[]), None);
    }

    #[test]
    fn signing_is_deterministic_and_seed_round_trips() {
        let key = secret(7);
        assert_eq!(key.sign(b"m"), key.sign(b"m"));
        let again = SecretKey::from_seed(key.seed());
        assert_eq!(again.public_key(), key.public_key());
        assert_eq!(again.sign(b"m"), key.sign(b"m"));
    }

    #[test]
    fn debug_and_display_show_hex_and_hide_the_secret() {
        let key = SecretKey::from_seed([0x42; 32]);
        let debug = format!("{key:?}");
        assert!(!debug.contains(&hex::encode([0x42u8; 32])), "{debug}");
        assert!(debug.contains(&hex::encode(key.public_key().0)), "{debug}");
        let public = key.public_key();
        assert_eq!(public.to_string(), format!("0x{}", hex::encode(public.0)));
        assert_eq!(format!("{public:?}"), format!("PublicKey({public})"));
        let signature = key.sign(b"m");
        assert_eq!(
            format!("{signature:?}"),
            format!("Signature(0x{})", hex::encode(signature.0))
        );
        assert_eq!(PublicKey::from_hex(&public.to_string()), Some(public));
        assert_eq!(PublicKey::from_hex(&hex::encode(public.0)), Some(public));
        assert_eq!(PublicKey::from_hex("0x1234"), None);
        assert_eq!(Signature::from_hex(&signature.to_string()), Some(signature));
    }

    #[test]
    fn borsh_round_trips() {
        let key = secret(1);
        let public = key.public_key();
        let signature = key.sign(b"m");
        let encoded = borsh::to_vec(&(public, signature)).unwrap();
        assert_eq!(encoded.len(), 96);
        let decoded: (PublicKey, Signature) = borsh::from_slice(&encoded).unwrap();
        assert_eq!(decoded, (public, signature));
    }

    #[test]
    fn flipped_bits_fail_alone_and_in_batches() {
        let padding = honest(16);
        let key = secret(99);
        let message = b"pay 10 to bob".to_vec();
        let good = Case {
            key: key.public_key(),
            signature: key.sign(&message),
            message: message.clone(),
        };
        assert!(assert_consistent(&good, &padding));

        let mut tampered = Vec::new();
        for bit in 0..message.len() * 8 {
            let mut case = good.clone();
            case.message[bit / 8] ^= 1 << (bit % 8);
            tampered.push(case);
        }
        for bit in 0..256 {
            let mut case = good.clone();
            case.key.0[bit / 8] ^= 1 << (bit % 8);
            tampered.push(case);
        }
        for bit in 0..512 {
            let mut case = good.clone();
            case.signature.0[bit / 8] ^= 1 << (bit % 8);
            tampered.push(case);
        }
        let mut longer = good.clone();
        longer.message.push(0);
        tampered.push(longer);
        let mut shorter = good.clone();
        shorter.message.pop();
        tampered.push(shorter);

        for case in &tampered {
            assert!(!case.single(), "{case:?}");
            assert!(!verify_batch(&[case.check()]), "{case:?}");
            let mut batch = checks(&padding);
            batch.insert(8, case.check());
            assert!(!verify_batch(&batch), "{case:?}");
            assert_eq!(first_invalid(&batch), Some(8), "{case:?}");
        }
    }

    #[test]
    fn one_bad_signature_anywhere_fails_the_batch_and_is_named() {
        let cases = honest(64);
        for position in 0..cases.len() {
            let mut bad = cases.clone();
            bad[position].message.push(b'!');
            let batch = checks(&bad);
            assert!(!verify_batch(&batch), "bad at {position}");
            assert_eq!(first_invalid(&batch), Some(position));
        }
        // Several bad signatures: the first is named.
        let mut bad = cases.clone();
        for position in [40, 9, 63] {
            bad[position].signature.0[0] ^= 1;
        }
        assert_eq!(first_invalid(&checks(&bad)), Some(9));
    }

    #[test]
    fn batches_larger_than_one_chunk() {
        let cases = honest(2 * BATCH_CHUNK + 100);
        assert!(verify_batch(&checks(&cases)));
        assert_eq!(first_invalid(&checks(&cases)), None);
        for position in [0, BATCH_CHUNK - 1, BATCH_CHUNK, 2 * BATCH_CHUNK + 99] {
            let mut bad = cases.clone();
            bad[position].signature.0[40] ^= 0x10;
            assert!(!verify_batch(&checks(&bad)), "bad at {position}");
            assert_eq!(first_invalid(&checks(&bad)), Some(position));
        }
        let mut bad = cases.clone();
        bad[2 * BATCH_CHUNK + 5].message.clear();
        bad[BATCH_CHUNK + 3].key.0[31] ^= 0x80;
        assert_eq!(first_invalid(&checks(&bad)), Some(BATCH_CHUNK + 3));
    }

    #[test]
    fn small_order_keys_and_nonces_in_every_encoding() {
        let padding = honest(16);
        let encodings = small_order_encodings();
        // Eight canonical encodings plus six non-canonical ones: negative-zero x for the two
        // points with x = 0, and y + p for y = 1 (the identity) and y = 0 (the two points of
        // order four), each with either sign bit.
        assert_eq!(encodings.len(), 14);
        for a_bytes in &encodings {
            for r_bytes in &encodings {
                let message = b"small order".to_vec();
                // S = 0: [8](0 - R - kA) is the identity whatever k is.
                let zero = Case {
                    key: PublicKey(*a_bytes),
                    message: message.clone(),
                    signature: signature_from(*r_bytes, [0; 32]),
                };
                assert!(assert_consistent(&zero, &padding), "{zero:?}");
                // S = 1: [8]B is not the identity, so nothing small can balance it.
                let mut one_bytes = [0u8; 32];
                one_bytes[0] = 1;
                let one = Case {
                    signature: signature_from(*r_bytes, one_bytes),
                    ..zero
                };
                assert!(!assert_consistent(&one, &padding), "{one:?}");
            }
        }
    }

    #[test]
    fn mixed_order_nonce_is_valid_cofactored_but_not_cofactorless() {
        let padding = honest(16);
        let mut rng = ChaCha20Rng::seed_from_u64(3);
        for (index, torsion) in EIGHT_TORSION.iter().enumerate() {
            let a = random_scalar(&mut rng);
            let r = random_scalar(&mut rng);
            let a_bytes = encode(&EdwardsPoint::mul_base(&a));
            let r_bytes = encode(&(EdwardsPoint::mul_base(&r) + torsion));
            let case = craft(a_bytes, a, r_bytes, r, b"mixed-order R");
            assert!(assert_consistent(&case, &padding), "{case:?}");
            // Cofactorless verification recomputes [S]B - [k]A = [r]B, which is not R + T.
            assert_eq!(case.dalek(), index == 0, "{case:?}");
        }
    }

    #[test]
    fn mixed_order_keys_are_valid_cofactored() {
        let padding = honest(16);
        let mut rng = ChaCha20Rng::seed_from_u64(4);
        let mut disagreements = 0;
        for torsion in EIGHT_TORSION.iter() {
            for attempt in 0..4 {
                let a = random_scalar(&mut rng);
                let r = random_scalar(&mut rng);
                let a_point = EdwardsPoint::mul_base(&a) + torsion;
                let a_bytes = encode(&a_point);
                let r_bytes = encode(&EdwardsPoint::mul_base(&r));
                let message = format!("mixed-order A {attempt}").into_bytes();
                let case = craft(a_bytes, a, r_bytes, r, &message);
                assert!(assert_consistent(&case, &padding), "{case:?}");
                // Cofactorless, the leftover -[k]T must vanish on its own.
                let k = challenge(&r_bytes, &a_bytes, &message);
                assert_eq!(case.dalek(), (k * torsion).is_identity(), "{case:?}");
                disagreements += usize::from(!case.dalek());
            }
        }
        assert!(disagreements > 0);
    }

    #[test]
    fn torsion_in_both_points_is_valid() {
        let padding = honest(16);
        let mut rng = ChaCha20Rng::seed_from_u64(5);
        for t_a in EIGHT_TORSION.iter() {
            for t_r in EIGHT_TORSION.iter() {
                let a = random_scalar(&mut rng);
                let r = random_scalar(&mut rng);
                let a_bytes = encode(&(EdwardsPoint::mul_base(&a) + t_a));
                let r_bytes = encode(&(EdwardsPoint::mul_base(&r) + t_r));
                let case = craft(a_bytes, a, r_bytes, r, b"torsion everywhere");
                assert!(assert_consistent(&case, &padding), "{case:?}");
            }
        }
    }

    #[test]
    fn non_canonical_s_is_rejected() {
        let padding = honest(16);
        let good = signed(11, b"malleable?");
        assert!(assert_consistent(&good, &padding));
        let s_bytes = good.signature.s_bytes();
        // S + ℓ is the same scalar modulo ℓ: accepting it would make signatures malleable.
        let plus_ell = Case {
            signature: signature_from(good.signature.r_bytes(), add_le(&s_bytes, &ELL)),
            ..good.clone()
        };
        assert!(!assert_consistent(&plus_ell, &padding));
        assert!(!plus_ell.dalek());
        // S + 8ℓ still fits in 256 bits but has the top bit area set.
        let mut eight_ell = s_bytes;
        for _ in 0..8 {
            eight_ell = add_le(&eight_ell, &ELL);
        }
        let plus_eight_ell = Case {
            signature: signature_from(good.signature.r_bytes(), eight_ell),
            ..good.clone()
        };
        assert!(!assert_consistent(&plus_eight_ell, &padding));
        // S = ℓ itself, and the all-ones value.
        for s in [ELL, [0xff; 32]] {
            let case = Case {
                signature: signature_from(good.signature.r_bytes(), s),
                ..good.clone()
            };
            assert!(!assert_consistent(&case, &padding));
        }
    }

    #[test]
    fn non_canonical_encodings_decode_and_are_hashed_as_given() {
        let padding = honest(16);
        let encodings = non_canonical_encodings();
        let mut rng = ChaCha20Rng::seed_from_u64(6);
        for bytes in &encodings {
            let point = CompressedEdwardsY(*bytes).decompress().unwrap();
            let canonical = encode(&point);
            assert_ne!(canonical, *bytes);

            if point.is_small_order() {
                // A small-order R in a non-canonical encoding, with the challenge over the bytes
                // as sent: valid, since [8]R vanishes.
                let a = random_scalar(&mut rng);
                let a_bytes = encode(&EdwardsPoint::mul_base(&a));
                let case = craft(a_bytes, a, *bytes, Scalar::ZERO, b"non-canonical R");
                assert!(assert_consistent(&case, &padding), "{case:?}");
                // Cofactorless verification compares encodings and refuses it.
                assert!(!case.dalek(), "{case:?}");
                // The same S with the challenge over the canonical re-encoding is invalid: k is
                // taken over the bytes as sent, never over a re-encoding.
                let reencoded_k = challenge(&canonical, &a_bytes, b"non-canonical R");
                let reencoded = Case {
                    signature: signature_from(*bytes, (reencoded_k * a).to_bytes()),
                    ..case.clone()
                };
                assert!(!assert_consistent(&reencoded, &padding), "{reencoded:?}");
                // A non-canonical small-order key signs nothing meaningful, but with S = 0
                // against a small-order R the cofactored equation holds.
                let small_key = Case {
                    key: PublicKey(*bytes),
                    message: b"non-canonical A".to_vec(),
                    signature: signature_from(EIGHT_TORSION[2].compress().to_bytes(), [0; 32]),
                };
                assert!(assert_consistent(&small_key, &padding), "{small_key:?}");
            } else {
                // A point of large order whose discrete logarithm nobody knows: as a key or a
                // nonce it decodes, but no signature can be made for it here.
                let key = secret(12);
                let honest_signature = key.sign(b"m");
                let as_key = Case {
                    key: PublicKey(*bytes),
                    message: b"m".to_vec(),
                    signature: honest_signature,
                };
                assert!(!assert_consistent(&as_key, &padding), "{as_key:?}");
                let as_nonce = Case {
                    key: key.public_key(),
                    message: b"m".to_vec(),
                    signature: signature_from(*bytes, honest_signature.s_bytes()),
                };
                assert!(!assert_consistent(&as_nonce, &padding), "{as_nonce:?}");
            }
        }
        assert!(encodings.iter().any(|bytes| {
            !CompressedEdwardsY(*bytes)
                .decompress()
                .unwrap()
                .is_small_order()
        }));
    }

    #[test]
    fn bytes_that_are_no_point_are_invalid() {
        let padding = honest(16);
        let good = signed(13, b"m");
        let mut not_points = Vec::new();
        for y in 2u8..=255 {
            let mut bytes = [0u8; 32];
            bytes[0] = y;
            if CompressedEdwardsY(bytes).decompress().is_none() {
                not_points.push(bytes);
            }
        }
        assert!(not_points.len() > 50);
        for bytes in not_points.iter().take(20) {
            let as_key = Case {
                key: PublicKey(*bytes),
                ..good.clone()
            };
            assert!(!assert_consistent(&as_key, &padding));
            let as_nonce = Case {
                signature: signature_from(*bytes, good.signature.s_bytes()),
                ..good.clone()
            };
            assert!(!assert_consistent(&as_nonce, &padding));
        }
    }

    #[test]
    fn keys_seen_again_give_the_same_answers() {
        // Each key goes through the decoded-key cache more than once: first decoded, then kept.
        let padding = honest(16);
        let good = signed(21, b"again");
        let mut wrong_message = good.clone();
        wrong_message.message = b"other".to_vec();
        let mut no_point = [0u8; 32];
        no_point[0] = 2;
        while CompressedEdwardsY(no_point).decompress().is_some() {
            no_point[0] += 1;
        }
        let bad_key = Case {
            key: PublicKey(no_point),
            ..good.clone()
        };
        for _ in 0..3 {
            assert!(assert_consistent(&good, &padding));
            assert!(!assert_consistent(&wrong_message, &padding));
            assert!(!assert_consistent(&bad_key, &padding));
            assert_eq!(decode_public_key(&no_point), None);
            assert_eq!(
                decode_public_key(&good.key.0),
                CompressedEdwardsY(good.key.0).decompress()
            );
        }
    }

    /// The twelve vectors of "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko, 2020):
    /// message, public key, signature, in that order.
    const TAMING_VECTORS: [(&str, &str, &str); 12] = [
        (
            "8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a\
             0000000000000000000000000000000000000000000000000000000000000000",
        ),
        (
            "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
            "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43\
             a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        ),
        (
            "aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab",
            "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
            "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa\
             8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e",
        ),
        (
            "9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79",
            "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
            "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f\
             87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009",
        ),
        (
            "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
            "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
            "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed512\
             5ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09",
        ),
        (
            "e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c",
            "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d",
            "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7\
             e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405",
        ),
        (
            "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
            "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
            "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e\
             547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514",
        ),
        (
            "85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40",
            "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623",
            "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa1942\
             7e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22",
        ),
        (
            "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
            "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
             03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f",
        ),
        (
            "9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41",
            "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff\
             ca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908",
        ),
        (
            "e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc\
             a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        ),
        (
            "39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f",
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dc\
             a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04",
        ),
    ];

    fn taming_cases() -> Vec<Case> {
        TAMING_VECTORS
            .iter()
            .map(|(message, key, signature)| Case {
                key: PublicKey::from_hex(key).unwrap(),
                message: hex::decode(message).unwrap(),
                signature: Signature::from_hex(signature).unwrap(),
            })
            .collect()
    }

    #[test]
    fn taming_the_many_eddsas_vectors() {
        let padding = honest(16);
        // 0–3: small-order and mixed-order points that both equations accept; 4–5: mixed-order
        // points that only the cofactored equation accepts; 6–7: S ≥ ℓ; 8: non-canonical R with
        // the challenge over its re-encoding; 9: the same with the challenge over the bytes as
        // sent; 10–11: a non-canonical small-order A.
        let zip215 = [
            true, true, true, true, true, true, false, false, false, true, true, true,
        ];
        let cofactorless = [
            true, true, true, true, false, false, false, false, false, false, false, true,
        ];
        for (index, case) in taming_cases().iter().enumerate() {
            assert_eq!(
                assert_consistent(case, &padding),
                zip215[index],
                "vector {index}"
            );
            assert_eq!(case.dalek(), cofactorless[index], "vector {index}");
        }
        // All twelve in one batch: invalid, and the first invalid is vector 6.
        let cases = taming_cases();
        assert!(!verify_batch(&checks(&cases)));
        assert_eq!(first_invalid(&checks(&cases)), Some(6));
        let valid: Vec<Case> = cases
            .iter()
            .zip(zip215)
            .filter(|(_, ok)| *ok)
            .map(|(case, _)| case.clone())
            .collect();
        assert!(verify_batch(&checks(&valid)));
    }

    #[test]
    fn cancelling_errors_do_not_fool_the_batch() {
        // Two invalid signatures whose errors cancel when all coefficients are one:
        // S₁ + δ and S₂ − δ. Coefficients derived from the transcript break the cancellation.
        let mut cases = honest(2);
        let delta = Scalar::from(12345u64);
        let s1 = Scalar::from_canonical_bytes(cases[0].signature.s_bytes()).unwrap() + delta;
        let s2 = Scalar::from_canonical_bytes(cases[1].signature.s_bytes()).unwrap() - delta;
        cases[0].signature = signature_from(cases[0].signature.r_bytes(), s1.to_bytes());
        cases[1].signature = signature_from(cases[1].signature.r_bytes(), s2.to_bytes());
        assert!(!cases[0].single() && !cases[1].single());
        assert!(!verify_batch(&checks(&cases)));
        assert_eq!(first_invalid(&checks(&cases)), Some(0));
        let naive: EdwardsPoint = cases
            .iter()
            .map(|case| {
                let k = challenge(&case.signature.r_bytes(), &case.key.0, &case.message);
                let a = CompressedEdwardsY(case.key.0).decompress().unwrap();
                let r = CompressedEdwardsY(case.signature.r_bytes())
                    .decompress()
                    .unwrap();
                let s = Scalar::from_canonical_bytes(case.signature.s_bytes()).unwrap();
                EdwardsPoint::mul_base(&s) - r - k * a
            })
            .sum();
        assert!(
            naive.is_identity(),
            "the naive sum is fooled, which is why coefficients exist"
        );
    }

    #[test]
    fn coefficients_bind_the_whole_batch() {
        let cases = honest(4);
        let base = PreparedBatch::new(&checks(&cases));
        let coefficients: Vec<Scalar> = (0..4).map(|i| base.coefficient(i)).collect();
        // Deterministic, and distinct per index.
        let again = PreparedBatch::new(&checks(&cases));
        assert_eq!(again.transcript, base.transcript);
        for (i, coefficient) in coefficients.iter().enumerate() {
            assert_eq!(again.coefficient(i), *coefficient);
            assert_ne!(*coefficient, Scalar::ZERO);
            assert!(!coefficients[..i].contains(coefficient));
        }
        // Changing any field of any entry, the order, or the length changes every coefficient.
        let mut variants: Vec<Vec<Case>> = Vec::new();
        let mut message = cases.clone();
        message[3].message.push(0);
        variants.push(message);
        let mut signature = cases.clone();
        signature[2].signature.0[63] ^= 1;
        variants.push(signature);
        let mut key = cases.clone();
        key[1].key.0[0] ^= 1;
        variants.push(key);
        let mut swapped = cases.clone();
        swapped.swap(0, 1);
        variants.push(swapped);
        let mut longer = cases.clone();
        longer.push(cases[0].clone());
        variants.push(longer);
        for variant in &variants {
            let prepared = PreparedBatch::new(&checks(variant));
            for (i, coefficient) in coefficients.iter().enumerate() {
                assert_ne!(prepared.coefficient(i), *coefficient);
            }
        }
    }

    /// A member of a random batch, built from a kind and a seed.
    fn tweaked(kind: u8, seed: u64) -> Case {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let torsion = EIGHT_TORSION[rng.gen_range(0..8)];
        let other_torsion = EIGHT_TORSION[rng.gen_range(0..8)];
        let a = random_scalar(&mut rng);
        let r = random_scalar(&mut rng);
        let message = format!("tweaked {kind} {seed}").into_bytes();
        let plain_a = encode(&EdwardsPoint::mul_base(&a));
        let plain_r = encode(&EdwardsPoint::mul_base(&r));
        let small = small_order_encodings();
        match kind {
            // Honest.
            0 => {
                let key = secret(seed);
                Case {
                    key: key.public_key(),
                    signature: key.sign(&message),
                    message,
                }
            }
            // Torsion in R, and in A, and in both, signed consistently: valid.
            1 => craft(
                plain_a,
                a,
                encode(&(EdwardsPoint::mul_base(&r) + torsion)),
                r,
                &message,
            ),
            2 => craft(
                encode(&(EdwardsPoint::mul_base(&a) + torsion)),
                a,
                plain_r,
                r,
                &message,
            ),
            3 => craft(
                encode(&(EdwardsPoint::mul_base(&a) + torsion)),
                a,
                encode(&(EdwardsPoint::mul_base(&r) + other_torsion)),
                r,
                &message,
            ),
            // Torsion added to R after signing: k no longer matches (invalid unless T = 0).
            4 => {
                let mut case = craft(plain_a, a, plain_r, r, &message);
                let moved = EdwardsPoint::mul_base(&r) + torsion;
                case.signature = signature_from(encode(&moved), case.signature.s_bytes());
                case
            }
            // Small-order key and nonce in any encoding, S = 0 (valid) or S random (invalid).
            5 | 6 => {
                let a_bytes = small[rng.gen_range(0..small.len())];
                let r_bytes = small[rng.gen_range(0..small.len())];
                let s = if kind == 5 {
                    Scalar::ZERO
                } else {
                    random_scalar(&mut rng)
                };
                Case {
                    key: PublicKey(a_bytes),
                    message,
                    signature: signature_from(r_bytes, s.to_bytes()),
                }
            }
            // Non-canonical S.
            7 => {
                let case = craft(plain_a, a, plain_r, r, &message);
                let s = add_le(&case.signature.s_bytes(), &ELL);
                Case {
                    signature: signature_from(case.signature.r_bytes(), s),
                    ..case
                }
            }
            // Small-order R in any encoding, challenge over the bytes as sent: valid.
            8 => craft(
                plain_a,
                a,
                small[rng.gen_range(0..small.len())],
                Scalar::ZERO,
                &message,
            ),
            // Wrong message.
            _ => {
                let mut case = craft(plain_a, a, plain_r, r, &message);
                case.message.push(b'?');
                case
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn batch_agrees_with_single_checks(
            members in prop::collection::vec((0u8..10, any::<u64>()), 0..24)
        ) {
            let cases: Vec<Case> =
                members.iter().map(|(kind, seed)| tweaked(*kind, *seed)).collect();
            let singles: Vec<bool> = cases.iter().map(Case::single).collect();
            let batch = checks(&cases);
            prop_assert_eq!(verify_batch(&batch), singles.iter().all(|ok| *ok));
            prop_assert_eq!(first_invalid(&batch), singles.iter().position(|ok| !ok));
        }

        #[test]
        fn torsion_tweaked_batches_are_valid(
            members in prop::collection::vec((1u8..4, any::<u64>()), 1..24)
        ) {
            // Only kinds that are valid by construction: the torsion parts of different members
            // must not be able to push a valid batch over, whatever the coefficients.
            let cases: Vec<Case> =
                members.iter().map(|(kind, seed)| tweaked(*kind, *seed)).collect();
            prop_assert!(cases.iter().all(Case::single));
            prop_assert!(verify_batch(&checks(&cases)));
        }
    }

    #[test]
    fn batch_of_ten_thousand_timing() {
        let cases = honest(10_000);
        let batch = checks(&cases);
        let started = Instant::now();
        assert!(verify_batch(&batch));
        let batch_time = started.elapsed();
        let started = Instant::now();
        assert!(cases.iter().all(Case::single));
        let single_time = started.elapsed();
        let started = Instant::now();
        assert_eq!(first_invalid(&batch), None);
        let first_invalid_time = started.elapsed();
        println!(
            "10000 signatures: batch {batch_time:?} ({:.1} µs each), single {single_time:?} \
             ({:.1} µs each), first_invalid {first_invalid_time:?}",
            batch_time.as_secs_f64() * 1e6 / 10_000.0,
            single_time.as_secs_f64() * 1e6 / 10_000.0,
        );
    }
}
