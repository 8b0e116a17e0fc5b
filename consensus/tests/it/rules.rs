//! One test per rule of Algorithm 1, named after the rule's lines in the paper.
//!
//! Four validators of equal power: "2f+1" is three votes and "f+1" two. Each test drives one core
//! and checks the exact outputs and the state it ends in.

use cairn_consensus::{Output, Round, Step, TimeoutKind};

use crate::harness::*;

const A: u64 = 0xaaaa;
const B: u64 = 0xbbbb;

/// Locks `me` on `value` in round 0: proposal, verdict, and two other prevotes for it.
fn lock_in_round_0(node: &mut Node, value: u64) {
    let me = node.me;
    node.apply_all(vec![proposal(0, value, None), valid(value)]);
    let out = node.apply_all(prevotes(&others(me)[..2], 0, Some(value)));
    assert!(out.contains(&signs_precommit(me, 0, Some(value))));
    assert_eq!(node.core.locked(), Some(&(Round(0), value)));
}

#[test]
fn l10_start_height_starts_round_0_and_waits_for_the_proposal() {
    let me = non_proposer_of(&[0]);
    let (node, out) = Node::start(me);
    assert_eq!(out, vec![schedules(TimeoutKind::Propose, 0)]);
    assert_eq!(node.state(), (0, Step::Propose));
    assert_eq!(node.core.locked(), None);
    assert_eq!(node.core.valid(), None);
}

#[test]
fn l18_proposer_without_valid_value_asks_the_application() {
    let me = proposer(0);
    let (_, out) = Node::start(me);
    assert_eq!(
        out,
        vec![
            Output::RequestValue {
                height: HEIGHT,
                round: Round(0)
            },
            schedules(TimeoutKind::Propose, 0),
        ]
    );
}

#[test]
fn l19_proposer_broadcasts_the_application_value_and_prevotes_it() {
    let me = proposer(0);
    let (mut node, _) = Node::start(me);
    let out = node.apply(cairn_consensus::Input::ProposeValue {
        height: HEIGHT,
        round: Round(0),
        value: A,
    });
    assert_eq!(
        out,
        vec![
            signs_proposal(me, 0, A, None),
            signs_prevote(me, 0, Some(A))
        ]
    );
    assert_eq!(node.state(), (0, Step::Prevote));
}

#[test]
fn l15_proposer_reproposes_its_valid_value_with_its_valid_round() {
    let me = proposer(1);
    let (mut node, _) = Node::start(me);
    lock_in_round_0(&mut node, A);
    let out = node.apply(elapsed(TimeoutKind::Precommit, 0));
    assert_eq!(
        out,
        vec![
            signs_proposal(me, 1, A, Some(0)),
            schedules(TimeoutKind::Propose, 1),
            // L28: its own proposal, with the polka of round 0 it holds.
            signs_prevote(me, 1, Some(A)),
        ]
    );
}

#[test]
fn l22_prevote_on_a_fresh_proposal_depends_on_validity_and_lock() {
    struct Case {
        desc: &'static str,
        locked_on: Option<u64>,
        proposed: u64,
        valid: bool,
        expected_prevote: Option<u64>,
    }
    let cases = [
        Case {
            desc: "unlocked and valid: prevote the value (L24)",
            locked_on: None,
            proposed: B,
            valid: true,
            expected_prevote: Some(B),
        },
        Case {
            desc: "invalid: prevote nil (L26)",
            locked_on: None,
            proposed: B,
            valid: false,
            expected_prevote: None,
        },
        Case {
            desc: "locked on another value: prevote nil (L26)",
            locked_on: Some(A),
            proposed: B,
            valid: true,
            expected_prevote: None,
        },
        Case {
            desc: "locked on this value: prevote it (L24)",
            locked_on: Some(A),
            proposed: A,
            valid: true,
            expected_prevote: Some(A),
        },
    ];
    for case in cases {
        let me = non_proposer_of(&[0, 1]);
        let (mut node, _) = Node::start(me);
        match case.locked_on {
            Some(v) => lock_in_round_0(&mut node, v),
            None => {
                node.apply(elapsed(TimeoutKind::Propose, 0));
            }
        }
        node.apply(elapsed(TimeoutKind::Precommit, 0));
        assert_eq!(node.state(), (1, Step::Propose), "{}", case.desc);
        let verdict = if case.valid {
            valid(case.proposed)
        } else {
            invalid(case.proposed)
        };
        let mut out = node.apply(proposal(1, case.proposed, None));
        if node.core.locked().is_none_or(|(_, v)| *v != case.proposed) {
            assert!(
                !signs_anything(&out),
                "{}: waits for the verdict",
                case.desc
            );
            out = node.apply(verdict);
        }
        assert!(
            out.contains(&signs_prevote(me, 1, case.expected_prevote)),
            "{}: {out:?}",
            case.desc
        );
        assert_eq!(node.state(), (1, Step::Prevote), "{}", case.desc); // L27
    }
}

