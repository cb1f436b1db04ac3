//! Fitting each turn in the model's context. Before a turn the agent sizes its `max_tokens`
//! from what is left of the context (`agent::budget`), compacting first when too little is.
//! When the backend still answers that the context is full, the agent learns the context
//! length and the prompt's real size from the answer, compacts to fit, lowers `max_tokens`
//! and retries the turn once. A second overflow ends the task with what to do about it. It
//! is never an outage: another backend's context is no larger.

use tokio::sync::mpsc::UnboundedReceiver;

use super::{Agent, Interrupt};
use crate::agent::budget::{self, Budget, TurnKind, TurnShape};
use crate::agent::context;
use crate::agent::events::{AgentCommand, AgentEvent};
use crate::backend::overflow::Overflow;
use crate::backend::{toolcall, BackendError, Completion, StopReason};

/// Messages kept whole when compacting after an overflow: the task's last word (the user's
/// message or the last tool result) and what led to it.
const KEEP_ON_OVERFLOW: usize = 2;

/// How one fitted turn ended.
pub(super) enum Fitted {
    Answered(Completion),
    /// The backend failed in a way other than an overflow.
    Failed(BackendError),
    /// The context overflowed and the one retry could not help; the task ends with this.
    Overflowed(String),
}

impl Agent {
    /// The context length the turns are sized by: what an overflow answer reported, else
    /// what the backend knows.
    pub(super) fn context_limit(&self) -> Option<u32> {
        self.fit.context.or_else(|| self.backend.context_length())
    }

    /// What this turn is expected to produce.
    fn turn_shape(&self, last_turn: bool) -> TurnShape {
        let kind = if last_turn || self.offered.is_empty() || self.cut_off {
            TurnKind::Answer
        } else {
            TurnKind::Tools
        };
        TurnShape {
            kind,
            configured: self.options.max_tokens,
            answer_floor: self.options.answer_schema.as_ref().map_or(0, |schema| {
                u32::try_from(toolcall::worst_case(schema, 0).saturating_add(16))
                    .unwrap_or(u32::MAX)
            }),
        }
    }

    /// The prompt as it stands, in real tokens as far as the agent knows them.
    fn prompt_tokens(&self) -> u32 {
        self.fit.real(self.estimated_tokens())
    }

    /// Elides old output, keeping the last `keep` messages whole, until the prompt is at
    /// most `real` tokens; returns how many results went.
    fn compact_to(&mut self, real: u32, keep: usize) -> usize {
        let target = self.fit.estimated(real);
        // `compact` aims at 70% of what it is given.
        let budget = target.saturating_mul(10) / 7;
        context::compact_keeping(&mut self.messages, &self.offered, budget, keep)
    }

    /// This turn's `max_tokens`, compacting first when the context is nearly full.
    fn turn_budget(&mut self, shape: TurnShape) -> u32 {
        let context = self.context_limit();
        if let Some(limit) = context {
            // Old output goes before it crowds the context, as it always has.
            context::compact(&mut self.messages, &self.offered, limit);
        }
        match budget::turn_budget(context, self.prompt_tokens(), shape) {
            Budget::Tokens(n) => n,
            Budget::CompactFirst { needed } => {
                let limit = context.unwrap_or(u32::MAX);
                self.compact_to(
                    limit.saturating_sub(needed + budget::margin(limit)),
                    context::KEEP_RECENT,
                );
                match budget::turn_budget(context, self.prompt_tokens(), shape) {
                    Budget::Tokens(n) => n,
                    // Nothing more to elide: ask for the least and let the backend say.
                    Budget::CompactFirst { needed } => needed,
                }
            }
        }
    }

