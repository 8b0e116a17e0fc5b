//! The building blocks around the rules: validator sets and proposer selection, canonical bytes,
//! the vote keeper, certificates, evidence, restart from the write-ahead log, and the bounds.

use cairn_consensus::{
    encoding::{proposal_sign_bytes, vote_sign_bytes, DOMAIN_TAG},
    testing::{signed_proposal, signed_vote, test_validator_set, TestContext, TestSigner},
    CommitCertificate, Consensus, ConsensusError, Evidence, Input, Output, Proposal, Round,
    SignedMessage, Step, TimeoutKind, Validator, ValidatorSet, Vote, VoteKeeper, VoteOutcome,
    VoteType, MAX_TOTAL_VOTING_POWER,
};

use crate::harness::*;

const A: u64 = 0xaaaa;
const B: u64 = 0xbbbb;

// ---------------------------------------------------------------- validator set

#[test]
fn validator_set_rejects_empty_zero_power_duplicates_and_overflow() {
    let v = |k: u32, p: u64| Validator::<TestContext> {
        public_key: k,
        voting_power: p,
    };
    assert_eq!(
        ValidatorSet::<TestContext>::new(vec![]).unwrap_err(),
        ConsensusError::EmptyValidatorSet
    );
    assert_eq!(
        ValidatorSet::new(vec![v(0, 1), v(1, 0)]).unwrap_err(),
        ConsensusError::ZeroVotingPower { position: 1 }
    );
    assert!(matches!(
        ValidatorSet::new(vec![v(0, 1), v(0, 2)]).unwrap_err(),
        ConsensusError::DuplicateValidator { .. }
    ));
    assert!(matches!(
        ValidatorSet::new(vec![v(0, MAX_TOTAL_VOTING_POWER), v(1, 1)]).unwrap_err(),
        ConsensusError::TotalVotingPowerTooLarge { .. }
    ));
}

#[test]
fn thresholds_are_strictly_more_than_two_thirds_and_one_third() {
    let set = test_validator_set(&[1, 1, 1]).unwrap();
    assert!(!set.is_quorum(2));
    assert!(set.is_quorum(3));
    assert!(!set.is_one_third_plus(1));
    assert!(set.is_one_third_plus(2));
    let set = test_validator_set(&[3, 3, 3, 3]).unwrap();
    assert!(!set.is_quorum(8));
    assert!(set.is_quorum(9));
    assert!(!set.is_one_third_plus(4));
    assert!(set.is_one_third_plus(5));
}

#[test]
fn proposers_rotate_in_proportion_to_voting_power() {
    let set = test_validator_set(&[1, 2, 3, 4]).unwrap();
    let mut count = [0u64; 4];
    for round in 0..10 {
        count[set.proposer(Round(round)).public_key as usize] += 1;
    }
    assert_eq!(count, [1, 2, 3, 4]);
}

#[test]
fn equal_powers_rotate_round_robin_by_key_and_advance_per_height() {
    let set = test_validator_set(&[1, 1, 1, 1]).unwrap();
    let order: Vec<u32> = (0..8).map(|r| set.proposer(Round(r)).public_key).collect();
    assert_eq!(order, vec![0, 1, 2, 3, 0, 1, 2, 3]);
    // Height h + 1, round r proposes like height h, round r + 1 (CometBFT: one step per height).
    let next = set.next_height();
    for r in 0..6 {
        assert_eq!(
            next.proposer(Round(r)).public_key,
            set.proposer(Round(r + 1)).public_key
        );
    }
}

#[test]
fn proposer_selection_matches_cometbft_priorities() {
    // Powers 1, 2, 3 from zero priorities (CometBFT's TestProposerSelection-style walk-through):
    // step 1: priorities 1, 2, 3 -> key 2 proposes, becomes -3.
    // step 2: 2, 4, 0 -> key 1 proposes, becomes -2.
    // step 3: 3, 0, 3 -> tie between keys 0 and 2: the smaller key proposes.
    let set = test_validator_set(&[1, 2, 3]).unwrap();
    let order: Vec<u32> = (0..3).map(|r| set.proposer(Round(r)).public_key).collect();
    assert_eq!(order, vec![2, 1, 0]);
}

