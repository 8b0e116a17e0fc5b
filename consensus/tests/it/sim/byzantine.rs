//! Byzantine validators. They do not run the core; they react to what they receive.

use std::collections::{BTreeMap, BTreeSet};

use cairn_consensus::{
    testing::{signed_proposal, signed_vote},
    Round, SignedMessage, ValidatorSet, VoteType,
};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::{
    scenario::Byzantine,
    values::{byzantine_valid_value, invalid_value},
    CHAIN_ID,
};
use cairn_consensus::testing::TestContext;

/// Messages a byzantine node wants sent: (recipient, message).
pub type Sends = Vec<(usize, SignedMessage<TestContext>)>;

#[derive(Debug)]
pub struct ByzantineNode {
    pub index: usize,
    pub behaviour: Byzantine,
    /// (height, round, step) slots already acted on.
    acted: BTreeSet<(u64, u32, u8)>,
    /// Values seen per (height, round).
    seen_values: BTreeMap<(u64, u32), BTreeSet<u64>>,
}

impl ByzantineNode {
    pub fn new(index: usize, behaviour: Byzantine) -> Self {
        ByzantineNode {
            index,
            behaviour,
            acted: BTreeSet::new(),
            seen_values: BTreeMap::new(),
        }
    }

    /// Reacts to a received message.
    pub fn on_message(
        &mut self,
        message: &SignedMessage<TestContext>,
        sets: &[ValidatorSet<TestContext>],
        n: usize,
        seed: u64,
        rng: &mut ChaCha8Rng,
    ) -> Sends {
        let mut sends = Vec::new();
        if self.behaviour == Byzantine::Silent {
            return sends;
        }
        let (h, r) = (message.height(), message.round());
        let value = match message {
            SignedMessage::Proposal(p) => Some(p.proposal.value),
            SignedMessage::Vote(v) => v.vote.value,
        };
        if let Some(v) = value {
            let seen = self.seen_values.entry((h, r.0)).or_default();
            if seen.len() < 8 {
                seen.insert(v);
            }
        }
        let key = self.index as u32;
        let others: Vec<usize> = (0..n).filter(|i| *i != self.index).collect();
        let Some(set) = usize::try_from(h).ok().and_then(|h| sets.get(h)) else {
            return sends;
        };
        if !self.acted.contains(&(h, r.0, 0)) && set.proposer(r).public_key == key {
            self.acted.insert((h, r.0, 0));
            match self.behaviour {
                Byzantine::Equivocator => {
                    let a = byzantine_valid_value(seed, self.index, h, r.0, 0);
                    let b = byzantine_valid_value(seed, self.index, h, r.0, 1);
                    for &to in &others {
                        let v = if rng.gen_bool(0.5) { a } else { b };
                        let p = signed_proposal(CHAIN_ID, key, h, r, v, None);
                        sends.push((to, SignedMessage::Proposal(p)));
                        if rng.gen_bool(0.3) {
                            let w = if v == a { b } else { a };
                            let q = signed_proposal(CHAIN_ID, key, h, r, w, None);
                            sends.push((to, SignedMessage::Proposal(q)));
                        }
                    }
                }
                Byzantine::InvalidVoter => {
                    let v = invalid_value(seed, self.index, h, r.0);
                    let p = signed_proposal(CHAIN_ID, key, h, r, v, None);
                    for &to in &others {
                        sends.push((to, SignedMessage::Proposal(p.clone())));
                    }
                }
                Byzantine::Silent => {}
            }
        }
        let prevote_now = matches!(message, SignedMessage::Proposal(_))
            || matches!(message, SignedMessage::Vote(v) if v.vote.vote_type == VoteType::Prevote);
        let precommit_now = matches!(message, SignedMessage::Vote(_));
        for (step, vote_type, now) in [
            (1u8, VoteType::Prevote, prevote_now),
            (2u8, VoteType::Precommit, precommit_now),
        ] {
            if !now || !self.acted.insert((h, r.0, step)) {
                continue;
            }
            match self.behaviour {
                Byzantine::Equivocator => {
                    let mut choices: Vec<Option<u64>> = vec![None];
                    if let Some(seen) = self.seen_values.get(&(h, r.0)) {
                        choices.extend(seen.iter().copied().map(Some));
                    }
                    choices.push(Some(byzantine_valid_value(seed, self.index, h, r.0, 7)));
                    for &to in &others {
                        let first = choices[rng.gen_range(0..choices.len())];
                        sends.push((to, vote(key, h, r, vote_type, first)));
                        if rng.gen_bool(0.3) {
                            let second = choices[rng.gen_range(0..choices.len())];
                            if second != first {
                                sends.push((to, vote(key, h, r, vote_type, second)));
                            }
                        }
                    }
                }
                Byzantine::InvalidVoter => {
                    let v = Some(invalid_value(seed, self.index, h, r.0));
                    for &to in &others {
                        sends.push((to, vote(key, h, r, vote_type, v)));
                    }
                }
                Byzantine::Silent => {}
            }
        }
        sends
    }
}

fn vote(
    key: u32,
    height: u64,
    round: Round,
    vote_type: VoteType,
    value: Option<u64>,
) -> SignedMessage<TestContext> {
    SignedMessage::Vote(signed_vote(CHAIN_ID, key, height, round, vote_type, value))
}
