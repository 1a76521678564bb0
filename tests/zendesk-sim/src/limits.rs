//! Fixed 60-second rate-limit windows per budget, as Zendesk announces them
//! in its headers.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub span: Duration,
    pub limit: u32,
    pub used: u32,
    pub started: Option<Instant>,
}

impl Window {
    pub fn new(limit: u32, span_secs: u64) -> Self {
        Window {
            span: Duration::from_secs(span_secs.max(1)),
            limit,
            used: 0,
            started: None,
        }
    }

    fn roll(&mut self, now: Instant) {
        if self
            .started
            .is_none_or(|s| now.duration_since(s) >= self.span)
        {
            self.started = Some(now);
            self.used = 0;
        }
    }

    /// Seconds until the window resets (rounded up).
    pub fn resets_in(&self, now: Instant) -> u64 {
        match self.started {
            Some(s) => {
                let left = self.span.saturating_sub(now.duration_since(s));
                left.as_secs() + u64::from(left.subsec_nanos() > 0)
            }
            None => self.span.as_secs(),
        }
    }

    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }

    /// Counts a request; false when the budget is spent.
    pub fn take(&mut self, now: Instant) -> bool {
        self.roll(now);
        if self.used >= self.limit {
            return false;
        }
        self.used += 1;
        true
    }

    /// Refreshes the window without counting (for headers).
    pub fn peek(&mut self, now: Instant) {
        self.roll(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_counts_and_resets() {
        let t0 = Instant::now();
        let mut w = Window::new(2, 60);
        assert!(w.take(t0));
        assert!(w.take(t0));
        assert!(!w.take(t0 + Duration::from_secs(10)));
        assert_eq!(w.resets_in(t0 + Duration::from_millis(10_500)), 50);
        assert!(w.take(t0 + Duration::from_secs(60)));
        assert_eq!(w.remaining(), 1);
    }
}
