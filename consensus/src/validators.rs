//! The validator set of a height and weighted proposer selection.
//!
//! Proposer selection follows CometBFT's proposer-priority rotation: every step, each validator's
//! priority grows by its voting power, the validator with the highest priority (ties broken by the
//! smaller key) proposes, and its priority drops by the total voting power. Over any window of
//! `total_voting_power` steps each validator proposes exactly `voting_power` times when the rotation
//! starts from equal priorities. Before each step, priorities are rescaled if their spread exceeds
//! twice the total power, and re-centred on zero, as CometBFT does.
//!
//! A [`ValidatorSet`] carries the priorities in force at its height; the proposer of round `r` is the
//! one chosen by the `(r + 1)`-th step from those priorities, and [`ValidatorSet::next_height`]
//! advances them by one step, like CometBFT's per-block increment. The proposer of (height, round) is
//! thus a pure function of the set, the height and the round.

use std::collections::HashMap;

use crate::{context::Context, error::ConsensusError, types::Round};

/// Upper bound on total voting power, as in CometBFT: keeps every priority computation far from
/// `i64` overflow.
pub const MAX_TOTAL_VOTING_POWER: u64 = (i64::MAX / 8) as u64;

/// A validator: its key and its voting power.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Validator<C: Context> {
    /// The validator's key (its address in messages).
    pub public_key: C::PublicKey,
    /// Its voting power; never zero in a set.
    pub voting_power: u64,
}

/// The validators of one height, sorted by key, with their proposer priorities.
#[derive(Clone, Debug)]
pub struct ValidatorSet<C: Context> {
    validators: Vec<Validator<C>>,
    index: HashMap<C::PublicKey, usize>,
    total_voting_power: u64,
    priorities: Vec<i64>,
}

impl<C: Context> ValidatorSet<C> {
    /// A set with every proposer priority at zero (a genesis set).
    pub fn new(validators: Vec<Validator<C>>) -> Result<Self, ConsensusError> {
        let n = validators.len();
        Self::with_priorities(validators, vec![0; n])
    }

    /// A set with given proposer priorities (aligned with `validators` as given).
    pub fn with_priorities(
        validators: Vec<Validator<C>>,
        priorities: Vec<i64>,
    ) -> Result<Self, ConsensusError> {
        if validators.is_empty() {
            return Err(ConsensusError::EmptyValidatorSet);
        }
        let mut total: u64 = 0;
        for (position, v) in validators.iter().enumerate() {
            if v.voting_power == 0 {
                return Err(ConsensusError::ZeroVotingPower { position });
            }
            total = total
                .checked_add(v.voting_power)
                .filter(|t| *t <= MAX_TOTAL_VOTING_POWER)
                .ok_or(ConsensusError::TotalVotingPowerTooLarge {
                    max: MAX_TOTAL_VOTING_POWER,
                })?;
        }
        let mut paired: Vec<(Validator<C>, i64)> = validators
            .into_iter()
            .zip(priorities.into_iter().chain(std::iter::repeat(0)))
            .collect();
        paired.sort_by(|a, b| a.0.public_key.cmp(&b.0.public_key));
        let mut index = HashMap::with_capacity(paired.len());
        for (position, (v, _)) in paired.iter().enumerate() {
            if index.insert(v.public_key.clone(), position).is_some() {
                return Err(ConsensusError::DuplicateValidator { position });
            }
        }
        let (validators, priorities) = paired.into_iter().unzip();
        Ok(ValidatorSet {
            validators,
            index,
            total_voting_power: total,
            priorities,
        })
    }

    /// The validators, sorted by key.
    pub fn validators(&self) -> &[Validator<C>] {
        &self.validators
    }

    /// Number of validators.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Never true for a constructed set; here for symmetry with `len`.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// Sum of all voting power.
    pub fn total_voting_power(&self) -> u64 {
        self.total_voting_power
    }

    /// Position of a key in [`Self::validators`].
    pub fn index_of(&self, public_key: &C::PublicKey) -> Option<usize> {
        self.index.get(public_key).copied()
    }

    /// The validator at a position.
    pub fn get(&self, index: usize) -> Option<&Validator<C>> {
        self.validators.get(index)
    }