    /// One model turn sized to fit, retried once after an overflow.
    pub(super) async fn fitted_turn(
        &mut self,
        commands: &mut UnboundedReceiver<AgentCommand>,
        turn: u32,
        last_turn: bool,
    ) -> Result<Fitted, Interrupt> {
        let shape = self.turn_shape(last_turn);
        let max_tokens = self.turn_budget(shape);
        let sent = self.estimated_tokens();
        let overflow = match self
            .model_turn(commands, turn, last_turn, max_tokens)
            .await?
        {
            Ok(completion) => return Ok(self.answered(completion)),
            Err(BackendError::ContextOverflow(overflow)) => overflow,
            Err(other) => return Ok(Fitted::Failed(other)),
        };
        self.fit
            .learn(overflow.context, overflow.prompt_tokens, sent);
        let Some(retry_tokens) = self.make_room(&overflow, shape, max_tokens) else {
            return Ok(Fitted::Overflowed(
                self.gave_up(&overflow, "compacting frees nothing"),
            ));
        };
        match self
            .model_turn(commands, turn, last_turn, retry_tokens)
            .await?
        {
            Ok(completion) => Ok(self.answered(completion)),
            Err(BackendError::ContextOverflow(again)) => {
                self.fit
                    .learn(again.context, again.prompt_tokens, self.estimated_tokens());
                Ok(Fitted::Overflowed(
                    self.gave_up(&again, "still full after compacting"),
                ))
            }
            Err(other) => Ok(Fitted::Failed(other)),
        }
    }

    fn answered(&mut self, completion: Completion) -> Fitted {
        self.cut_off = completion.stop == StopReason::Length;
        Fitted::Answered(completion)
    }

    /// Compacts and lowers `max_tokens` after `overflow`, and says so; returns the retry's
    /// `max_tokens`, or `None` when nothing changed (a retry would overflow the same way).
    fn make_room(&mut self, overflow: &Overflow, shape: TurnShape, sent_max: u32) -> Option<u32> {
        let before = self.prompt_tokens();
        let limit = self.context_limit();
        let wanted = shape.wanted(limit).min(sent_max);
        let elided = match limit {
            Some(limit) => self.compact_to(
                limit.saturating_sub(wanted.saturating_add(budget::margin(limit))),
                KEEP_ON_OVERFLOW,
            ),
            // No size to aim for: free half, as `/compact` does.
            None => self.compact_to(before / 2, KEEP_ON_OVERFLOW),
        };
        let max_tokens = match budget::turn_budget(limit, self.prompt_tokens(), shape) {
            Budget::Tokens(n) => n.min(sent_max),
            Budget::CompactFirst { needed } => needed.min(sent_max),
        };
        // With nothing elided, only a smaller `max_tokens` can help, and only when the prompt
        // alone fits.
        let prompt_alone_over = overflow
            .prompt_tokens
            .zip(limit)
            .is_some_and(|(prompt, limit)| prompt >= limit);
        if elided == 0 && (max_tokens >= sent_max || prompt_alone_over) {
            return None;
        }
        let after = self.prompt_tokens();
        let mut done = Vec::new();
        if elided > 0 {
            done.push(format!("compacted {elided} old messages"));
        }
        if max_tokens < sent_max {
            done.push(format!("lowered max_tokens {sent_max} → {max_tokens}"));
        }
        let message = format!(
            "{} was full: {} and retried",
            self.whose_context(limit),
            done.join(", ")
        );
        self.emit(AgentEvent::ContextFull {
            context: limit,
            prompt_tokens: overflow.prompt_tokens,
            elided,
            before,
            after,
            max_tokens,
            message,
        });
        Some(max_tokens)
    }

    /// "the server's context (8192 tokens)", or the local model's.
    fn whose_context(&self, limit: Option<u32>) -> String {
        let whose = if self.backend.kind() == "local" {
            "the model's context"
        } else {
            "the server's context"
        };
        match limit {
            Some(n) => format!("{whose} ({n} tokens)"),
            None => whose.to_string(),
        }
    }

    /// Why the task ends, and what the user can do.
    fn gave_up(&self, overflow: &Overflow, why: &str) -> String {
        format!(
            "{} is too small for this conversation ({why}: {overflow}); start a new \
             conversation (/clear), compact it (/compact), narrow the task, or give the model a \
             larger context (llama-server -c, or --ctx-size for the local model)",
            self.whose_context(self.context_limit())
        )
    }
}
