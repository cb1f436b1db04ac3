//! The status bar: which backend and model answer, and why the last turn was fast or slow —
//! prefill and decode speed, how much of the prompt came from the cache, speculative
//! acceptance, and how full the context is. Every figure comes from `TurnStats`, the same
//! numbers `lode run --json` prints.

use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use crate::stats::TurnStats;
use crate::tui::{theme, wrap};

/// Running totals of a session, for `/stats`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Totals {
    pub turns: u32,
    pub prompt_tokens: u64,
    pub cached_tokens: u64,
    pub disk_cached_tokens: u64,
    pub decode_tokens: u64,
    pub prefill_ms: f64,
    pub decode_ms: f64,
    pub draft_proposed: u64,
    pub draft_accepted: u64,
}

impl Totals {
    pub fn add(&mut self, stats: &TurnStats) {
        self.turns += 1;
        self.prompt_tokens += u64::from(stats.prompt_tokens);
        self.cached_tokens += u64::from(stats.cached_tokens);
        self.disk_cached_tokens += u64::from(stats.disk_cached_tokens);
        self.decode_tokens += u64::from(stats.decode_tokens);
        self.prefill_ms += stats.prefill_ms;
        self.decode_ms += stats.decode_ms;
        self.draft_proposed += u64::from(stats.draft_proposed);
        self.draft_accepted += u64::from(stats.draft_accepted);
    }
}

/// What the status bar knows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Status {
    /// `local`, `openai`, `scripted` (what the backend reports).
    pub backend: String,
    pub model: String,
    pub context_limit: Option<u32>,
    /// The router's lane for the current task (`direct`, `small`, `large`), when routing.
    pub lane: Option<String>,
    /// The last routing decision, in words (for `/route`).
    pub route: Option<String>,
    /// The last turn's figures.
    pub last: Option<TurnStats>,
    pub totals: Totals,
}

impl Status {
    pub fn record(&mut self, stats: &TurnStats) {
        self.totals.add(stats);
        if !stats.backend.is_empty() {
            self.backend.clone_from(&stats.backend);
        }
        if !stats.model.is_empty() {
            self.model.clone_from(&stats.model);
        }
        self.last = Some(stats.clone());
    }

    /// Tokens the conversation occupies after the last turn.
    pub fn context_used(&self) -> Option<u32> {
        self.last
            .as_ref()
            .map(|s| s.prompt_tokens.saturating_add(s.decode_tokens))
    }

    /// The bar at `width`: segments are dropped, least important first, until it fits.
    pub fn render(&self, width: usize) -> Line<'static> {
        let mut segments: Vec<(u8, Vec<Span<'static>>)> = Vec::new();
        let backend_style = match self.backend.as_str() {
            "local" => theme::success(),
            "fallback" => theme::warning(),
            "scripted" => theme::accent(),
            _ => theme::accent(),
        };
        // Nothing is known while the first model loads.
        if !self.backend.is_empty() {
            segments.push((
                0,
                vec![Span::styled(
                    self.backend.clone(),
                    backend_style.add_modifier(Modifier::BOLD),
                )],
            ));
        }
        if !self.model.is_empty() {
            segments.push((1, vec![Span::styled(self.model.clone(), theme::text())]));
        }
        if let Some(lane) = &self.lane {
            segments.push((2, figure("lane", lane)));
        }
        if let Some(last) = &self.last {
            if last.prompt_tokens > last.cached_tokens && last.prefill_ms > 0.0 {
                segments.push((5, figure("prefill", &rate(last.prefill_tps()))));
            }
            if last.decode_tokens > 0 && last.decode_ms > 0.0 {
                segments.push((3, figure("decode", &rate(last.decode_tps()))));
            }
            if last.prompt_tokens > 0 {
                let share = percent(last.cached_tokens.into(), last.prompt_tokens.into());
                segments.push((4, figure("cache", &share)));
            }
            // Speculation is reported only when it ran; a 0% would claim it did.
            if last.draft_proposed > 0 {
                let share = percent(last.draft_accepted.into(), last.draft_proposed.into());
                segments.push((6, figure("draft", &share)));
            }
        }
        // Without a known limit (scripted, some servers) a fill level would mean nothing.
        if let Some(limit) = self.context_limit {
            let used = self.context_used().map_or("–".to_string(), tokens);
            segments.push((2, figure("ctx", &format!("{used}/{}", tokens(limit)))));
        }

        let sep = || Span::styled(" · ", theme::dim());
        let fits = |segments: &[(u8, Vec<Span<'static>>)]| {
            let body: usize = segments
                .iter()
                .map(|(_, spans)| spans.iter().map(|s| wrap::width(&s.content)).sum::<usize>())
                .sum();
            body + 3 * segments.len().saturating_sub(1) < width
        };
        while !fits(&segments) && segments.len() > 1 {
            let drop = segments
                .iter()
                .enumerate()
                .max_by_key(|(_, (priority, _))| *priority)
                .map(|(i, _)| i)
                .unwrap_or(0);
            segments.remove(drop);
        }
        let mut spans = vec![Span::raw(" ")];
        for (i, (_, segment)) in segments.into_iter().enumerate() {
            if i > 0 {
                spans.push(sep());
            }
            spans.extend(segment);
        }
        let mut line = Line::from(spans);
        if wrap::line_width(&line) > width {
            line = wrap::wrap_line(&line, width)
                .into_iter()
                .next()
                .unwrap_or_default();
        }
        line
    }
}

fn figure(label: &str, value: &str) -> Vec<Span<'static>> {
    vec![
        Span::styled(format!("{label} "), theme::dim()),
        Span::styled(value.to_string(), theme::text()),
    ]
}

