//! How many tokens one model turn may generate, and what the agent knows about the model's
//! context while it runs. A turn gets what is left of the context after the prompt, capped by
//! the kind of turn it is: a turn that will probably call a tool needs far less room than a
//! final answer, and asking a server for half its context on every turn crowds out the
//! conversation. The figures are pure functions of the context, the prompt estimate and the
//! turn, so they are the same on every run.

/// The most a turn expected to call tools may generate: a call with its arguments, or a
/// short reply. A turn cut off at this cap is followed by an answer-sized one.
pub const TOOL_TURN_CAP: u32 = 1024;

/// No turn is asked to fit in less than this; when less is left, the agent compacts first.
pub const FLOOR: u32 = 256;

/// The smallest context length an answer is believed about.
pub const MIN_CONTEXT: u32 = 4 * FLOOR;

/// What a turn is expected to produce.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TurnKind {
    /// Tool calls: the usual turn while tools are offered.
    Tools,
    /// The final answer (the last turn of the budget), a turn with no tools to call, or the
    /// turn after one that the cap cut off.
    Answer,
}

/// What the budget of one turn depends on besides the context.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TurnShape {
    pub kind: TurnKind,
    /// The user's `max_tokens`: no turn asks for more.
    pub configured: u32,
    /// The longest answer the answer schema admits (0 without one), so a held answer always
    /// completes.
    pub answer_floor: u32,
}

/// The tokens a turn may ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Budget {
    /// Ask for this many.
    Tokens(u32),
    /// Less than `needed` is left after the prompt: compact the conversation first.
    CompactFirst { needed: u32 },
}

impl TurnShape {
    /// The most this turn would ask for in a context of `context` tokens (of any when
    /// `None`), before looking at the prompt. One answer may use at most a quarter of the
    /// context, so a rambling turn cannot crowd out the conversation it belongs to.
    pub fn wanted(&self, context: Option<u32>) -> u32 {
        let Some(context) = context else {
            // Without a context length there is nothing to size by: the user's cap.
            return self.configured.max(self.answer_floor);
        };
        let kind_cap = match self.kind {
            TurnKind::Tools => self.configured.min(TOOL_TURN_CAP),
            TurnKind::Answer => self.configured,
        };
        kind_cap
            .min((context / 4).max(FLOOR))
            .max(self.answer_floor)
    }

    /// The least this turn may ask for.
    fn least(&self, context: Option<u32>) -> u32 {
        FLOOR.min(self.wanted(context)).max(self.answer_floor)
    }
}

/// Room kept free beside an estimated prompt, which is a guess, not a count.
pub fn margin(context: u32) -> u32 {
    context / 32
}

/// The budget of a turn whose prompt is about `prompt` tokens.
pub fn turn_budget(context: Option<u32>, prompt: u32, shape: TurnShape) -> Budget {
    let wanted = shape.wanted(context);
    let Some(context) = context else {
        return Budget::Tokens(wanted);
    };
    let left = context.saturating_sub(prompt.saturating_add(margin(context)));
    let least = shape.least(Some(context));
    if left >= wanted {
        Budget::Tokens(wanted)
    } else if left >= least {
        Budget::Tokens(left)
    } else {
        Budget::CompactFirst { needed: least }
    }
}

/// What the agent learned about the model's context from the model's own answers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fit {
    /// The context length an overflow answer reported; it outranks a configured one.
    pub context: Option<u32>,
    /// Real prompt tokens per estimated token, as `(real, estimated)`, when an answer
    /// counted a prompt the estimate undercounted.
    pub scale: Option<(u32, u32)>,
}

impl Fit {
    /// Takes in what an answer said: the context, and the real size of a prompt estimated at
    /// `estimated` tokens. The estimate only ever scales up: it errs high by design.
    pub fn learn(&mut self, context: Option<u32>, real: Option<u32>, estimated: u32) {
        // A context too small to hold any turn is a broken (or hostile) answer: believing it
        // would elide the whole conversation.
        if let Some(context) = context.filter(|&n| n >= MIN_CONTEXT) {
            self.context = Some(context);
        }
        if let Some(real) = real {
            if real > estimated && estimated > 0 {
                self.scale = Some((real, estimated));
            }
        }
    }

