//! When to draw. Anything that changes the screen asks for a frame; requests made before
//! the frame is drawn fold into it, and frames are at least [`MIN_FRAME`] apart — so a
//! model streaming 200 tokens a second costs at most 60 draws a second, and a session where
//! nothing happens draws nothing at all (no fixed tick).

use std::time::Duration;

use tokio::time::Instant;

/// The shortest time between two frames (about 60 per second).
pub const MIN_FRAME: Duration = Duration::from_millis(16);

/// Coalesces redraw requests into frames.
#[derive(Clone, Debug, Default)]
pub struct FrameScheduler {
    last: Option<Instant>,
    next: Option<Instant>,
}

impl FrameScheduler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Something changed: draw as soon as the frame rate allows.
    pub fn request(&mut self, now: Instant) {
        self.request_at(now);
    }

    /// Draw at `when` (animations), or earlier if a frame is already due sooner.
    pub fn request_at(&mut self, when: Instant) {
        let earliest = self.last.map_or(when, |last| when.max(last + MIN_FRAME));
        self.next = Some(match self.next {
            Some(next) => next.min(earliest),
            None => earliest,
        });
    }

    /// When the next frame is due; `None`: nothing to draw.
    pub fn deadline(&self) -> Option<Instant> {
        self.next
    }

    /// A frame was drawn at `now`.
    pub fn drawn(&mut self, now: Instant) {
        self.last = Some(now);
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_before_a_frame_fold_into_it() {
        let t0 = Instant::now();
        let mut frames = FrameScheduler::new();
        frames.request(t0);
        assert_eq!(frames.deadline(), Some(t0));
        frames.drawn(t0);
        for ms in 1..10 {
            frames.request(t0 + Duration::from_millis(ms));
        }
        assert_eq!(frames.deadline(), Some(t0 + MIN_FRAME));
    }

    #[test]
    fn nothing_requested_means_no_frame() {
        let mut frames = FrameScheduler::new();
        frames.drawn(Instant::now());
        assert_eq!(frames.deadline(), None);
    }

    #[test]
    fn an_earlier_request_wins_over_a_later_animation_frame() {
        let t0 = Instant::now();
        let mut frames = FrameScheduler::new();
        frames.drawn(t0);
        frames.request_at(t0 + Duration::from_millis(100));
        frames.request(t0 + Duration::from_millis(20));
        assert_eq!(frames.deadline(), Some(t0 + Duration::from_millis(20)));
    }
}
