//! Test-only: the mutated messages the property tests of `parse.rs` and `decode.rs` feed the
//! parsers, as a `proptest` strategy (so a failing case is shrunk to a few edits and replayed).
//!
//! It owns the shape of a mutation (one to three bytes replaced, inserted or removed in a valid
//! message) and nothing else; it never decides what a parser must answer.

use proptest::prelude::*;
use proptest::sample::{Index, select};

/// What one edit does at its position.
#[derive(Clone, Copy, Debug)]
enum Edit {
    Replace,
    Insert,
    Remove,
}

/// One of `seeds` (valid messages) with one to three edits, each a byte of `alphabet` (the
/// bytes smuggling attacks are made of) replacing, inserted before, or the removal of the byte
/// at a random position.
pub(crate) fn mutated(seeds: &'static [&'static [u8]], alphabet: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let edit = (
        any::<Index>(),
        select(alphabet),
        prop_oneof![Just(Edit::Replace), Just(Edit::Insert), Just(Edit::Remove)],
    );
    (select(seeds), prop::collection::vec(edit, 1..=3)).prop_map(|(seed, edits)| {
        let mut message = seed.to_vec();
        for (at, byte, edit) in edits {
            // Seeds are longer than three bytes, so the message is never empty here.
            let at = at.index(message.len());
            match edit {
                Edit::Replace => message[at] = byte,
                Edit::Insert => message.insert(at, byte),
                Edit::Remove => {
                    message.remove(at);
                }
            }
        }
        message
    })
}
