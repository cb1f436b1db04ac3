//! The labelled requests (`fixtures/router/labels.jsonl`, built into the binary): what the
//! rules were written against, what tier 1's head is fitted on, and what both are scored on.
//!
//! Every line carries a fixed split. The head is fitted on `train` lines only and
//! `lode bench --router` scores tier 1 on `held_out` lines only, so the accuracy it reports
//! is on requests the classifier never saw.

use serde::{Deserialize, Serialize};

use crate::router::lane::Lane;

/// The bundled label set, one JSON object a line.
pub const LABELS: &str = include_str!("../../fixtures/router/labels.jsonl");

/// Which side of the fixed split a line is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Split {
    /// Fitted on.
    Train,
    /// Scored on, never fitted on.
    HeldOut,
}

/// One labelled request.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Labeled {
    pub request: String,
    pub lane: Lane,
    pub split: Split,
    #[serde(default)]
    pub note: String,
}

impl Labeled {
    /// The lane tier 1 should choose: a one-call request that reaches tier 1 (no rule knew
    /// the call) is the small model's to make.
    pub fn model_lane(&self) -> Lane {
        match self.lane {
            Lane::Direct | Lane::Small => Lane::Small,
            Lane::Large => Lane::Large,
        }
    }
}

/// A line that is not a labelled request.
#[derive(Debug, thiserror::Error)]
#[error("fixtures/router/labels.jsonl line {line}: {message}")]
pub struct LabelError {
    pub line: usize,
    pub message: String,
}

/// The bundled labels.
pub fn bundled() -> Result<Vec<Labeled>, LabelError> {
    parse(LABELS)
}

/// Parses label lines (blank lines skipped).
pub fn parse(text: &str) -> Result<Vec<Labeled>, LabelError> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            serde_json::from_str(line).map_err(|e| LabelError {
                line: i + 1,
                message: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bundled_line_parses_with_a_split_and_a_note() {
        let labels = bundled().unwrap();
        assert!(labels.len() >= 300, "{} labels", labels.len());
        assert!(labels.iter().all(|l| !l.note.trim().is_empty()));
        let held = labels.iter().filter(|l| l.split == Split::HeldOut).count();
        let share = held as f64 / labels.len() as f64;
        assert!((0.25..=0.45).contains(&share), "held-out share {share}");
    }

    #[test]
    fn each_split_has_every_lane() {
        let labels = bundled().unwrap();
        for split in [Split::Train, Split::HeldOut] {
            for lane in [Lane::Direct, Lane::Small, Lane::Large] {
                let n = labels
                    .iter()
                    .filter(|l| l.split == split && l.lane == lane)
                    .count();
                assert!(n >= 15, "{split:?} has {n} {lane} lines");
            }
        }
    }

    #[test]
    fn no_request_is_labelled_twice() {
        let labels = bundled().unwrap();
        let mut seen = std::collections::HashSet::new();
        for l in &labels {
            assert!(
                seen.insert(l.request.trim().to_lowercase()),
                "{:?} twice",
                l.request
            );
        }
    }

    #[test]
    fn a_line_without_a_split_is_refused_with_its_number() {
        let err = parse("\n{\"request\": \"x\", \"lane\": \"small\"}\n").unwrap_err();
        assert_eq!(err.line, 2);
        assert!(err.message.contains("split"), "{}", err.message);
    }
}