#[test]
fn far_apart_priorities_are_rescaled_and_centred_before_a_rotation() {
    let v = |k: u32| Validator::<TestContext> {
        public_key: k,
        voting_power: 1,
    };
    let set = ValidatorSet::with_priorities(vec![v(0), v(1), v(2)], vec![1_000_000, 0, -1_000_000])
        .unwrap();
    // Spread 2,000,000 > 2 * total power: divided by ceil(2,000,000 / 6) to 2, 0, -2; then each
    // gains its power (3, 1, -1), key 0 proposes and pays the total (0, 1, -1).
    assert_eq!(set.proposer(Round(0)).public_key, 0);
    assert_eq!(set.next_height().priorities(), &[0, 1, -1]);
}

// ---------------------------------------------------------------- encoding

#[test]
fn vote_sign_bytes_have_the_documented_layout() {
    let vote = Vote::<TestContext> {
        height: 7,
        round: Round(2),
        vote_type: VoteType::Precommit,
        value: Some(0x0102),
        validator: 3,
    };
    let bytes = vote_sign_bytes("c1", &vote);
    let mut expected = vec![DOMAIN_TAG.len() as u8];
    expected.extend_from_slice(DOMAIN_TAG);
    expected.extend_from_slice(&[0, 2, b'c', b'1']); // chain id
    expected.push(3); // precommit
    expected.extend_from_slice(&7u64.to_be_bytes());
    expected.extend_from_slice(&2u32.to_be_bytes());
    expected.push(1); // some value
    expected.extend_from_slice(&0x0102u64.to_be_bytes());
    assert_eq!(bytes, expected);

    let nil = Vote {
        value: None,
        ..vote
    };
    let bytes = vote_sign_bytes("c1", &nil);
    assert_eq!(bytes.last(), Some(&0));
    assert_eq!(bytes.len(), expected.len() - 8);
}

#[test]
fn proposal_sign_bytes_have_the_documented_layout() {
    let proposal = Proposal::<TestContext> {
        height: 1,
        round: Round(4),
        value: 9,
        pol_round: Some(Round(3)),
        proposer: 0,
    };
    let bytes = proposal_sign_bytes("c", &proposal);
    let header = 1 + DOMAIN_TAG.len() + 2 + 1;
    assert_eq!(bytes[header], 1); // proposal
    let pol = header + 1 + 8 + 4;
    assert_eq!(bytes[pol], 1);
    assert_eq!(bytes[pol + 1..pol + 5], 3u32.to_be_bytes());
    assert_eq!(bytes[pol + 5..], 9u64.to_be_bytes());
}

#[test]
fn sign_bytes_separate_chains_kinds_and_fields() {
    let vote = |chain: &str, vote_type, round, value| {
        vote_sign_bytes::<TestContext>(
            chain,
            &Vote {
                height: 1,
                round: Round(round),
                vote_type,
                value,
                validator: 0,
            },
        )
    };
    let base = vote("a", VoteType::Prevote, 0, Some(1));
    assert_ne!(base, vote("b", VoteType::Prevote, 0, Some(1)));
    assert_ne!(base, vote("a", VoteType::Precommit, 0, Some(1)));
    assert_ne!(base, vote("a", VoteType::Prevote, 1, Some(1)));
    assert_ne!(base, vote("a", VoteType::Prevote, 0, None));
    assert_ne!(base, vote("a", VoteType::Prevote, 0, Some(2)));
    // A chain id cannot bleed into the next field: "ab" + kind differs from "a" + "b"...
    assert_ne!(
        vote("ab", VoteType::Prevote, 0, None),
        vote("a", VoteType::Prevote, 0, None)
    );
}

#[test]
fn config_rejects_a_chain_id_too_long_to_encode() {
    let long = "x".repeat(70_000);
    assert!(matches!(
        cairn_consensus::Config::new(long),
        Err(ConsensusError::ChainIdTooLong { .. })
    ));
}

