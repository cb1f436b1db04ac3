//! Detects a generation stuck in a loop: the same run of tokens, back to back, over and over.
//!
//! Small models fall into loops — one line, one phrase, one token — and then spend the whole
//! token budget on it (SmolLM2-135M wrote 2,048 tokens of one repeated line per agent turn).
//! Sampling penalties would change what the model says even when it is not looping, and
//! greedy output must stay the model's own; so lode watches instead and stops the turn once
//! the tail of the output is a period repeated enough times that no useful answer looks
//! like it, and the caller tells the model.

use llama_cpp_2::token::LlamaToken;

/// Longest period (in tokens) looked for: a repeated line or short paragraph.
const MAX_PERIOD: usize = 128;
/// A loop must cover at least this many tokens before it counts, so that a few identical
/// short lines (closing braces, `assert!`s) are not mistaken for one.
const MIN_SPAN: usize = 96;
/// And repeat at least this many times.
const MIN_REPEATS: usize = 4;

/// The period of the loop `tokens` ends in, if they end in one: the last `p` tokens
/// repeated back to back at least `MIN_REPEATS` (4) times and over at least `MIN_SPAN` (96) tokens.
pub fn looping(tokens: &[LlamaToken]) -> Option<usize> {
    let n = tokens.len();
    (1..=MAX_PERIOD).find(|&p| {
        let repeats = MIN_REPEATS.max(MIN_SPAN.div_ceil(p));
        let span = p * repeats;
        span <= n && {
            let tail = &tokens[n - span..];
            let unit = &tail[span - p..];
            tail.chunks_exact(p).all(|chunk| chunk == unit)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(ids: &[i32]) -> Vec<LlamaToken> {
        ids.iter().map(|&i| LlamaToken::new(i)).collect()
    }

    fn repeated(unit: &[i32], times: usize) -> Vec<LlamaToken> {
        toks(&unit.repeat(times))
    }

    #[test]
    fn a_repeated_line_is_a_loop_once_it_covers_the_span() {
        let line: Vec<i32> = (10..22).collect(); // 12 tokens: needs 8 repeats (96 tokens)
        assert_eq!(looping(&repeated(&line, 7)), None);
        assert_eq!(looping(&repeated(&line, 8)), Some(12));
        let mut with_prefix = toks(&[1, 2, 3]);
        with_prefix.extend(repeated(&line, 9));
        assert_eq!(looping(&with_prefix), Some(12));
    }

    #[test]
    fn one_token_over_and_over_is_a_loop() {
        assert_eq!(looping(&repeated(&[5], 95)), None);
        assert_eq!(looping(&repeated(&[5], 96)), Some(1));
    }

    #[test]
    fn long_paragraphs_need_four_repeats() {
        let para: Vec<i32> = (0..100).collect();
        assert_eq!(looping(&repeated(&para, 3)), None);
        assert_eq!(looping(&repeated(&para, 4)), Some(100));
    }

    #[test]
    fn ordinary_text_is_not_a_loop() {
        let text: Vec<i32> = (0..2000).map(|i| i * 7919 % 1013).collect();
        assert_eq!(looping(&toks(&text)), None);
        // Three identical closing lines inside varied text are code, not a loop.
        let mut code: Vec<i32> = (0..200).collect();
        code.extend([7, 8, 9].repeat(3));
        assert_eq!(looping(&toks(&code)), None);
    }
}
