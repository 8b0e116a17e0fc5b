//! A single core under test, driven input by input, with builders of the messages of the
//! other validators of a four-validator, equal-power set (quorum: 3 votes; f + 1: 2 votes).

use std::time::Duration;

use cairn_consensus::{
    testing::{signed_proposal, signed_vote, test_validator_set, TestContext, TestSigner},
    Config, Consensus, Input, Output, Round, SignedMessage, Step, Timeout, TimeoutKind,
    TimeoutSchedule, Timeouts, ValidatorSet, VoteType,
};

pub const CHAIN: &str = "cairn-test";
pub const HEIGHT: u64 = 1;

pub type Out = Output<TestContext>;

pub fn config() -> Config {
    let mut config = Config::new(CHAIN).unwrap();
    let ms = |base, per_round| TimeoutSchedule {
        base: Duration::from_millis(base),
        per_round: Duration::from_millis(per_round),
    };
    config.timeouts = Timeouts {
        propose: ms(300, 100),
        prevote: ms(200, 100),
        precommit: ms(200, 100),
    };
    config
}

pub fn validators() -> ValidatorSet<TestContext> {
    test_validator_set(&[1, 1, 1, 1]).unwrap()
}

pub fn proposer(round: u32) -> u32 {
    validators().proposer(Round(round)).public_key
}

/// A validator that is not the proposer of any of the given rounds.
pub fn non_proposer_of(rounds: &[u32]) -> u32 {
    (0..4)
        .find(|k| rounds.iter().all(|r| proposer(*r) != *k))
        .unwrap()
}

/// Validators other than `me`, in key order.
pub fn others(me: u32) -> Vec<u32> {
    (0..4).filter(|k| *k != me).collect()
}

pub struct Node {
    pub me: u32,
    pub core: Consensus<TestContext, TestSigner>,
}

impl Node {
    /// Starts height 1 as validator `me`; returns the node and the start outputs.
    pub fn start(me: u32) -> (Node, Vec<Out>) {
        let mut core = Consensus::new(config(), TestSigner(me));
        let out = core
            .apply(Input::StartHeight {
                height: HEIGHT,
                validators: validators(),
                wal: Vec::new(),
            })
            .unwrap();
        (Node { me, core }, out)
    }

    pub fn apply(&mut self, input: Input<TestContext>) -> Vec<Out> {
        self.core.apply(input).unwrap()
    }

    pub fn apply_all(&mut self, inputs: Vec<Input<TestContext>>) -> Vec<Out> {
        inputs.into_iter().flat_map(|i| self.apply(i)).collect()
    }

    pub fn state(&self) -> (u32, Step) {
        (self.core.round().0, self.core.step())
    }
}

pub fn proposal(round: u32, value: u64, pol_round: Option<u32>) -> Input<TestContext> {
    Input::Proposal(signed_proposal(
        CHAIN,
        proposer(round),
        HEIGHT,
        Round(round),
        value,
        pol_round.map(Round),
    ))
}

pub fn vote(key: u32, round: u32, vote_type: VoteType, value: Option<u64>) -> Input<TestContext> {
    Input::Vote(signed_vote(
        CHAIN,
        key,
        HEIGHT,
        Round(round),
        vote_type,
        value,
    ))
}

pub fn prevote(key: u32, round: u32, value: Option<u64>) -> Input<TestContext> {
    vote(key, round, VoteType::Prevote, value)
}

pub fn precommit(key: u32, round: u32, value: Option<u64>) -> Input<TestContext> {
    vote(key, round, VoteType::Precommit, value)
}

/// Prevotes of `keys` for `value` in `round`.
pub fn prevotes(keys: &[u32], round: u32, value: Option<u64>) -> Vec<Input<TestContext>> {
    keys.iter().map(|k| prevote(*k, round, value)).collect()
}

/// Precommits of `keys` for `value` in `round`.
pub fn precommits(keys: &[u32], round: u32, value: Option<u64>) -> Vec<Input<TestContext>> {
    keys.iter().map(|k| precommit(*k, round, value)).collect()
}

pub fn valid(value: u64) -> Input<TestContext> {
    Input::ValueValidity {
        height: HEIGHT,
        value,
        valid: true,
    }
}

pub fn invalid(value: u64) -> Input<TestContext> {
    Input::ValueValidity {
        height: HEIGHT,
        value,
        valid: false,
    }
}

pub fn elapsed(kind: TimeoutKind, round: u32) -> Input<TestContext> {
    Input::TimeoutElapsed(Timeout {
        height: HEIGHT,
        round: Round(round),
        kind,
    })
}

/// The output of signing a vote as `me`.
pub fn signs_vote(me: u32, round: u32, vote_type: VoteType, value: Option<u64>) -> Out {
    Output::PersistAndBroadcast(SignedMessage::Vote(signed_vote(
        CHAIN,
        me,
        HEIGHT,
        Round(round),
        vote_type,
        value,
    )))
}

pub fn signs_prevote(me: u32, round: u32, value: Option<u64>) -> Out {
    signs_vote(me, round, VoteType::Prevote, value)
}

pub fn signs_precommit(me: u32, round: u32, value: Option<u64>) -> Out {
    signs_vote(me, round, VoteType::Precommit, value)
}

pub fn signs_proposal(me: u32, round: u32, value: u64, pol_round: Option<u32>) -> Out {
    Output::PersistAndBroadcast(SignedMessage::Proposal(signed_proposal(
        CHAIN,
        me,
        HEIGHT,
        Round(round),
        value,
        pol_round.map(Round),
    )))
}

pub fn schedules(kind: TimeoutKind, round: u32) -> Out {
    let t = config().timeouts;
    let schedule = match kind {
        TimeoutKind::Propose => t.propose,
        TimeoutKind::Prevote => t.prevote,
        TimeoutKind::Precommit => t.precommit,
    };
    Output::ScheduleTimeout {
        timeout: Timeout {
            height: HEIGHT,
            round: Round(round),
            kind,
        },
        duration: schedule.duration(Round(round)),
    }
}

pub fn validates(round: u32, value: u64) -> Out {
    Output::ValidateValue {
        height: HEIGHT,
        round: Round(round),
        value,
    }
}

/// Whether any output signs something.
pub fn signs_anything(outputs: &[Out]) -> bool {
    outputs
        .iter()
        .any(|o| matches!(o, Output::PersistAndBroadcast(_)))
}

/// The decided certificate among outputs, if any.
pub fn decision(outputs: &[Out]) -> Option<&cairn_consensus::CommitCertificate<TestContext>> {
    outputs.iter().find_map(|o| match o {
        Output::Decide(c) => Some(c),
        _ => None,
    })
}