// ---------------------------------------------------------------- vote keeper

#[test]
fn vote_keeper_tallies_power_ignores_duplicates_and_detects_equivocation() {
    let set = test_validator_set(&[1, 2, 3]).unwrap();
    let mut keeper = VoteKeeper::<TestContext>::new(set.len());
    let v = |k, value| signed_vote(CHAIN, k, 1, Round(0), VoteType::Prevote, value);
    assert!(matches!(
        keeper.add(2, 3, v(2, Some(A)), false),
        VoteOutcome::Counted
    ));
    assert!(matches!(
        keeper.add(2, 3, v(2, Some(A)), false),
        VoteOutcome::Duplicate
    ));
    assert!(matches!(
        keeper.add(1, 2, v(1, None), false),
        VoteOutcome::Counted
    ));
    assert_eq!(keeper.power_for(Round(0), VoteType::Prevote, Some(&A)), 3);
    assert_eq!(keeper.power_for(Round(0), VoteType::Prevote, None), 2);
    assert_eq!(keeper.total_power(Round(0), VoteType::Prevote), 5);
    assert_eq!(keeper.total_power(Round(0), VoteType::Precommit), 0);

    let VoteOutcome::Equivocation { evidence, counted } = keeper.add(2, 3, v(2, Some(B)), false)
    else {
        panic!("equivocation expected");
    };
    assert!(!counted);
    let evidence = evidence.expect("first equivocation is reported");
    evidence.verify(CHAIN, &set).unwrap();
    assert_eq!(evidence.offender(), &2);
    // Reported once per slot; the first vote stays counted.
    let VoteOutcome::Equivocation { evidence, .. } = keeper.add(2, 3, v(2, None), true) else {
        panic!("equivocation expected");
    };
    assert!(evidence.is_none());
    assert_eq!(keeper.power_for(Round(0), VoteType::Prevote, Some(&A)), 3);
    // Counted when it matters (a proposed value), total power unchanged.
    assert_eq!(keeper.power_for(Round(0), VoteType::Prevote, None), 5);
    assert_eq!(keeper.total_power(Round(0), VoteType::Prevote), 5);
}

#[test]
fn votes_from_non_validators_and_bad_signatures_are_rejected() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    let stranger = Input::Vote(signed_vote(
        CHAIN,
        9,
        HEIGHT,
        Round(0),
        VoteType::Prevote,
        None,
    ));
    assert_eq!(
        node.core.apply(stranger).unwrap_err(),
        ConsensusError::UnknownValidator { height: HEIGHT }
    );
    let mut forged = signed_vote(
        CHAIN,
        others(me)[0],
        HEIGHT,
        Round(0),
        VoteType::Prevote,
        None,
    );
    forged.signature ^= 1;
    let err = node.core.apply(Input::Vote(forged)).unwrap_err();
    assert!(matches!(err, ConsensusError::InvalidSignature { .. }));
    assert!(err.is_misbehaviour());
    let other_chain = signed_vote(
        "other",
        others(me)[0],
        HEIGHT,
        Round(0),
        VoteType::Prevote,
        None,
    );
    assert!(node.core.apply(Input::Vote(other_chain)).is_err());
}

#[test]
fn proposals_from_the_wrong_proposer_or_with_a_bad_pol_round_are_rejected() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    let wrong = others(proposer(0))[0];
    let p = signed_proposal(CHAIN, wrong, HEIGHT, Round(0), A, None);
    assert!(matches!(
        node.core.apply(Input::Proposal(p)).unwrap_err(),
        ConsensusError::NotTheProposer { .. }
    ));
    let p = signed_proposal(CHAIN, proposer(1), HEIGHT, Round(1), A, Some(Round(1)));
    assert!(matches!(
        node.core.apply(Input::Proposal(p)).unwrap_err(),
        ConsensusError::InvalidPolRound { .. }
    ));
}