#[test]
fn l22_waits_for_the_application_verdict_before_prevoting() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    let out = node.apply(proposal(0, A, None));
    assert_eq!(out, vec![validates(0, A)]);
    assert_eq!(node.state(), (0, Step::Propose));
    let out = node.apply(valid(A));
    assert_eq!(out, vec![signs_prevote(me, 0, Some(A))]);
}

#[test]
fn l28_prevote_on_a_proposal_with_a_proof_of_lock() {
    struct Case {
        desc: &'static str,
        /// Value to lock on in round 1 first (polka in round 1), if any.
        lock_in_round_1: Option<u64>,
        /// Value with a polka in round 0 (seen, but without its proposal: no lock).
        polka_in_round_0: Option<u64>,
        /// Proposal of round 2: (value, pol round).
        proposal: (u64, u32),
        expected: Option<Option<u64>>,
    }
    let cases = [
        Case {
            desc: "unlocked, polka in the pol round: prevote the value (L30)",
            lock_in_round_1: None,
            polka_in_round_0: Some(A),
            proposal: (A, 0),
            expected: Some(Some(A)),
        },
        Case {
            desc: "locked after the pol round on another value: prevote nil (L32)",
            lock_in_round_1: Some(B),
            polka_in_round_0: Some(A),
            proposal: (A, 0),
            expected: Some(None),
        },
        Case {
            desc: "locked before the pol round on another value: prevote the value (L30)",
            lock_in_round_1: Some(B),
            polka_in_round_0: None,
            proposal: (B, 1),
            expected: Some(Some(B)),
        },
        Case {
            desc: "no polka in the pol round: wait (L28 does not fire)",
            lock_in_round_1: None,
            polka_in_round_0: None,
            proposal: (A, 0),
            expected: None,
        },
    ];
    for case in cases {
        let me = non_proposer_of(&[0, 1, 2]);
        let (mut node, _) = Node::start(me);
        node.apply_all(vec![valid(A), valid(B)]);
        node.apply(elapsed(TimeoutKind::Propose, 0));
        if let Some(v) = case.polka_in_round_0 {
            node.apply_all(prevotes(&others(me), 0, Some(v)));
        }
        node.apply(elapsed(TimeoutKind::Precommit, 0));
        if let Some(v) = case.lock_in_round_1 {
            node.apply_all(vec![proposal(1, v, None), valid(v)]);
            node.apply_all(prevotes(&others(me)[..2], 1, Some(v)));
            assert_eq!(node.core.locked(), Some(&(Round(1), v)), "{}", case.desc);
        }
        node.apply(elapsed(TimeoutKind::Precommit, 1));
        assert_eq!(node.state(), (2, Step::Propose), "{}", case.desc);
        let (value, pol) = case.proposal;
        let mut out = node.apply(proposal(2, value, Some(pol)));
        out.extend(node.apply(valid(value)));
        match case.expected {
            Some(prevote) => {
                assert!(
                    out.contains(&signs_prevote(me, 2, prevote)),
                    "{}: {out:?}",
                    case.desc
                );
                assert_eq!(node.state(), (2, Step::Prevote), "{}", case.desc); // L33
            }
            None => {
                assert!(!signs_anything(&out), "{}: {out:?}", case.desc);
                assert_eq!(node.state(), (2, Step::Propose), "{}", case.desc);
            }
        }
    }
}