    /// Voting power of a key, zero for a non-validator.
    pub fn voting_power_of(&self, public_key: &C::PublicKey) -> u64 {
        self.index_of(public_key)
            .and_then(|i| self.validators.get(i))
            .map_or(0, |v| v.voting_power)
    }

    /// More than 2/3 of the total voting power (the paper's `2f + 1`).
    pub fn is_quorum(&self, power: u64) -> bool {
        u128::from(power) * 3 > u128::from(self.total_voting_power) * 2
    }

    /// More than 1/3 of the total voting power (the paper's `f + 1`).
    pub fn is_one_third_plus(&self, power: u64) -> bool {
        u128::from(power) * 3 > u128::from(self.total_voting_power)
    }

    /// The proposer priorities in force at this set's height, aligned with [`Self::validators`].
    pub fn priorities(&self) -> &[i64] {
        &self.priorities
    }

    /// The proposer of `round` at this set's height. Costs `O(n * (round + 1))`; the state machine
    /// uses [`ProposerSchedule`] to pay that once per round instead.
    pub fn proposer(&self, round: Round) -> &Validator<C> {
        let mut schedule = ProposerSchedule::new(self);
        let index = schedule.proposer_index(self, round);
        &self.validators[index]
    }

    /// The same validators at the next height: priorities advanced by one rotation step.
    pub fn next_height(&self) -> Self {
        let mut next = self.clone();
        rotate(
            &mut next.priorities,
            &next.validators,
            next.total_voting_power,
        );
        next
    }
}

/// One rotation step: rescale, re-centre, add powers, pick and charge the proposer.
/// Returns the proposer's index.
fn rotate<C: Context>(priorities: &mut [i64], validators: &[Validator<C>], total: u64) -> usize {
    // Bounded by MAX_TOTAL_VOTING_POWER, so the conversions and sums below stay in range.
    let total = i64::try_from(total).unwrap_or(i64::MAX);
    let window = total.saturating_mul(2);
    let max = priorities.iter().copied().max().unwrap_or(0);
    let min = priorities.iter().copied().min().unwrap_or(0);
    let spread = max.saturating_sub(min);
    if window > 0 && spread > window {
        let ratio = (spread - 1) / window + 1; // ceil(spread / window), both positive
        for p in priorities.iter_mut() {
            *p /= ratio;
        }
    }
    let len = i128::try_from(priorities.len()).unwrap_or(1).max(1);
    let sum: i128 = priorities.iter().map(|p| i128::from(*p)).sum();
    let average = i64::try_from(sum.div_euclid(len)).unwrap_or(0);
    for (p, v) in priorities.iter_mut().zip(validators) {
        let power = i64::try_from(v.voting_power).unwrap_or(i64::MAX);
        *p = p.saturating_sub(average).saturating_add(power);
    }
    // Highest priority proposes; on a tie the earlier index (the smaller key) wins.
    let mut best = 0;
    for (i, p) in priorities.iter().enumerate() {
        if *p > priorities[best] {
            best = i;
        }
    }
    if let Some(p) = priorities.get_mut(best) {
        *p = p.saturating_sub(total);
    }
    best
}

/// Proposers of the rounds of one height, computed lazily and remembered.
#[derive(Clone, Debug)]
pub struct ProposerSchedule {
    priorities: Vec<i64>,
    proposers: Vec<usize>,
}

impl ProposerSchedule {
    /// The schedule of a set's height.
    pub fn new<C: Context>(validators: &ValidatorSet<C>) -> Self {
        ProposerSchedule {
            priorities: validators.priorities.clone(),
            proposers: Vec::new(),
        }
    }

    /// Index (into `validators.validators()`) of the proposer of `round`.
    pub fn proposer_index<C: Context>(
        &mut self,
        validators: &ValidatorSet<C>,
        round: Round,
    ) -> usize {
        let wanted = usize::try_from(round.0).unwrap_or(usize::MAX);
        while self.proposers.len() <= wanted {
            let p = rotate(
                &mut self.priorities,
                &validators.validators,
                validators.total_voting_power,
            );
            self.proposers.push(p);
        }
        self.proposers.get(wanted).copied().unwrap_or(0)
    }
}
