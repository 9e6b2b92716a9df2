//! What a run measures: the variants (a step under a condition), the cells (a workload under
//! a kind of load), and the order of the segments, which alternates the variants so that
//! machine noise (another process, a Postgres checkpoint, a warm CPU) hits all of them alike.

use std::fmt;
use std::time::Duration;

use loadgen::mix::Weights;

/// How a step's telemetry is configured. Step 1 has no telemetry: it runs once, as the
/// baseline every other variant is compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    /// Step 1, no OpenTelemetry at all.
    Baseline,
    /// Exports to a receiver that accepts everything.
    CollectorUp,
    /// Exports to a closed port: every export fails at once.
    CollectorDown,
    /// `OTEL_TRACES_SAMPLER=always_off`, collector up: spans are created but not recorded.
    Unsampled,
}

impl Condition {
    pub const TELEMETRY: [Condition; 3] = [
        Condition::CollectorUp,
        Condition::CollectorDown,
        Condition::Unsampled,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Condition::Baseline => "baseline",
            Condition::CollectorUp => "collector up",
            Condition::CollectorDown => "collector down",
            Condition::Unsampled => "unsampled",
        }
    }

    /// For the plot's narrow labels.
    pub fn short(self) -> &'static str {
        match self {
            Condition::Baseline => "",
            Condition::CollectorUp => "up",
            Condition::CollectorDown => "down",
            Condition::Unsampled => "unsampled",
        }
    }
}

/// One step under one condition: a pair of services of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Variant {
    pub step: u32,
    pub condition: Condition,
}

impl Variant {
    /// Step 1 as the baseline, then every other step under each telemetry condition.
    pub fn all(steps: &[u32]) -> Vec<Variant> {
        let mut variants = Vec::new();
        for &step in steps {
            if step == 1 {
                variants.push(Variant {
                    step,
                    condition: Condition::Baseline,
                });
            } else {
                variants.extend(
                    Condition::TELEMETRY
                        .into_iter()
                        .map(|condition| Variant { step, condition }),
                );
            }
        }
        variants
    }

    pub fn is_baseline(self) -> bool {
        self.condition == Condition::Baseline
    }
}

impl fmt::Display for Variant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.condition {
            Condition::Baseline => write!(f, "step {}", self.step),
            condition => write!(f, "step {} · {}", self.step, condition.name()),
        }
    }
}

/// What the requests are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    /// `GET /users/{id}` of users created before the run: answered from the cache.
    Get,
    /// `POST /users` with a new email: Postgres insert and outbox, then (after the answer)
    /// Kafka, the welcome-email consumer and the email-service.
    Post,
    /// Mostly cache hits, some creates, some unknown ids (a cache miss and a query).
    Mix,
}

impl Workload {
    pub const ALL: [Workload; 3] = [Workload::Get, Workload::Post, Workload::Mix];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Get => "get",
            Workload::Post => "post",
            Workload::Mix => "mix",
        }
    }

    /// For the plot's legend.
    pub fn label(self) -> &'static str {
        match self {
            Workload::Get => "GET /users/{id} (cache hit)",
            Workload::Post => "POST /users",
            Workload::Mix => "mix",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            Workload::Get => "cache-hit GET /users/{id}",
            Workload::Post => "POST /users",
            Workload::Mix => "mix (80 % cache-hit GET, 10 % POST, 10 % GET of an unknown id)",
        }
    }

    /// The load generator's weights for this workload.
    pub fn weights(self) -> Weights {
        let text = match self {
            Workload::Get => "read=1",
            Workload::Post => "create=1",
            Workload::Mix => "read=8,create=1,read-unknown=1",
        };
        text.parse().expect("the weights are valid")
    }
}

/// How the requests are sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Load {
    /// N connections, each sending its next request when the answer arrived (closed loop):
    /// the service's throughput.
    Saturation,
    /// Requests started at a fixed rate whatever the answers (open loop), below saturation:
    /// latency and CPU at an ordinary load.
    FixedRate,
}

impl Load {
    pub const ALL: [Load; 2] = [Load::Saturation, Load::FixedRate];

    pub fn name(self) -> &'static str {
        match self {
            Load::Saturation => "saturation",
            Load::FixedRate => "fixed rate",
        }
    }
}

/// A workload under a load: one table of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    pub workload: Workload,
    pub load: Load,
}

impl Cell {
    /// Saturation before the fixed rate of the same workload: the rate is derived from it.
    pub fn all(workloads: &[Workload]) -> Vec<Cell> {
        workloads
            .iter()
            .flat_map(|&workload| Load::ALL.map(|load| Cell { workload, load }))
            .collect()
    }
}

impl fmt::Display for Cell {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} @ {}", self.workload.name(), self.load.name())
    }
}

/// One measured stretch: a variant's services under a cell's load, in a round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub round: u32,
    /// Index into the cells.
    pub cell: usize,
    /// Index into the variants.
    pub variant: usize,
}

