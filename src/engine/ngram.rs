//! Drafts from the conversation itself (prompt lookup): a coding agent's output copies its
//! input — the `old` text of an edit is lines it just read, a rewritten file is mostly the
//! old one, a path comes back from a tool result. When the last few tokens occurred before
//! in the session, what followed them then is a good guess for what follows now, and it
//! costs no model at all.
//!
//! The index covers every token the target session holds (the prompt, tool results, earlier
//! answers, what is being generated) and lives as long as the session, so a later turn finds
//! what an earlier one read. It follows the session exactly: tokens the target drops (a
//! rejected draft, a prompt that diverges) are taken out of it again.

use std::collections::HashMap;

use llama_cpp_2::token::LlamaToken;

use crate::engine::error::EngineError;
use crate::engine::kv_session::KvSession;
use crate::engine::speculative::Drafter;

/// Tokens the key n-gram spans: short enough to find a copy soon after it starts, long
/// enough that a match is rarely chance.
const KEY: usize = 3;
/// Earlier occurrences compared per lookup (latest first) to find the longest match.
const CANDIDATES: usize = 8;
/// How far back a match is measured; beyond this every match is equally convincing.
const MAX_MATCH: usize = 64;
/// A proposal is at most this many times as long as the match behind it: a short match is a
/// weak promise, and a long proposal costs verify work when it breaks.
const PROPOSAL_PER_MATCHED: usize = 2;

/// An index of where each `KEY`-gram occurred in the session's tokens.
#[derive(Debug, Default)]
pub struct NgramIndex {
    /// The tokens indexed, a copy of the session's (they are compared on every lookup).
    tokens: Vec<LlamaToken>,
    /// Hash of the `KEY` tokens ending before position p → every such p, in order.
    ends: HashMap<u64, Vec<u32>>,
}

impl NgramIndex {
    /// Makes the index cover exactly `held` then `next` (the session's tokens and the one
    /// pending, without copying the session's): drops what diverged, adds what is new.
    fn sync(&mut self, held: &[LlamaToken], next: &[LlamaToken]) {
        let history = || held.iter().chain(next);
        let keep = self
            .tokens
            .iter()
            .zip(history())
            .take_while(|(a, b)| a == b)
            .count();
        while self.tokens.len() > keep {
            let end = self.tokens.len();
            if end >= KEY {
                let key = hash(&self.tokens[end - KEY..end]);
                if let Some(list) = self.ends.get_mut(&key) {
                    // Positions were pushed in order, so the last one is this end.
                    list.pop();
                    if list.is_empty() {
                        self.ends.remove(&key);
                    }
                }
            }
            self.tokens.pop();
        }
        for &token in history().skip(keep) {
            self.tokens.push(token);
            let end = self.tokens.len();
            if end >= KEY {
                let key = hash(&self.tokens[end - KEY..end]);
                let end = u32::try_from(end).unwrap_or(u32::MAX);
                self.ends.entry(key).or_default().push(end);
            }
        }
    }

    /// The continuation of the longest recent earlier occurrence of the indexed tokens'
    /// tail, at most `k` tokens, and how many tokens matched.
    fn lookup(&self, k: usize) -> (Vec<LlamaToken>, usize) {
        let tokens = &self.tokens;
        let len = tokens.len();
        if len < KEY || k == 0 {
            return (Vec::new(), 0);
        }
        let Some(ends) = self.ends.get(&hash(&tokens[len - KEY..])) else {
            return (Vec::new(), 0);
        };
        let mut best = (0, 0);
        // The tail itself is the last entry; it has nothing after it.
        for &end in ends.iter().rev().skip(1).take(CANDIDATES) {
            let end = end as usize;
            let matched = tokens[..end]
                .iter()
                .rev()
                .zip(tokens.iter().rev())
                .take(MAX_MATCH)
                .take_while(|(a, b)| a == b)
                .count();
            if matched > best.1 {
                best = (end, matched);
            }
        }
        let (end, matched) = best;
        // A hash collision matches nothing.
        if matched < KEY {
            return (Vec::new(), 0);
        }
        let take = k.min(matched * PROPOSAL_PER_MATCHED).min(len - end);
        (tokens[end..end + take].to_vec(), matched)
    }
}

