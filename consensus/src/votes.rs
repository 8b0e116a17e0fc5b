//! The vote keeper: tallies the votes of one height by voting power per round and vote type.
//!
//! A validator's first vote in a (round, type) slot counts. An identical copy is a duplicate and is
//! ignored; a different one is equivocation and becomes [`Evidence`] carrying both signed votes
//! (reported once per slot).
//!
//! The paper counts messages, so an equivocator's vote for `v` counts towards "2f+1 for `id(v)`"
//! even if it also voted for something else. That matters for liveness: otherwise an equivocator
//! could show a polka to some correct validators and hide it forever from others (who counted its
//! other vote first). The keeper therefore also counts a conflicting vote when the caller says its
//! value matters (the state machine: a value proposed at this height), once per (validator, value).
//! Safety is unaffected: the thresholds already assume byzantine power may vote for every value. Only
//! proposed values are counted this way so that memory stays bounded. The keeper also remembers, per validator, the highest round
//! it has sent anything for, which drives the round-skip rule (L55) even for rounds too far ahead to
//! store votes for.
//!
//! Signature and membership checks happen before a vote reaches the keeper (see
//! [`crate::Consensus`]); the keeper works on validator indices.

use std::collections::BTreeMap;

use crate::{
    certificate::CommitCertificate,
    context::Context,
    evidence::Evidence,
    types::{Round, SignedVote, VoteType},
    validators::ValidatorSet,
};

/// What adding a vote did.
#[derive(Debug)]
pub enum VoteOutcome<C: Context> {
    /// The vote was counted.
    Counted,
    /// The same vote was already counted; nothing changed.
    Duplicate,
    /// The validator had already voted differently in this slot. The first vote stays counted.
    Equivocation {
        /// The evidence, the first time equivocation is seen in this slot for this validator.
        evidence: Option<Box<Evidence<C>>>,
        /// Whether this vote was counted too (its value matters, see the module doc).
        counted: bool,
    },
}

/// Votes of one type in one round.
#[derive(Debug)]
struct Tally<C: Context> {
    /// First vote of each validator, by validator index.
    votes: Vec<Option<SignedVote<C>>>,
    /// Conflicting votes that were counted as well, one per (validator, value).
    conflicting: Vec<(usize, SignedVote<C>)>,
    /// Whether equivocation by each validator was already reported in this slot.
    reported: Vec<bool>,
    /// Power per value voted for (`None` is nil). Few distinct values per round, so a vector.
    power_by_value: Vec<(Option<C::ValueId>, u64)>,
    /// Power of all counted votes, whatever their value.
    total: u64,
}

impl<C: Context> Tally<C> {
    fn new(n: usize) -> Self {
        Tally {
            votes: vec![None; n],
            conflicting: Vec::new(),
            reported: vec![false; n],
            power_by_value: Vec::new(),
            total: 0,
        }
    }

    fn power_for(&self, value: Option<&C::ValueId>) -> u64 {
        self.power_by_value
            .iter()
            .find(|(v, _)| v.as_ref() == value)
            .map_or(0, |(_, p)| *p)
    }
}

fn add_power<V: PartialEq>(
    power_by_value: &mut Vec<(Option<V>, u64)>,
    value: Option<V>,
    power: u64,
) {
    match power_by_value.iter_mut().find(|(v, _)| *v == value) {
        Some((_, p)) => *p = p.saturating_add(power),
        None => power_by_value.push((value, power)),
    }
}

/// Both vote types of one round.
#[derive(Debug)]
struct RoundVotes<C: Context> {
    prevotes: Tally<C>,
    precommits: Tally<C>,
}

impl<C: Context> RoundVotes<C> {
    fn tally(&self, vote_type: VoteType) -> &Tally<C> {
        match vote_type {
            VoteType::Prevote => &self.prevotes,
            VoteType::Precommit => &self.precommits,
        }
    }
}

/// Votes of one height.
#[derive(Debug)]
pub struct VoteKeeper<C: Context> {
    rounds: BTreeMap<Round, RoundVotes<C>>,
    highest_round: Vec<Option<Round>>,
}

impl<C: Context> VoteKeeper<C> {
    /// An empty keeper for a set of `validator_count` validators.
    pub fn new(validator_count: usize) -> Self {
        VoteKeeper {
            rounds: BTreeMap::new(),
            highest_round: vec![None; validator_count],
        }
    }

    fn validator_count(&self) -> usize {
        self.highest_round.len()
    }

    /// Records that validator `index` sent a message for `round` (any type). Returns whether this
    /// raised the highest round known for it.
    pub fn note_round(&mut self, index: usize, round: Round) -> bool {
        match self.highest_round.get_mut(index) {
            Some(slot) if slot.is_none_or(|r| r < round) => {
                *slot = Some(round);
                true
            }
            _ => false,
        }
    }

