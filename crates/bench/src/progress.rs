//! One progress line on stderr while the run lasts: rewritten in place on a terminal, a new
//! line every few seconds otherwise (CI logs).

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

/// On a log (not a terminal), at most one line per this interval.
const LOG_INTERVAL: Duration = Duration::from_secs(5);

pub struct Progress {
    total: usize,
    started: Instant,
    terminal: bool,
    last_line: Option<Instant>,
}

impl Progress {
    pub fn new(total: usize, started: Instant) -> Self {
        Self {
            total,
            started,
            terminal: std::io::stderr().is_terminal(),
            last_line: None,
        }
    }

    /// A plain message, on a line of its own.
    pub fn say(&mut self, message: &str) {
        if self.terminal {
            eprint!("\r\x1b[2K");
        }
        eprintln!("bench: {message}");
    }

    /// After segment `done` (1-based) of the run.
    pub fn update(
        &mut self,
        done: usize,
        round: u32,
        rounds: u32,
        what: &str,
        remaining: Duration,
    ) {
        let now = Instant::now();
        let line = format!(
            "bench: [{done:>3}/{}] round {}/{rounds} · {what} · {} elapsed, ~{} left",
            self.total,
            round + 1,
            clock(now - self.started),
            clock(remaining),
        );
        if self.terminal {
            eprint!("\r\x1b[2K{line}");
            let _ = std::io::stderr().flush();
        } else if self
            .last_line
            .is_none_or(|last| now - last >= LOG_INTERVAL || done == self.total)
        {
            eprintln!("{line}");
            self.last_line = Some(now);
        }
    }

    /// Ends the line in place, so that what follows starts below it.
    pub fn finish(&mut self) {
        if self.terminal {
            eprintln!();
        }
    }
}

/// `m:ss`
pub fn clock(duration: Duration) -> String {
    let seconds = duration.as_secs();
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

#[cfg(test)]
mod tests {
    use super::clock;
    use std::time::Duration;

    #[test]
    fn clocks() {
        assert_eq!(clock(Duration::from_secs(0)), "0:00");
        assert_eq!(clock(Duration::from_millis(61_900)), "1:01");
        assert_eq!(clock(Duration::from_secs(300)), "5:00");
    }
}