/// FNV-1a over the token ids: fast, and collisions are caught by comparing tokens.
fn hash(tokens: &[LlamaToken]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for token in tokens {
        for byte in token.0.to_le_bytes() {
            h ^= u64::from(byte);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The drafter over one session's index.
pub(crate) struct Ngram<'a> {
    pub index: &'a mut NgramIndex,
    /// The proposal found when the round's length was chosen, handed out by `propose`.
    found: Vec<LlamaToken>,
}

impl<'a> Ngram<'a> {
    pub(crate) fn new(index: &'a mut NgramIndex) -> Self {
        Self {
            index,
            found: Vec::new(),
        }
    }
}

impl Drafter for Ngram<'_> {
    fn cap(&mut self, target: &mut KvSession<'_>, pending: LlamaToken, limit: usize) -> usize {
        self.index.sync(target.tokens(), &[pending]);
        self.found = self.index.lookup(limit).0;
        self.found.len()
    }

    fn propose(
        &mut self,
        _target: &mut KvSession<'_>,
        _pending: LlamaToken,
        k: usize,
    ) -> Result<Vec<LlamaToken>, EngineError> {
        let mut drafts = std::mem::take(&mut self.found);
        drafts.truncate(k);
        // The next lookup syncs with whatever the target kept.
        Ok(drafts)
    }

    fn steps(&self, _k: usize) -> usize {
        // A lookup is not a model step; its time is noise next to a decode.
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().map(|&i| LlamaToken::new(i)).collect()
    }

    fn index(ids: &[i32]) -> NgramIndex {
        let mut index = NgramIndex::default();
        index.sync(&toks(ids), &[]);
        index
    }

    #[test]
    fn proposes_what_followed_the_longest_earlier_match() {
        // "1 2 3 4" was followed by 9 once and by 5 6 7 later, but the later occurrence
        // matches the tail for longer (0 1 2 3 4 vs 2 3 4).
        let index = index(&[0, 1, 2, 3, 4, 5, 6, 7, 8, 2, 3, 4, 9, 0, 1, 2, 3, 4]);
        let (drafts, matched) = index.lookup(3);
        assert_eq!(drafts, toks(&[5, 6, 7]));
        assert_eq!(matched, 5);
    }

    #[test]
    fn a_short_match_makes_a_short_proposal() {
        let index = index(&[1, 2, 3, 10, 11, 12, 13, 14, 15, 16, 17, 5, 1, 2, 3]);
        let (drafts, matched) = index.lookup(16);
        assert_eq!(matched, 3);
        assert_eq!(drafts, toks(&[10, 11, 12, 13, 14, 15]));
    }

    #[test]
    fn nothing_when_the_tail_never_occurred() {
        let index = index(&[1, 2, 3, 4, 5, 6]);
        assert_eq!(index.lookup(8), (Vec::new(), 0));
        assert_eq!(NgramIndex::default().lookup(8), (Vec::new(), 0));
    }

    #[test]
    fn dropped_tokens_leave_the_index() {
        let mut index = index(&[1, 2, 3, 7, 7, 1, 2, 3]);
        assert_eq!(index.lookup(2).0, toks(&[7, 7]));
        // The session drops back to before the first occurrence's continuation and goes on
        // differently: the old continuation is gone, the new one is found.
        index.sync(&toks(&[1, 2, 3, 8, 9, 1, 2, 3]), &[]);
        assert_eq!(index.lookup(2).0, toks(&[8, 9]));
        index.sync(&toks(&[1, 2]), &[]);
        assert_eq!(index.tokens, toks(&[1, 2]));
        assert!(index.ends.is_empty());
    }

    #[test]
    fn syncing_in_steps_builds_the_same_index_as_at_once() {
        let ids: Vec<i32> = (0..200).map(|i| (i * 7 + i / 13) % 11).collect();
        let whole = index(&ids);
        let mut stepped = NgramIndex::default();
        for end in (0..=ids.len()).step_by(7) {
            stepped.sync(&toks(&ids[..end]), &[]);
            // And back a little, as after a rejected draft.
            stepped.sync(&toks(&ids[..end.saturating_sub(2)]), &[]);
        }
        stepped.sync(&toks(&ids), &[]);
        assert_eq!(stepped.tokens, whole.tokens);
        assert_eq!(stepped.ends, whole.ends);
        assert_eq!(stepped.lookup(8), whole.lookup(8));
    }
}