/// Every segment of the run, in order: round by round, cell by cell, every variant once per
/// cell and round. The variants' order rotates by one each round, so that none is always
/// first after a change of workload.
pub fn schedule(rounds: u32, cells: usize, variants: usize) -> Vec<Segment> {
    let mut segments = Vec::with_capacity(rounds as usize * cells * variants);
    for round in 0..rounds {
        for cell in 0..cells {
            for i in 0..variants {
                segments.push(Segment {
                    round,
                    cell,
                    variant: (i + round as usize) % variants,
                });
            }
        }
    }
    segments
}

/// How long and how hard a run is.
#[derive(Debug, Clone)]
pub struct Settings {
    pub quick: bool,
    pub rounds: u32,
    /// Length of one segment's measurement.
    pub segment: Duration,
    /// After a segment, how long to wait at most for the service's CPU to settle (work a
    /// request triggers after its answer: outbox, Kafka consumer, span export).
    pub max_drain: Duration,
    /// Unmeasured load on each variant before the first round.
    pub warmup: Duration,
    /// Connections of the closed loop.
    pub connections: usize,
    /// The fixed rate, as a share of the slowest variant's throughput at saturation (round 1).
    pub rate_fraction: f64,
    /// The whole run, start to finish; segments that would not fit are left out.
    pub time_limit: Duration,
    /// Users created in each variant before the run, for the cache-hit reads.
    pub seed_users: usize,
    pub workloads: Vec<Workload>,
    /// Extra environment for every variant's services (`--env`), after the bench's own: to
    /// measure a setting, e.g. `OTEL_BSP_MAX_EXPORT_BATCH_SIZE=2048`.
    pub service_env: Vec<(String, String)>,
    /// The user-services' `DATABASE_MAX_CONNECTIONS`: every variant runs at once against one
    /// Postgres (see `fitted`).
    pub database_pool: u32,
    /// Whether `fitted` may shorten the segments and drop rounds so that every round fits in
    /// the time limit (off when `--rounds` or `--segment` was given).
    pub fit_to_limit: bool,
}

/// Time a segment costs beyond its measurement: the drain (up to `max_drain`, often all of
/// it from step 4 on, whose services export metrics in the background), connection warming,
/// bookkeeping. Measured: 115 segments of 1.6 s took 251 s with 16 variants (0.58 s each
/// beyond the 1.6 s).
const SEGMENT_OVERHEAD: Duration = Duration::from_millis(600);
/// Shorter segments than this measure the start of a window more than the window.
const MIN_SEGMENT: Duration = Duration::from_millis(600);
/// Clients Postgres accepts (its default `max_connections`), and those kept for everything
/// else: the bench's own seeding, `psql`, the tests' admin connections.
const POSTGRES_CLIENTS: u32 = 100;
const POSTGRES_RESERVE: u32 = 20;
/// The services' own default pool size.
const DEFAULT_POOL: u32 = 10;
/// Start-up of the variants' services, before the warm-up.
const START_UP: Duration = Duration::from_secs(12);

impl Settings {
    /// The default run: ≤ 5 min on 2 cores with 7 variants.
    pub fn full() -> Self {
        Self {
            quick: false,
            rounds: 3,
            segment: Duration::from_millis(1600),
            max_drain: Duration::from_millis(500),
            warmup: Duration::from_secs(1),
            connections: 16,
            rate_fraction: 0.5,
            time_limit: Duration::from_secs(300),
            seed_users: 20,
            workloads: Workload::ALL.to_vec(),
            service_env: Vec::new(),
            database_pool: DEFAULT_POOL,
            fit_to_limit: true,
        }
    }

    /// How long a run of `variants` × `cells` takes with these settings, roughly.
    pub fn estimate(&self, variants: usize, cells: usize) -> Duration {
        let segments = self.rounds * (variants * cells) as u32;
        START_UP
            + self.warmup * variants as u32
            + (self.segment + SEGMENT_OVERHEAD) * segments
            + self.teardown_reserve()
    }

    /// These settings with every round inside the time limit: the segments shortened (not
    /// below `MIN_SEGMENT`), then rounds dropped (not below one). Six steps make 16 variants,
    /// and the default 3 rounds of 1.6 s segments would need 10 minutes: the run stopped
    /// part-way through its second round.
    ///
    /// And every variant's Postgres pool within what Postgres accepts: 16 pools of 10 are more
    /// than its 100 clients, and the last services to connect got "too many clients already"
    /// (503s, and `POST /users` at a tenth of step 1's rate from step 4 on, in every run with
    /// all six steps until this).
    pub fn fitted(&self, variants: usize, cells: usize) -> Self {
        let mut fitted = self.clone();
        if variants > 0 {
            let share = (POSTGRES_CLIENTS - POSTGRES_RESERVE) / variants as u32;
            fitted.database_pool = share.clamp(2, DEFAULT_POOL);
        }
        if !self.fit_to_limit || self.quick || variants * cells == 0 {
            return fitted;
        }
        let fixed = START_UP + self.warmup * variants as u32 + self.teardown_reserve();
        let available = self.time_limit.saturating_sub(fixed);
        while fitted.rounds >= 1 {
            let segments = fitted.rounds * (variants * cells) as u32;
            let per_segment = available / segments;
            let segment = per_segment.saturating_sub(SEGMENT_OVERHEAD);
            if segment >= MIN_SEGMENT || fitted.rounds == 1 {
                fitted.segment = segment.max(MIN_SEGMENT).min(self.segment);
                break;
            }
            fitted.rounds -= 1;
        }
        fitted
    }