#[test]
fn conflicting_proposals_become_evidence_that_verifies() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    node.apply(proposal(0, A, None));
    let out = node.apply(proposal(0, B, None));
    let evidence = out
        .iter()
        .find_map(|o| match o {
            Output::Evidence(e) => Some(e.clone()),
            _ => None,
        })
        .expect("evidence");
    assert!(matches!(evidence, Evidence::ConflictingProposals { .. }));
    assert_eq!(evidence.step(), Step::Propose);
    evidence.verify(CHAIN, &validators()).unwrap();
    // Reported once.
    assert!(node.apply(proposal(0, B + 2, None)).is_empty());
}

#[test]
fn conflicting_votes_reach_the_node_as_evidence() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    let o = others(me)[0];
    node.apply(prevote(o, 0, Some(A)));
    let out = node.apply(prevote(o, 0, Some(B)));
    assert!(matches!(
        &out[..],
        [Output::Evidence(Evidence::ConflictingVotes { .. })]
    ));
}

#[test]
fn evidence_that_does_not_prove_equivocation_is_rejected() {
    let set = validators();
    let v = |k, round, value| signed_vote(CHAIN, k, 1, Round(round), VoteType::Prevote, value);
    let same = Evidence::ConflictingVotes {
        first: v(0, 0, Some(A)),
        second: v(0, 0, Some(A)),
    };
    assert!(same.verify(CHAIN, &set).is_err());
    let two_validators = Evidence::ConflictingVotes {
        first: v(0, 0, Some(A)),
        second: v(1, 0, Some(B)),
    };
    assert!(two_validators.verify(CHAIN, &set).is_err());
    let two_rounds = Evidence::ConflictingVotes {
        first: v(0, 0, Some(A)),
        second: v(0, 1, Some(B)),
    };
    assert!(two_rounds.verify(CHAIN, &set).is_err());
    let mut forged = v(0, 0, Some(B));
    forged.signature ^= 1;
    let bad_signature = Evidence::ConflictingVotes {
        first: v(0, 0, Some(A)),
        second: forged,
    };
    assert!(bad_signature.verify(CHAIN, &set).is_err());
    let good = Evidence::ConflictingVotes {
        first: v(0, 0, Some(A)),
        second: v(0, 0, None),
    };
    good.verify(CHAIN, &set).unwrap();
}

// ---------------------------------------------------------------- certificates

fn certificate(keys: &[u32], value: u64) -> CommitCertificate<TestContext> {
    CommitCertificate {
        height: 1,
        round: Round(0),
        value,
        precommits: keys
            .iter()
            .map(|k| signed_vote(CHAIN, *k, 1, Round(0), VoteType::Precommit, Some(value)))
            .collect(),
    }
}

#[test]
fn certificate_verifies_only_with_more_than_two_thirds_of_distinct_valid_precommits() {
    let set = validators();
    certificate(&[0, 1, 2], A).verify(CHAIN, &set).unwrap();
    assert!(certificate(&[0, 1], A).verify(CHAIN, &set).is_err());
    assert!(certificate(&[0, 1, 1], A).verify(CHAIN, &set).is_err());
    assert!(certificate(&[0, 1, 9], A).verify(CHAIN, &set).is_err());
    assert!(certificate(&[0, 1, 2], A)
        .verify("other-chain", &set)
        .is_err());
    let mut wrong_value = certificate(&[0, 1, 2], A);
    wrong_value.value = B;
    assert!(wrong_value.verify(CHAIN, &set).is_err());
    let mut forged = certificate(&[0, 1, 2], A);
    forged.precommits[2].signature ^= 1;
    assert!(forged.verify(CHAIN, &set).is_err());
    let mut prevote = certificate(&[0, 1, 2], A);
    prevote.precommits[0] = signed_vote(CHAIN, 0, 1, Round(0), VoteType::Prevote, Some(A));
    assert!(prevote.verify(CHAIN, &set).is_err());
}

#[test]
fn a_lagging_node_decides_from_a_verified_certificate() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    assert!(node
        .core
        .apply(Input::CommitCertificate(certificate(&[0, 1], A)))
        .is_err());
    let out = node.apply(Input::CommitCertificate(certificate(&[0, 1, 2], A)));
    assert_eq!(decision(&out).map(|c| c.value), Some(A));
}

