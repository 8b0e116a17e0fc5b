//! The bytes peers send: every message round-trips, signed votes survive the trip with their
//! signatures valid, and no byte string makes a decoder panic.

use cairn_consensus::{
    encoding::vote_sign_bytes, CommitCertificate, Round, SignedVote, ValidatorSet, Vote, VoteType,
};
use cairn_ledger::testing::test_key;
use cairn_node::{
    context::CairnContext,
    wire::{
        self, ConsensusGossip, GossipEnvelope, SyncRequest, SyncResponse, TxBatch, WalMessage,
        WireCertificate, WireVote,
    },
};
use proptest::prelude::*;

const CHAIN: &str = "cairn-test";

fn signed_precommit(index: u64, height: u64, value: [u8; 32]) -> SignedVote<CairnContext> {
    let key = test_key(index);
    let vote = Vote {
        height,
        round: Round(1),
        vote_type: VoteType::Precommit,
        value: Some(value),
        validator: key.public_key(),
    };
    let signature = key.sign(&vote_sign_bytes::<CairnContext>(CHAIN, &vote));
    SignedVote { vote, signature }
}

fn validator_set(count: u64) -> ValidatorSet<CairnContext> {
    ValidatorSet::new(
        (0..count)
            .map(|i| cairn_consensus::Validator {
                public_key: test_key(i).public_key(),
                voting_power: 1,
            })
            .collect(),
    )
    .unwrap()
}

#[test]
fn a_vote_round_trips_and_still_verifies() {
    let signed = signed_precommit(0, 7, [9; 32]);
    let envelope = GossipEnvelope {
        sent_at_ms: 1,
        payload: ConsensusGossip::Vote(WireVote::from(&signed)),
    };
    let bytes = wire::encode(&envelope);
    let decoded: GossipEnvelope<ConsensusGossip> = wire::decode("gossip", &bytes).unwrap();
    assert_eq!(decoded, envelope);
    let ConsensusGossip::Vote(wire_vote) = decoded.payload else {
        panic!("not a vote");
    };
    let back = SignedVote::<CairnContext>::try_from(&wire_vote).unwrap();
    assert_eq!(back, signed);
    let bytes = vote_sign_bytes::<CairnContext>(CHAIN, &back.vote);
    assert!(back.vote.validator.verify(&bytes, &back.signature));
}

#[test]
fn a_certificate_survives_storage_and_verifies_only_with_a_quorum() {
    let value = [3; 32];
    let precommits: Vec<_> = (0..3).map(|i| signed_precommit(i, 5, value)).collect();
    let certificate = CommitCertificate::<CairnContext> {
        height: 5,
        round: Round(1),
        value,
        precommits,
    };
    let stored = wire::encode(&WireCertificate::from(&certificate));
    let wire_back: WireCertificate = wire::decode("certificate", &stored).unwrap();
    let back = CommitCertificate::<CairnContext>::from(&wire_back);
    assert_eq!(back, certificate);
    back.verify(CHAIN, &validator_set(4)).unwrap();
    // Another chain, or two of four, does not verify.
    assert!(back.verify("other-chain", &validator_set(4)).is_err());
    let mut short = back.clone();
    short.precommits.truncate(2);
    assert!(short.verify(CHAIN, &validator_set(4)).is_err());
}

#[test]
fn an_unknown_vote_type_is_an_error_not_a_panic() {
    let mut wire_vote = WireVote::from(&signed_precommit(0, 1, [1; 32]));
    wire_vote.vote_type = 7;
    assert!(SignedVote::<CairnContext>::try_from(&wire_vote).is_err());
    let log = wire::encode(&WalMessage::Vote(wire_vote));
    let decoded: WalMessage = wire::decode("log", &log).unwrap();
    assert!(cairn_consensus::SignedMessage::<CairnContext>::try_from(&decoded).is_err());
}

#[test]
fn trailing_bytes_are_refused() {
    let mut bytes = wire::encode(&SyncRequest::Blocks { from: 1, count: 2 });
    bytes.push(0);
    assert!(wire::decode::<SyncRequest>("request", &bytes).is_err());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_a_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = wire::decode::<GossipEnvelope<ConsensusGossip>>("gossip", &bytes);
        let _ = wire::decode::<GossipEnvelope<TxBatch>>("txs", &bytes);
        let _ = wire::decode::<SyncRequest>("request", &bytes);
        let _ = wire::decode::<SyncResponse>("response", &bytes);
        let _ = wire::decode::<WireCertificate>("certificate", &bytes);
        let _ = wire::decode::<WalMessage>("log", &bytes);
    }

    #[test]
    fn sync_requests_round_trip(from in any::<u64>(), count in any::<u32>()) {
        let request = SyncRequest::Blocks { from, count };
        let back: SyncRequest = wire::decode("request", &wire::encode(&request)).unwrap();
        prop_assert_eq!(back, request);
    }
}