#[test]
fn l34_any_two_thirds_of_prevotes_schedule_the_prevote_timeout_once() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    node.apply(elapsed(TimeoutKind::Propose, 0));
    let o = others(me);
    assert_eq!(node.apply(prevote(o[0], 0, Some(A))), vec![]);
    assert_eq!(
        node.apply(prevote(o[1], 0, None)),
        vec![schedules(TimeoutKind::Prevote, 0)]
    );
    assert_eq!(node.apply(prevote(o[2], 0, Some(B))), vec![]);
}

#[test]
fn l36_polka_for_the_proposal_locks_and_precommits() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    node.apply_all(vec![proposal(0, A, None), valid(A)]);
    let o = others(me);
    node.apply(prevote(o[0], 0, Some(A)));
    let out = node.apply(prevote(o[1], 0, Some(A)));
    assert_eq!(
        out,
        vec![
            schedules(TimeoutKind::Prevote, 0),
            signs_precommit(me, 0, Some(A))
        ]
    );
    assert_eq!(node.state(), (0, Step::Precommit)); // L41
    assert_eq!(node.core.locked(), Some(&(Round(0), A))); // L38-L39
    assert_eq!(node.core.valid(), Some(&(Round(0), A))); // L42-L43
}

#[test]
fn l36_polka_after_precommitting_only_updates_the_valid_value() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    let o = others(me);
    node.apply(elapsed(TimeoutKind::Propose, 0)); // prevote nil
    node.apply_all(prevotes(&o[..2], 0, Some(A)));
    node.apply(elapsed(TimeoutKind::Prevote, 0)); // precommit nil
    assert_eq!(node.state(), (0, Step::Precommit));
    node.apply_all(vec![proposal(0, A, None), valid(A)]);
    let out = node.apply(prevote(o[2], 0, Some(A)));
    assert!(!signs_anything(&out));
    assert_eq!(node.core.locked(), None);
    assert_eq!(node.core.valid(), Some(&(Round(0), A)));
}

#[test]
fn l44_two_thirds_of_nil_prevotes_precommit_nil() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    node.apply(elapsed(TimeoutKind::Propose, 0));
    let o = others(me);
    node.apply(prevote(o[0], 0, None));
    let out = node.apply(prevote(o[1], 0, None));
    assert_eq!(
        out,
        vec![
            schedules(TimeoutKind::Prevote, 0),
            signs_precommit(me, 0, None)
        ]
    );
    assert_eq!(node.state(), (0, Step::Precommit));
}

#[test]
fn l47_any_two_thirds_of_precommits_schedule_the_precommit_timeout_in_any_step() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    let o = others(me);
    node.apply(precommit(o[0], 0, Some(A)));
    node.apply(precommit(o[1], 0, None));
    let out = node.apply(precommit(o[2], 0, Some(B)));
    assert_eq!(out, vec![schedules(TimeoutKind::Precommit, 0)]);
    assert_eq!(node.state(), (0, Step::Propose));
}

#[test]
fn l49_proposal_and_two_thirds_of_precommits_decide() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    node.apply_all(vec![proposal(0, A, None), valid(A)]);
    let out = node.apply_all(precommits(&others(me), 0, Some(A)));
    let certificate = decision(&out).expect("decided");
    assert_eq!(
        (certificate.height, certificate.round, certificate.value),
        (HEIGHT, Round(0), A)
    );
    assert_eq!(certificate.precommits.len(), 3);
    certificate.verify(CHAIN, &validators()).unwrap();
    assert!(node.core.is_decided());
    // Decided: later messages of the height change nothing.
    assert_eq!(node.apply(prevote(others(me)[0], 1, None)), vec![]);
}