/// `219 tok/s`, `28.5 tok/s`.
pub fn rate(tps: f64) -> String {
    if tps >= 100.0 {
        format!("{tps:.0} tok/s")
    } else {
        format!("{tps:.1} tok/s")
    }
}

/// `94%`.
pub fn percent(part: f64, whole: f64) -> String {
    if whole <= 0.0 {
        return "–".to_string();
    }
    format!("{:.0}%", part * 100.0 / whole)
}

/// `812`, `3.2k`, `16k`.
pub fn tokens(n: u32) -> String {
    if n < 1000 {
        n.to_string()
    } else if n.is_multiple_of(1024) {
        format!("{}k", n / 1024)
    } else {
        let k = f64::from(n) / 1000.0;
        if k < 10.0 {
            format!("{k:.1}k")
        } else {
            format!("{k:.0}k")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats() -> TurnStats {
        TurnStats {
            prompt_tokens: 3200,
            cached_tokens: 3000,
            prefill_ms: 1000.0,
            decode_tokens: 57,
            decode_ms: 2000.0,
            backend: "local".into(),
            model: "qwen2.5-coder-7b".into(),
            ..TurnStats::default()
        }
    }

    #[test]
    fn shows_every_figure_when_there_is_room() {
        let mut status = Status {
            context_limit: Some(16384),
            ..Status::default()
        };
        status.record(&stats());
        assert_eq!(
            status.render(120).to_string(),
            " local · qwen2.5-coder-7b · prefill 200 tok/s · decode 28.5 tok/s · cache 94% · ctx 3.3k/16k"
        );
    }

    #[test]
    fn drops_the_least_important_figures_first() {
        let mut status = Status {
            context_limit: Some(16384),
            ..Status::default()
        };
        status.record(&stats());
        assert_eq!(
            status.render(60).to_string(),
            " local · qwen2.5-coder-7b · decode 28.5 tok/s · ctx 3.3k/16k"
        );
    }

    #[test]
    fn draft_acceptance_only_when_speculation_ran() {
        let mut status = Status::default();
        status.record(&stats());
        assert!(!status.render(200).to_string().contains("draft"));
        status.record(&TurnStats {
            draft_proposed: 40,
            draft_accepted: 30,
            ..stats()
        });
        assert!(status.render(200).to_string().contains("draft 75%"));
    }

    #[test]
    fn token_counts_read_short() {
        assert_eq!(
            [812, 3240, 16384, 32768, 131_072, 20_000].map(tokens),
            ["812", "3.2k", "16k", "32k", "128k", "20k"]
        );
    }
}