// ---------------------------------------------------------------- write-ahead log and restart

fn persisted(outputs: &[Out]) -> Vec<SignedMessage<TestContext>> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::PersistAndBroadcast(m) => Some(m.clone()),
            _ => None,
        })
        .collect()
}

fn restart(me: u32, wal: Vec<SignedMessage<TestContext>>) -> (Node, Vec<Out>) {
    let mut core = Consensus::new(config(), TestSigner(me));
    let out = core
        .apply(Input::StartHeight {
            height: HEIGHT,
            validators: validators(),
            wal,
        })
        .unwrap();
    (Node { me, core }, out)
}

#[test]
fn restart_restores_round_step_and_lock_and_resends_the_log() {
    let me = non_proposer_of(&[0, 1]);
    let (mut node, mut wal_out) = Node::start(me);
    wal_out.extend(node.apply_all(vec![proposal(0, A, None), valid(A)]));
    wal_out.extend(node.apply_all(prevotes(&others(me)[..2], 0, Some(A))));
    let wal = persisted(&wal_out);
    assert_eq!(wal.len(), 2, "prevote and precommit");

    let (mut node, out) = restart(me, wal.clone());
    let resent: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            Output::Broadcast(m) => Some(m.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(resent, wal);
    assert!(!signs_anything(&out));
    assert_eq!(node.state(), (0, Step::Precommit));
    assert_eq!(node.core.locked(), Some(&(Round(0), A)));

    // The lock survives: a fresh proposal for B in round 1 gets a nil prevote.
    node.apply(elapsed(TimeoutKind::Precommit, 0));
    let out = node.apply_all(vec![proposal(1, B, None), valid(B)]);
    assert!(out.contains(&signs_prevote(me, 1, None)));
}

#[test]
fn restart_never_signs_a_second_message_for_a_signed_slot() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    let out = node.apply(elapsed(TimeoutKind::Propose, 0)); // prevote nil
    let wal = persisted(&out);

    let (mut node, _) = restart(me, wal);
    assert_eq!(node.state(), (0, Step::Prevote));
    // The proposal arrives late: before the crash the node had already prevoted nil.
    let out = node.apply_all(vec![proposal(0, A, None), valid(A)]);
    assert!(!signs_anything(&out), "{out:?}");
    // It still moves on normally.
    let out = node.apply_all(prevotes(&others(me)[..2], 0, None));
    assert!(out.contains(&signs_precommit(me, 0, None)));
}

#[test]
fn the_restored_lock_is_the_latest_non_nil_precommit() {
    let me = 1;
    let entry = |round, vote_type, value| {
        SignedMessage::Vote(signed_vote(
            CHAIN,
            me,
            HEIGHT,
            Round(round),
            vote_type,
            value,
        ))
    };
    assert!(cairn_consensus::wal::restore::<TestContext>(HEIGHT, &me, vec![]).is_none());
    let restored = cairn_consensus::wal::restore::<TestContext>(
        HEIGHT,
        &me,
        vec![
            entry(0, VoteType::Prevote, Some(A)),
            entry(0, VoteType::Precommit, Some(A)),
            entry(1, VoteType::Prevote, None),
            entry(1, VoteType::Precommit, None),
            entry(2, VoteType::Prevote, Some(B)),
            // A second, conflicting entry for a slot (a corrupt log): the first one is kept.
            entry(2, VoteType::Prevote, None),
        ],
    )
    .unwrap();
    assert_eq!((restored.round, restored.step), (Round(2), Step::Prevote));
    assert_eq!(restored.locked, Some((Round(0), A)));
    assert_eq!(restored.slots.iter().count(), 5);
    assert_eq!(
        restored.slots.get(Round(2), Step::Prevote),
        Some(&entry(2, VoteType::Prevote, Some(B)))
    );
}