#[test]
fn l49_decides_for_an_earlier_round() {
    let me = non_proposer_of(&[0, 1]);
    let (mut node, _) = Node::start(me);
    node.apply_all(vec![proposal(0, A, None), valid(A)]);
    node.apply(elapsed(TimeoutKind::Precommit, 0));
    assert_eq!(node.state(), (1, Step::Propose));
    let out = node.apply_all(precommits(&others(me), 0, Some(A)));
    assert_eq!(
        decision(&out).map(|c| (c.round, c.value)),
        Some((Round(0), A))
    );
}

#[test]
fn l50_an_invalid_value_is_never_decided() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    node.apply_all(vec![proposal(0, A, None), invalid(A)]);
    let out = node.apply_all(precommits(&others(me), 0, Some(A)));
    assert!(decision(&out).is_none());
    assert!(!node.core.is_decided());
}

#[test]
fn l55_f_plus_one_messages_from_a_higher_round_skip_to_it() {
    let me = non_proposer_of(&[0, 3]);
    let (mut node, _) = Node::start(me);
    let o = others(me);
    assert!(node.apply(prevote(o[0], 3, None)).is_empty());
    assert_eq!(
        node.state(),
        (0, Step::Propose),
        "f messages are not enough"
    );
    let out = node.apply(precommit(o[1], 3, None));
    assert_eq!(out, vec![schedules(TimeoutKind::Propose, 3)]);
    assert_eq!(node.state(), (3, Step::Propose));
}

#[test]
fn l55_counts_rounds_too_far_ahead_to_store() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    let far = node.core.config().max_future_rounds + 10;
    let o = others(me);
    node.apply(prevote(o[0], far, None));
    node.apply(prevote(o[1], far, None));
    assert_eq!(node.core.round(), Round(far));
}

#[test]
fn l57_propose_timeout_prevotes_nil() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    let out = node.apply(elapsed(TimeoutKind::Propose, 0));
    assert_eq!(out, vec![signs_prevote(me, 0, None)]);
    assert_eq!(node.state(), (0, Step::Prevote));
    // L58: only in the propose step of the same round.
    assert_eq!(node.apply(elapsed(TimeoutKind::Propose, 0)), vec![]);
}

#[test]
fn l61_prevote_timeout_precommits_nil() {
    let me = non_proposer_of(&[0]);
    let (mut node, _) = Node::start(me);
    node.apply(elapsed(TimeoutKind::Propose, 0));
    let out = node.apply(elapsed(TimeoutKind::Prevote, 0));
    assert_eq!(out, vec![signs_precommit(me, 0, None)]);
    assert_eq!(node.state(), (0, Step::Precommit));
    assert_eq!(node.apply(elapsed(TimeoutKind::Prevote, 0)), vec![]);
}

#[test]
fn l65_precommit_timeout_starts_the_next_round_and_stale_timeouts_are_ignored() {
    let me = non_proposer_of(&[0, 1]);
    let (mut node, _) = Node::start(me);
    let out = node.apply(elapsed(TimeoutKind::Precommit, 0));
    assert_eq!(out, vec![schedules(TimeoutKind::Propose, 1)]);
    assert_eq!(node.state(), (1, Step::Propose));
    assert_eq!(node.apply(elapsed(TimeoutKind::Precommit, 0)), vec![]);
    assert_eq!(node.apply(elapsed(TimeoutKind::Propose, 0)), vec![]);
    assert_eq!(node.state(), (1, Step::Propose));
}

#[test]
fn timeouts_grow_with_the_round() {
    let t = config().timeouts.propose;
    assert!(t.duration(Round(5)) > t.duration(Round(1)));
    assert_eq!(t.duration(Round(u32::MAX)), t.duration(Round(u32::MAX)));
}