    /// For CI: every cell once, ≤ 40 s. It checks that the tool works, not the figures.
    pub fn quick() -> Self {
        Self {
            quick: true,
            rounds: 1,
            segment: Duration::from_millis(300),
            max_drain: Duration::from_millis(200),
            warmup: Duration::from_millis(200),
            time_limit: Duration::from_secs(40),
            seed_users: 5,
            fit_to_limit: false,
            ..Self::full()
        }
    }

    /// Time kept free at the end of the run for stopping the services and cleaning up.
    pub fn teardown_reserve(&self) -> Duration {
        if self.quick {
            Duration::from_secs(6)
        } else {
            Duration::from_secs(12)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_one_is_the_baseline_and_later_steps_get_every_condition() {
        let variants = Variant::all(&[1, 2, 3]);
        assert_eq!(variants.len(), 7);
        assert!(variants[0].is_baseline());
        assert_eq!(variants[0].to_string(), "step 1");
        assert_eq!(variants[1].to_string(), "step 2 · collector up");
        assert_eq!(variants[6].to_string(), "step 3 · unsampled");
    }

    #[test]
    fn the_schedule_alternates_variants_and_rotates_their_order() {
        let segments = schedule(3, 2, 4);
        assert_eq!(segments.len(), 24);
        // Every (round, cell) measures every variant once.
        for round in 0..3 {
            for cell in 0..2 {
                let mut seen: Vec<usize> = segments
                    .iter()
                    .filter(|s| s.round == round && s.cell == cell)
                    .map(|s| s.variant)
                    .collect();
                seen.sort_unstable();
                assert_eq!(seen, [0, 1, 2, 3]);
            }
        }
        let firsts: Vec<usize> = segments.chunks(4).map(|chunk| chunk[0].variant).collect();
        assert_eq!(firsts, [0, 0, 1, 1, 2, 2]);
    }

    #[test]
    fn saturation_comes_before_the_fixed_rate_of_each_workload() {
        let cells = Cell::all(&Workload::ALL);
        assert_eq!(cells.len(), 6);
        for pair in cells.chunks(2) {
            assert_eq!(pair[0].workload, pair[1].workload);
            assert_eq!(
                (pair[0].load, pair[1].load),
                (Load::Saturation, Load::FixedRate)
            );
        }
        for workload in Workload::ALL {
            let _ = workload.weights();
        }
    }

    #[test]
    fn the_full_run_fits_its_time_limit_whatever_the_number_of_steps() {
        let settings = Settings::full();
        // Steps 1–3 (7 variants) up to steps 1–6 (16 variants).
        for variants in [1, 4, 7, 10, 13, 16] {
            let fitted = settings.fitted(variants, 6);
            let estimate = fitted.estimate(variants, 6);
            assert!(
                estimate <= settings.time_limit,
                "{variants} variants: {estimate:?} with {} round(s) of {:?}",
                fitted.rounds,
                fitted.segment
            );
            assert!(fitted.segment >= MIN_SEGMENT && fitted.segment <= settings.segment);
            assert!(
                fitted.rounds >= 2,
                "{variants} variants: one round has no spread"
            );
        }
        // Seven variants keep the three rounds; sixteen get two, of shorter segments.
        assert_eq!(settings.fitted(7, 6).rounds, 3);
        let sixteen = settings.fitted(16, 6);
        assert_eq!(sixteen.rounds, 2);
        assert!(sixteen.segment < settings.segment, "{:?}", sixteen.segment);
    }

    #[test]
    fn every_pool_together_stays_within_postgres_clients() {
        for variants in 1..=16 {
            let pool = Settings::full().fitted(variants, 6).database_pool;
            assert!((2..=DEFAULT_POOL).contains(&pool), "{variants}: {pool}");
            assert!(
                pool * variants as u32 <= POSTGRES_CLIENTS - POSTGRES_RESERVE,
                "{variants} variants × {pool} connections"
            );
        }
        assert_eq!(Settings::full().fitted(7, 6).database_pool, 10);
        assert_eq!(Settings::full().fitted(16, 6).database_pool, 5);
    }

    #[test]
    fn chosen_rounds_and_segments_are_kept() {
        let settings = Settings {
            fit_to_limit: false,
            ..Settings::full()
        };
        let fitted = settings.fitted(16, 6);
        assert_eq!((fitted.rounds, fitted.segment), (3, settings.segment));
    }
}
