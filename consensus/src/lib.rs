//! The Tendermint consensus state machine of Cairn (in progress).