    /// Adds a vote from validator `index` (whose power is `power`). The caller has checked the
    /// signature, the height and that `index` is the vote's signer. `count_if_conflicting` says
    /// whether the vote's value matters enough to count it even if it conflicts with an earlier vote.
    pub fn add(
        &mut self,
        index: usize,
        power: u64,
        vote: SignedVote<C>,
        count_if_conflicting: bool,
    ) -> VoteOutcome<C> {
        let n = self.validator_count();
        let round_votes = self
            .rounds
            .entry(vote.vote.round)
            .or_insert_with(|| RoundVotes {
                prevotes: Tally::new(n),
                precommits: Tally::new(n),
            });
        let tally = match vote.vote.vote_type {
            VoteType::Prevote => &mut round_votes.prevotes,
            VoteType::Precommit => &mut round_votes.precommits,
        };
        let Some(slot) = tally.votes.get_mut(index) else {
            return VoteOutcome::Duplicate;
        };
        match slot {
            Some(existing) if existing.vote.value == vote.vote.value => VoteOutcome::Duplicate,
            Some(existing) => {
                let value = vote.vote.value.clone();
                if tally
                    .conflicting
                    .iter()
                    .any(|(i, v)| *i == index && v.vote.value == value)
                {
                    return VoteOutcome::Duplicate;
                }
                let evidence = match tally.reported.get_mut(index) {
                    Some(reported) if !*reported => {
                        *reported = true;
                        Some(Box::new(Evidence::ConflictingVotes {
                            first: existing.clone(),
                            second: vote.clone(),
                        }))
                    }
                    _ => None,
                };
                if count_if_conflicting {
                    tally.conflicting.push((index, vote));
                    add_power(&mut tally.power_by_value, value, power);
                }
                VoteOutcome::Equivocation {
                    evidence,
                    counted: count_if_conflicting,
                }
            }
            None => {
                let value = vote.vote.value.clone();
                *slot = Some(vote);
                tally.total = tally.total.saturating_add(power);
                add_power(&mut tally.power_by_value, value, power);
                VoteOutcome::Counted
            }
        }
    }

    /// Power of the votes of `vote_type` in `round` for `value` (`None`: nil).
    pub fn power_for(&self, round: Round, vote_type: VoteType, value: Option<&C::ValueId>) -> u64 {
        self.rounds
            .get(&round)
            .map_or(0, |r| r.tally(vote_type).power_for(value))
    }

    /// Power of all votes of `vote_type` in `round`, whatever their value.
    pub fn total_power(&self, round: Round, vote_type: VoteType) -> u64 {
        self.rounds
            .get(&round)
            .map_or(0, |r| r.tally(vote_type).total)
    }

    /// The vote counted for validator `index` in a slot, if any.
    pub fn vote_of(
        &self,
        round: Round,
        vote_type: VoteType,
        index: usize,
    ) -> Option<&SignedVote<C>> {
        self.rounds
            .get(&round)
            .and_then(|r| r.tally(vote_type).votes.get(index))
            .and_then(Option::as_ref)
    }

    /// L55: the highest round `R` above `current` such that validators with more than 1/3 of the
    /// power have sent messages for round `R` or higher. The paper skips to a round in which `f + 1`
    /// validators sent messages; this target is never below that round, and never above the round of
    /// some correct validator, since byzantine power alone stays below 1/3.
    pub fn skip_target(&self, current: Round, validators: &ValidatorSet<C>) -> Option<Round> {
        let mut ahead: Vec<(Round, u64)> = self
            .highest_round
            .iter()
            .zip(validators.validators())
            .filter_map(|(r, v)| r.filter(|r| *r > current).map(|r| (r, v.voting_power)))
            .collect();
        if !validators.is_one_third_plus(ahead.iter().map(|(_, p)| *p).sum()) {
            return None;
        }
        ahead.sort_unstable_by_key(|a| std::cmp::Reverse(a.0));
        let mut power: u64 = 0;
        for (round, p) in ahead {
            power = power.saturating_add(p);
            if validators.is_one_third_plus(power) {
                return Some(round);
            }
        }
        None
    }

    /// The certificate for `value` decided in `round`: every counted precommit for it.
    pub fn commit_certificate(
        &self,
        height: u64,
        round: Round,
        value: &C::ValueId,
    ) -> CommitCertificate<C> {
        let precommits = self
            .rounds
            .get(&round)
            .map(|r| {
                r.precommits
                    .votes
                    .iter()
                    .flatten()
                    .chain(r.precommits.conflicting.iter().map(|(_, v)| v))
                    .filter(|v| v.vote.value.as_ref() == Some(value))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        CommitCertificate {
            height,
            round,
            value: value.clone(),
            precommits,
        }
    }
}
