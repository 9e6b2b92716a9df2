//! Progress while the run lasts: an indicatif bar on a terminal, a line every 5 s otherwise
//! (CI logs), nothing with --quiet. Everything goes to stderr: stdout is for the summary.

use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressMode {
    Bar,
    Lines,
    Quiet,
}

pub struct Progress {
    mode: ProgressMode,
    bar: Option<ProgressBar>,
    started: Instant,
    /// The bar counts requests when there is a request count, else milliseconds of the run.
    by_requests: bool,
}

impl Progress {
    pub fn start(mode: ProgressMode, requests: Option<u64>, duration: Option<Duration>) -> Self {
        let by_requests = requests.is_some();
        let bar = (mode == ProgressMode::Bar).then(|| {
            let (length, template) = match (requests, duration) {
                (Some(requests), _) => (
                    requests,
                    "{spinner} {elapsed_precise} [{wide_bar}] {pos}/{len} · {msg} · ETA {eta}",
                ),
                (None, duration) => (
                    duration.unwrap_or_default().as_millis() as u64,
                    "{spinner} {elapsed_precise} [{wide_bar}] {msg} · ETA {eta}",
                ),
            };
            let bar = ProgressBar::new(length);
            bar.set_style(
                ProgressStyle::with_template(template)
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar.set_message("starting");
            bar
        });
        Self {
            mode,
            bar,
            started: Instant::now(),
            by_requests,
        }
    }

    /// How often [`Progress::update`] is worth calling; `None` when nothing is shown.
    pub fn interval(&self) -> Option<Duration> {
        match self.mode {
            ProgressMode::Bar => Some(Duration::from_millis(100)),
            ProgressMode::Lines => Some(Duration::from_secs(5)),
            ProgressMode::Quiet => None,
        }
    }

    /// `done` requests finished so far, `failures` of them 5xx or without an answer.
    pub fn update(&self, done: u64, failures: u64) {
        let elapsed = self.started.elapsed();
        let rate = done as f64 / elapsed.as_secs_f64().max(0.001);
        match (&self.bar, self.mode) {
            (Some(bar), _) => {
                if self.by_requests {
                    bar.set_position(done);
                    bar.set_message(format!("{rate:.0} req/s · {failures} 5xx/no answer"));
                } else {
                    bar.set_position(elapsed.as_millis() as u64);
                    bar.set_message(format!(
                        "{done} requests · {rate:.0} req/s · {failures} 5xx/no answer"
                    ));
                }
            }
            (None, ProgressMode::Lines) => eprintln!(
                "loadgen: {done} requests in {:.0} s · {rate:.1} req/s · {failures} 5xx/no answer",
                elapsed.as_secs_f64()
            ),
            (None, _) => {}
        }
    }

    /// Leaves the bar's final state on screen, above the summary. A last progress line would
    /// only repeat the summary, so the line mode prints nothing.
    pub fn finish(&self, done: u64, failures: u64) {
        if let Some(bar) = &self.bar {
            self.update(done, failures);
            bar.finish();
            // indicatif leaves the cursor at the end of the bar: the summary starts below.
            eprintln!();
        }
    }
}