    /// An estimate in real tokens.
    pub fn real(&self, estimated: u32) -> u32 {
        match self.scale {
            Some((real, est)) => mul_div(estimated, real, est),
            None => estimated,
        }
    }

    /// Real tokens as an estimate (what compaction measures in).
    pub fn estimated(&self, real: u32) -> u32 {
        match self.scale {
            Some((r, est)) => mul_div(real, est, r),
            None => real,
        }
    }
}

fn mul_div(value: u32, by: u32, over: u32) -> u32 {
    let scaled = u64::from(value) * u64::from(by) / u64::from(over.max(1));
    u32::try_from(scaled).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(kind: TurnKind) -> TurnShape {
        TurnShape {
            kind,
            configured: 4096,
            answer_floor: 0,
        }
    }

    #[test]
    fn an_unknown_context_keeps_the_configured_cap() {
        assert_eq!(
            turn_budget(None, 100_000, shape(TurnKind::Tools)),
            Budget::Tokens(4096)
        );
        assert_eq!(
            turn_budget(None, 0, shape(TurnKind::Answer)),
            Budget::Tokens(4096)
        );
    }

    #[test]
    fn tool_turns_ask_for_less_than_answers() {
        // The server: 8192 tokens, a short prompt.
        assert_eq!(
            turn_budget(Some(8192), 2000, shape(TurnKind::Tools)),
            Budget::Tokens(1024)
        );
        assert_eq!(
            turn_budget(Some(8192), 2000, shape(TurnKind::Answer)),
            Budget::Tokens(2048),
            "a quarter of the context"
        );
        assert_eq!(
            turn_budget(Some(131_072), 2000, shape(TurnKind::Answer)),
            Budget::Tokens(4096),
            "never more than configured"
        );
    }

    #[test]
    fn a_full_context_gives_what_is_left_then_asks_to_compact() {
        // 8192 - 256 (margin) - 7500 = 436 left.
        assert_eq!(
            turn_budget(Some(8192), 7500, shape(TurnKind::Tools)),
            Budget::Tokens(436)
        );
        assert_eq!(
            turn_budget(Some(8192), 7800, shape(TurnKind::Tools)),
            Budget::CompactFirst { needed: FLOOR }
        );
        assert_eq!(
            turn_budget(Some(8192), 9000, shape(TurnKind::Answer)),
            Budget::CompactFirst { needed: FLOOR }
        );
    }

    #[test]
    fn a_small_configured_cap_is_its_own_floor() {
        let small = TurnShape {
            configured: 100,
            ..shape(TurnKind::Answer)
        };
        assert_eq!(turn_budget(Some(2048), 1800, small), Budget::Tokens(100));
    }

    #[test]
    fn an_answer_schema_always_gets_room_for_its_longest_answer() {
        let held = TurnShape {
            answer_floor: 1500,
            ..shape(TurnKind::Tools)
        };
        assert_eq!(turn_budget(Some(8192), 1000, held), Budget::Tokens(1500));
        assert_eq!(
            turn_budget(Some(8192), 6600, held),
            Budget::CompactFirst { needed: 1500 }
        );
        assert_eq!(turn_budget(None, 0, held), Budget::Tokens(4096));
    }

    #[test]
    fn learning_scales_estimates_up_only_and_keeps_the_context() {
        let mut fit = Fit::default();
        fit.learn(Some(2048), Some(3000), 2000);
        assert_eq!(fit.context, Some(2048));
        assert_eq!(fit.real(1000), 1500);
        assert_eq!(fit.estimated(1500), 1000);
        let mut broken = Fit::default();
        broken.learn(Some(0), None, 1000);
        broken.learn(Some(MIN_CONTEXT - 1), None, 1000);
        assert_eq!(
            broken.context, None,
            "a context no turn fits in is not believed"
        );
        let mut high = Fit::default();
        high.learn(None, Some(900), 1000);
        assert_eq!((high.context, high.real(1000)), (None, 1000));
    }
}
