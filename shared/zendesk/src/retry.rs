//! The retry decision: a pure function of what happened and which attempt it
//! was, so it can be tested without a server.

use std::time::Duration;

/// What one attempt ended with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// 429 with the `Retry-After` seconds when given.
    TooManyRequests { retry_after: Option<u64> },
    /// 5xx with the `Retry-After` seconds when given.
    ServerError {
        status: u16,
        retry_after: Option<u64>,
    },
    /// Connection failure or timeout.
    Transport,
    /// A 2xx whose body was not the JSON expected.
    Garbled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    RetryAfter(Duration),
    GiveUp,
    /// The server asked for a wait longer than [`MAX_SERVER_WAIT`]: the run
    /// stops (and resumes next time) instead of sleeping that long.
    WaitTooLong(u64),
}

/// The longest wait a server's `Retry-After` (or rate-limit reset) may
/// impose: Zendesk's windows are a minute; five minutes is generous.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(300);

/// Backoff for attempt `n` (0-based): exponential from 1 s, capped, with full
/// jitter (`jitter` in 0..=1 picks the point in the window).
pub fn backoff(attempt: u32, cap: Duration, jitter: f64) -> Duration {
    let base = Duration::from_secs(1).saturating_mul(1u32 << attempt.min(16));
    let window = base.min(cap);
    // Never less than a tenth of the window: full jitter without busy loops.
    let j = jitter.clamp(0.1, 1.0);
    window.mul_f64(j)
}

/// Whether and when to retry after `outcome` on attempt `attempt` (0-based).
pub fn decide(
    outcome: &Outcome,
    attempt: u32,
    max_retries: u32,
    cap: Duration,
    jitter: f64,
) -> Decision {
    if attempt >= max_retries {
        return Decision::GiveUp;
    }
    let server_said = match outcome {
        Outcome::TooManyRequests { retry_after } => *retry_after,
        Outcome::ServerError {
            status: 503,
            retry_after,
        } => *retry_after,
        Outcome::ServerError { status, .. } if !matches!(status, 500 | 502 | 503 | 504) => {
            return Decision::GiveUp;
        }
        _ => None,
    };
    match server_said {
        // Zendesk's number (at most 5 minutes), plus a little so the window
        // has surely turned.
        Some(s) if s > MAX_SERVER_WAIT.as_secs() => Decision::WaitTooLong(s),
        Some(s) => Decision::RetryAfter(Duration::from_secs(s) + Duration::from_millis(250)),
        None => Decision::RetryAfter(backoff(attempt, cap, jitter)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: Duration = Duration::from_secs(60);

    #[test]
    fn retry_after_is_honoured() {
        assert_eq!(
            decide(
                &Outcome::TooManyRequests {
                    retry_after: Some(7)
                },
                0,
                6,
                CAP,
                0.5
            ),
            Decision::RetryAfter(Duration::from_millis(7250))
        );
        assert_eq!(
            decide(
                &Outcome::ServerError {
                    status: 503,
                    retry_after: Some(2)
                },
                1,
                6,
                CAP,
                0.5
            ),
            Decision::RetryAfter(Duration::from_millis(2250))
        );
    }

    #[test]
    fn a_retry_after_past_five_minutes_stops_the_run_instead_of_sleeping() {
        for secs in [301, 86_400, u64::MAX] {
            assert_eq!(
                decide(
                    &Outcome::TooManyRequests {
                        retry_after: Some(secs)
                    },
                    0,
                    6,
                    CAP,
                    0.5
                ),
                Decision::WaitTooLong(secs)
            );
        }
        assert_eq!(
            decide(
                &Outcome::TooManyRequests {
                    retry_after: Some(300)
                },
                0,
                6,
                CAP,
                0.5
            ),
            Decision::RetryAfter(Duration::from_millis(300_250))
        );
    }

    #[test]
    fn missing_retry_after_backs_off_exponentially_with_jitter_and_a_cap() {
        let d = |a| match decide(
            &Outcome::TooManyRequests { retry_after: None },
            a,
            10,
            CAP,
            1.0,
        ) {
            Decision::RetryAfter(d) => d,
            other => panic!("{other:?}"),
        };
        assert_eq!(d(0), Duration::from_secs(1));
        assert_eq!(d(3), Duration::from_secs(8));
        assert_eq!(d(9), CAP);
        assert_eq!(backoff(2, CAP, 0.5), Duration::from_secs(2));
        assert_eq!(
            backoff(2, CAP, 0.0),
            Duration::from_millis(400),
            "jitter never goes to zero"
        );
    }

    #[test]
    fn which_failures_are_retried() {
        for o in [
            Outcome::Transport,
            Outcome::Garbled,
            Outcome::ServerError {
                status: 500,
                retry_after: None,
            },
            Outcome::ServerError {
                status: 502,
                retry_after: None,
            },
            Outcome::ServerError {
                status: 504,
                retry_after: None,
            },
        ] {
            assert!(
                matches!(decide(&o, 0, 3, CAP, 0.5), Decision::RetryAfter(_)),
                "{o:?}"
            );
            assert_eq!(
                decide(&o, 3, 3, CAP, 0.5),
                Decision::GiveUp,
                "{o:?} after the last retry"
            );
        }
        assert_eq!(
            decide(
                &Outcome::ServerError {
                    status: 501,
                    retry_after: None
                },
                0,
                3,
                CAP,
                0.5
            ),
            Decision::GiveUp
        );
    }
}
