//! A small circuit breaker, so that a dependency that is down costs a request nothing instead
//! of a timeout each. After a failure the breaker is *open*: calls are refused at once for
//! `cool_off`. Then one call (and only one) is let through to try again; if it succeeds the
//! breaker closes, if it fails the breaker stays open for another `cool_off`.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Breaker {
    cool_off: Duration,
    /// How long the one trial call may take before others may try again.
    trial_timeout: Duration,
    /// Calls are refused until then; `None` when the breaker is closed.
    refuse_until: Mutex<Option<Instant>>,
}

impl Breaker {
    pub fn new(cool_off: Duration, trial_timeout: Duration) -> Self {
        Self {
            cool_off,
            trial_timeout,
            refuse_until: Mutex::new(None),
        }
    }

    /// Whether a call may go ahead now. When the cool-off is over, the first caller gets
    /// `true` (the trial) and the others `false` until it has finished or timed out.
    pub fn allows_call(&self) -> bool {
        let Ok(mut refuse_until) = self.refuse_until.lock() else {
            return true;
        };
        match *refuse_until {
            None => true,
            Some(until) if Instant::now() < until => false,
            Some(_) => {
                *refuse_until = Some(Instant::now() + self.trial_timeout);
                true
            }
        }
    }

    pub fn succeeded(&self) {
        if let Ok(mut refuse_until) = self.refuse_until.lock() {
            *refuse_until = None;
        }
    }

    pub fn failed(&self) {
        if let Ok(mut refuse_until) = self.refuse_until.lock() {
            *refuse_until = Some(Instant::now() + self.cool_off);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_during_the_cool_off_then_lets_one_trial_through() {
        let breaker = Breaker::new(Duration::from_millis(50), Duration::from_secs(60));
        assert!(breaker.allows_call());
        breaker.failed();
        assert!(!breaker.allows_call());
        std::thread::sleep(Duration::from_millis(60));
        assert!(breaker.allows_call(), "the trial");
        assert!(!breaker.allows_call(), "only one trial at a time");
        breaker.succeeded();
        assert!(breaker.allows_call());
        assert!(breaker.allows_call());
    }
}