#[test]
fn restart_ignores_log_entries_of_other_heights_and_keys() {
    let me = non_proposer_of(&[0]);
    let foreign = vec![
        SignedMessage::Vote(signed_vote(CHAIN, me, 0, Round(5), VoteType::Prevote, None)),
        SignedMessage::Vote(signed_vote(
            CHAIN,
            others(me)[0],
            HEIGHT,
            Round(5),
            VoteType::Prevote,
            None,
        )),
    ];
    let (node, out) = restart(me, foreign);
    assert_eq!(out, vec![schedules(TimeoutKind::Propose, 0)]);
    assert_eq!(node.state(), (0, Step::Propose));
}

// ---------------------------------------------------------------- heights and bounds

#[test]
fn messages_for_the_next_height_are_buffered_and_replayed_when_it_starts() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    let next = |k| {
        Input::Vote(signed_vote(
            CHAIN,
            k,
            HEIGHT + 1,
            Round(0),
            VoteType::Precommit,
            None,
        ))
    };
    for k in others(me) {
        assert!(node.apply(next(k)).is_empty());
    }
    assert_eq!(node.core.buffered_future_messages(), 3);
    let out = node.apply(Input::StartHeight {
        height: HEIGHT + 1,
        validators: validators().next_height(),
        wal: Vec::new(),
    });
    assert_eq!(node.core.buffered_future_messages(), 0);
    // The three buffered precommits are 2/3: L47 fires at once.
    assert!(out.iter().any(|o| matches!(
        o,
        Output::ScheduleTimeout { timeout, .. } if timeout.kind == TimeoutKind::Precommit
    )));
}

#[test]
fn the_future_height_buffer_is_bounded() {
    let mut config = config();
    config.max_buffered_per_signer = 2;
    config.max_buffered_messages = 3;
    config.max_future_heights = 1;
    let mut core = Consensus::new(config, TestSigner(0));
    core.apply(Input::StartHeight {
        height: HEIGHT,
        validators: validators(),
        wal: Vec::new(),
    })
    .unwrap();
    let msg = |k, round| {
        Input::Vote(signed_vote(
            CHAIN,
            k,
            HEIGHT + 1,
            Round(round),
            VoteType::Prevote,
            None,
        ))
    };
    core.apply(msg(1, 0)).unwrap();
    core.apply(msg(1, 1)).unwrap();
    assert!(matches!(
        core.apply(msg(1, 2)).unwrap_err(),
        ConsensusError::FutureBufferFull { capacity: 2 }
    ));
    core.apply(msg(2, 0)).unwrap();
    assert!(matches!(
        core.apply(msg(3, 0)).unwrap_err(),
        ConsensusError::FutureBufferFull { capacity: 3 }
    ));
    let too_far = Input::Vote(signed_vote(
        CHAIN,
        1,
        HEIGHT + 2,
        Round(0),
        VoteType::Prevote,
        None,
    ));
    assert!(matches!(
        core.apply(too_far).unwrap_err(),
        ConsensusError::HeightTooFarAhead { .. }
    ));
    let stale = Input::Vote(signed_vote(
        CHAIN,
        1,
        HEIGHT - 1,
        Round(0),
        VoteType::Prevote,
        None,
    ));
    assert!(matches!(
        core.apply(stale).unwrap_err(),
        ConsensusError::StaleHeight { .. }
    ));
}

#[test]
fn start_height_must_increase() {
    let (mut node, _) = Node::start(0);
    let err = node
        .core
        .apply(Input::StartHeight {
            height: HEIGHT,
            validators: validators(),
            wal: Vec::new(),
        })
        .unwrap_err();
    assert!(matches!(err, ConsensusError::HeightNotIncreasing { .. }));
}

#[test]
fn a_node_outside_the_validator_set_follows_without_signing() {
    let (mut node, out) = Node::start(9);
    assert!(!signs_anything(&out));
    node.apply_all(vec![proposal(0, A, None), valid(A)]);
    let out = node.apply_all(prevotes(&[0, 1, 2], 0, Some(A)));
    assert!(!signs_anything(&out));
    let out = node.apply_all(precommits(&[0, 1, 2], 0, Some(A)));
    assert_eq!(decision(&out).map(|c| c.value), Some(A));
}
