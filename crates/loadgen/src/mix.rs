//! Choosing the next request. A seeded RNG picks the kind (by weight) and its parameters, so
//! a seed replays the same sequence of kinds and parameters. Which existing user a read or a
//! duplicate picks depends on which creates had already answered, so that part follows timing.

use std::fmt;
use std::str::FromStr;

/// What a request exercises; the summary counts each kind separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// `POST /users` with a fresh email: 201.
    Create,
    /// `GET /users/{id}` of a user this run created: 200, from the cache (write-through).
    Read,
    /// `GET /users/{id}` far beyond any real id: 404 after a cache miss and a database query.
    ReadUnknown,
    /// `POST /users` with a missing field or invalid email (422) or malformed JSON (400).
    InvalidBody,
    /// `POST /users` with the email of a user this run created, sometimes upper-cased: 409.
    Duplicate,
    /// `GET /demo/work?delay_ms=10..300`: 200, slow.
    DemoWork,
    /// `GET /demo/work?status=500|503`: the failure the request asked for.
    DemoStatus,
    /// `GET /demo/error`: a real failing query, 500.
    DemoError,
    /// `GET /demo/cpu?ms=20`: 200 after burning a little CPU.
    DemoCpu,
    /// `GET /demo/logs`: 200, one log line per level.
    DemoLogs,
}

impl Kind {
    pub const ALL: [Kind; 10] = [
        Kind::Create,
        Kind::Read,
        Kind::ReadUnknown,
        Kind::InvalidBody,
        Kind::Duplicate,
        Kind::DemoWork,
        Kind::DemoStatus,
        Kind::DemoError,
        Kind::DemoCpu,
        Kind::DemoLogs,
    ];

    /// The name used in `--mix` and in the summary.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Create => "create",
            Kind::Read => "read",
            Kind::ReadUnknown => "read-unknown",
            Kind::InvalidBody => "invalid-body",
            Kind::Duplicate => "duplicate",
            Kind::DemoWork => "demo-work",
            Kind::DemoStatus => "demo-status",
            Kind::DemoError => "demo-error",
            Kind::DemoCpu => "demo-cpu",
            Kind::DemoLogs => "demo-logs",
        }
    }

    /// Position in [`Kind::ALL`], for per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Relative weight of each kind. `--mix read=3,create=1` uses only the kinds it lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weights([u32; Kind::ALL.len()]);

impl Default for Weights {
    /// Mostly reads and creates, as a real user API sees, with enough errors and slow
    /// requests to make the dashboards interesting. Sums to 100, so each is a percentage.
    fn default() -> Self {
        let mut weights = [0; Kind::ALL.len()];
        for (kind, weight) in [
            (Kind::Create, 15),
            (Kind::Read, 40),
            (Kind::ReadUnknown, 8),
            (Kind::InvalidBody, 5),
            (Kind::Duplicate, 4),
            (Kind::DemoWork, 12),
            (Kind::DemoStatus, 3),
            (Kind::DemoError, 2),
            (Kind::DemoCpu, 5),
            (Kind::DemoLogs, 6),
        ] {
            weights[kind.index()] = weight;
        }
        Self(weights)
    }
}

impl Weights {
    pub fn get(&self, kind: Kind) -> u32 {
        self.0[kind.index()]
    }

    fn total(&self) -> u32 {
        self.0.iter().sum()
    }
}

impl FromStr for Weights {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut weights = [0; Kind::ALL.len()];
        for item in text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
        {
            let (name, weight) = item
                .split_once('=')
                .ok_or_else(|| format!("expected kind=weight, got {item:?}"))?;
            let kind = Kind::ALL
                .into_iter()
                .find(|kind| kind.name() == name.trim())
                .ok_or_else(|| {
                    let names: Vec<_> = Kind::ALL.iter().map(|kind| kind.name()).collect();
                    format!("unknown kind {name:?}; kinds: {}", names.join(", "))
                })?;
            weights[kind.index()] = weight
                .trim()
                .parse()
                .map_err(|_| format!("weight of {name} must be a whole number, got {weight:?}"))?;
        }
        let weights = Self(weights);
        if weights.total() == 0 {
            return Err("at least one kind needs a weight above 0".into());
        }
        Ok(weights)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// W3C trace context for a request that pretends to come from an instrumented caller, so the
/// service's spans join that trace and its baggage names the load-generator session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceContext {
    pub traceparent: String,
    pub baggage: String,
}

/// One request, decided but not yet sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub kind: Kind,
    pub method: Method,
    /// Path and query, appended to the base URL.
    pub path: String,
    /// A JSON body, kept as text so that malformed JSON can be sent too.
    pub body: Option<String>,
    /// The status the real service answers when all is well; anything else is "unexpected".
    pub expected: u16,
    /// For a create: the email, remembered (with the new id) for reads and duplicates.
    pub email: Option<String>,
    pub trace: Option<TraceContext>,
}

#[derive(Debug, Clone)]
struct KnownUser {
    id: u64,
    email: String,
}

/// Remembering every created user would grow without bound on long runs; a few thousand are
/// plenty to spread reads over, and newer users replace older ones.
const MAX_KNOWN_USERS: usize = 10_000;

/// Ids this far out are never reached by a workshop database, so they are reliably 404.
const UNKNOWN_ID_BASE: u64 = 1_000_000_000;

const NAMES: [&str; 12] = [
    "Ada Lovelace",
    "Grace Hopper",
    "Alan Turing",
    "Edsger Dijkstra",
    "Barbara Liskov",
    "Donald Knuth",
    "Margaret Hamilton",
    "Ken Thompson",
    "Frances Allen",
    "John McCarthy",
    "Radia Perlman",
    "Dennis Ritchie",
];

/// Share of requests that carry `traceparent` and `baggage`.
pub const DEFAULT_TRACE_SHARE: f64 = 0.2;

pub struct Mix {
    /// Decides kinds and parameters: the seed alone determines its sequence.
    rng: fastrand::Rng,
    /// Trace and span ids: seeded from the seed *and* the run id, so that replaying a seed
    /// in a later run does not reuse trace ids already stored in Tempo.
    id_rng: fastrand::Rng,
    weights: Weights,
    trace_share: f64,
    run_id: String,
    next_user: u64,
    known: Vec<KnownUser>,
    replaced: usize,
}

impl Mix {
    pub fn new(seed: u64, run_id: &str, weights: Weights, trace_share: f64) -> Self {
        Self {
            rng: fastrand::Rng::with_seed(seed),
            id_rng: fastrand::Rng::with_seed(seed ^ fnv1a(run_id.as_bytes())),
            weights,
            trace_share,
            run_id: run_id.to_owned(),
            next_user: 0,
            known: Vec::new(),
            replaced: 0,
        }
    }

    /// The user a `201` created: later reads and duplicates use it.
    pub fn record_created(&mut self, id: u64, email: String) {
        let user = KnownUser { id, email };
        if self.known.len() < MAX_KNOWN_USERS {
            self.known.push(user);
        } else {
            self.known[self.replaced] = user;
            self.replaced = (self.replaced + 1) % MAX_KNOWN_USERS;
        }
    }

    pub fn next_request(&mut self) -> Planned {
        // Every call draws the same values in the same order whatever the state (known users
        // or not), so that a seed gives the same sequence of kinds however responses race.
        let kind = self.pick_kind();
        let pick = self.rng.u64(..);
        let number = self.rng.u64(..);
        let flag = self.rng.bool();
        let traced = self.rng.f64() < self.trace_share;

        let known = (!self.known.is_empty())
            .then(|| self.known[(pick % self.known.len() as u64) as usize].clone());
        let mut planned = match (kind, known) {
            (Kind::Create, _) | (Kind::Duplicate, None) => self.create(pick),
            (Kind::Read, Some(user)) => get(Kind::Read, format!("/users/{}", user.id), 200),
            (Kind::Read | Kind::ReadUnknown, _) => get(
                Kind::ReadUnknown,
                format!("/users/{}", UNKNOWN_ID_BASE + number % UNKNOWN_ID_BASE),
                404,
            ),
            (Kind::Duplicate, Some(user)) => {
                // The service compares emails case-insensitively: an upper-cased copy is a
                // duplicate too, and exercises that path.
                let email = if flag {
                    user.email.to_uppercase()
                } else {
                    user.email
                };
                let name = NAMES[(number % NAMES.len() as u64) as usize];
                post(
                    Kind::Duplicate,
                    serde_json::json!({ "name": name, "email": email }).to_string(),
                    409,
                )
            }
            (Kind::InvalidBody, _) => invalid_body(number),
            (Kind::DemoWork, _) => get(
                Kind::DemoWork,
                format!("/demo/work?delay_ms={}", 10 + number % 291),
                200,
            ),
            (Kind::DemoStatus, _) => {
                let status = if flag { 500 } else { 503 };
                get(
                    Kind::DemoStatus,
                    format!("/demo/work?delay_ms={}&status={status}", 10 + number % 91),
                    status,
                )
            }
            (Kind::DemoError, _) => get(Kind::DemoError, "/demo/error".into(), 500),
            (Kind::DemoCpu, _) => get(Kind::DemoCpu, "/demo/cpu?ms=20".into(), 200),
            // No /demo/memory: it allocates tens of MiB per call, and under load that would
            // measure the machine running out of memory, not the service.
            (Kind::DemoLogs, _) => get(Kind::DemoLogs, "/demo/logs".into(), 200),
        };
        if traced {
            planned.trace = Some(self.trace_context());
        }
        planned
    }

    fn pick_kind(&mut self) -> Kind {
        let mut ticket = self.rng.u32(..self.weights.total());
        for kind in Kind::ALL {
            let weight = self.weights.get(kind);
            if ticket < weight {
                return kind;
            }
            ticket -= weight;
        }
        unreachable!("the ticket is below the total of the weights")
    }

    fn create(&mut self, pick: u64) -> Planned {
        let name = NAMES[(pick % NAMES.len() as u64) as usize];
        let n = self.next_user;
        self.next_user += 1;
        // The run id makes emails unique across runs, so creates are not 409s the second time.
        let local = name.to_lowercase().replace(' ', ".");
        let email = format!("{local}-{}-{n}@example.com", self.run_id);
        let body = serde_json::json!({ "name": name, "email": email }).to_string();
        let mut planned = post(Kind::Create, body, 201);
        planned.email = Some(email);
        planned
    }

    fn trace_context(&mut self) -> TraceContext {
        // All-zero ids are invalid in W3C trace context: receivers would drop the header.
        let trace_id = loop {
            let id = self.id_rng.u128(..);
            if id != 0 {
                break id;
            }
        };
        let span_id = self.id_rng.u64(1..);
        TraceContext {
            // Version 00, flags 01 (sampled): the service records the trace.
            traceparent: format!("00-{trace_id:032x}-{span_id:016x}-01"),
            baggage: format!("session.id=loadgen-{}", self.run_id),
        }
    }
}

fn get(kind: Kind, path: String, expected: u16) -> Planned {
    Planned {
        kind,
        method: Method::Get,
        path,
        body: None,
        expected,
        email: None,
        trace: None,
    }
}

fn post(kind: Kind, body: String, expected: u16) -> Planned {
    Planned {
        kind,
        method: Method::Post,
        path: "/users".into(),
        body: Some(body),
        expected,
        email: None,
        trace: None,
    }
}

/// The bodies a careless client sends, with the status the service answers for each.
fn invalid_body(number: u64) -> Planned {
    let (body, expected) = match number % 3 {
        0 => (r#"{"name":"Ada Lovelace"}"#, 422),
        1 => (r#"{"name":"Ada Lovelace","email":"not-an-email"}"#, 422),
        _ => (r#"{"name":"Ada Lovelace","email":"#, 400),
    };
    post(Kind::InvalidBody, body.into(), expected)
}

/// A small stable hash (FNV-1a), to fold the run id into a seed without a dependency.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Is `value` a valid W3C `traceparent` as this generator sends it (version 00, sampled)?
pub fn is_valid_traceparent(value: &str) -> bool {
    let parts: Vec<&str> = value.split('-').collect();
    let hex = |part: &str, len: usize| {
        part.len() == len
            && part
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    };
    let nonzero = |part: &str| part.chars().any(|c| c != '0');
    parts.len() == 4
        && parts[0] == "00"
        && hex(parts[1], 32)
        && nonzero(parts[1])
        && hex(parts[2], 16)
        && nonzero(parts[2])
        && parts[3] == "01"
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn sample(seed: u64, run_id: &str, count: usize) -> Vec<Planned> {
        let mut mix = Mix::new(seed, run_id, Weights::default(), DEFAULT_TRACE_SHARE);
        (0..count)
            .map(|i| {
                let planned = mix.next_request();
                // Pretend every create succeeded, as a fast service would answer.
                if let Some(email) = &planned.email {
                    mix.record_created(i as u64 + 1, email.clone());
                }
                planned
            })
            .collect()
    }

    #[test]
    fn a_seed_replays_the_same_requests() {
        assert_eq!(sample(7, "run1", 500), sample(7, "run1", 500));
        assert_ne!(sample(7, "run1", 500), sample(8, "run1", 500));
    }

    #[test]
    fn the_run_id_changes_emails_and_trace_ids_but_not_the_kinds() {
        let a = sample(7, "run1", 300);
        let b = sample(7, "run2", 300);
        let kinds = |s: &[Planned]| s.iter().map(|p| p.kind).collect::<Vec<_>>();
        assert_eq!(kinds(&a), kinds(&b));
        let traces = |s: &[Planned]| s.iter().filter_map(|p| p.trace.clone()).collect::<Vec<_>>();
        assert!(
            traces(&a)
                .iter()
                .zip(traces(&b))
                .all(|(x, y)| x.traceparent != y.traceparent)
        );
        assert!(a[0..50].iter().zip(&b).any(|(x, y)| x.email != y.email));
    }

    #[test]
    fn every_kind_appears_in_a_big_sample_near_its_weight() {
        let planned = sample(42, "run", 10_000);
        let weights = Weights::default();
        for kind in Kind::ALL {
            let count = planned.iter().filter(|p| p.kind == kind).count();
            assert!(count > 0, "{kind} never chosen");
            // Reads fall back to unknown ids (and duplicates to creates) only before the
            // first create, so the shares stay within a point or two of the weights.
            let share = count as f64 / planned.len() as f64 * 100.0;
            let weight = f64::from(weights.get(kind));
            assert!(
                (share - weight).abs() < 2.0,
                "{kind}: {share:.1}% vs {weight}"
            );
        }
    }

    #[test]
    fn expected_statuses_cover_the_api() {
        let statuses: BTreeSet<u16> = sample(1, "run", 5_000).iter().map(|p| p.expected).collect();
        assert_eq!(
            statuses,
            BTreeSet::from([200, 201, 400, 404, 409, 422, 500, 503])
        );
    }

    #[test]
    fn about_a_fifth_carry_a_valid_traceparent_and_the_session_baggage() {
        let planned = sample(3, "abc123", 5_000);
        let traced: Vec<_> = planned.iter().filter_map(|p| p.trace.as_ref()).collect();
        let share = traced.len() as f64 / planned.len() as f64;
        assert!((0.17..0.23).contains(&share), "share {share}");
        for trace in &traced {
            assert!(
                is_valid_traceparent(&trace.traceparent),
                "{}",
                trace.traceparent
            );
            assert_eq!(trace.baggage, "session.id=loadgen-abc123");
        }
        let unique: BTreeSet<_> = traced.iter().map(|t| &t.traceparent[3..35]).collect();
        assert_eq!(unique.len(), traced.len(), "trace ids repeat");
    }

    #[test]
    fn the_traceparent_check_rejects_bad_values() {
        let good = format!("00-{}-{}-01", "ab".repeat(16), "cd".repeat(8));
        assert!(is_valid_traceparent(&good));
        for bad in [
            format!("00-{}-{}-01", "0".repeat(32), "cd".repeat(8)),
            format!("00-{}-{}-01", "ab".repeat(16), "0".repeat(16)),
            format!("00-{}-{}-01", "AB".repeat(16), "cd".repeat(8)),
            format!("01-{}-{}-01", "ab".repeat(16), "cd".repeat(8)),
            format!("00-{}-{}-01", "ab".repeat(15), "cd".repeat(8)),
        ] {
            assert!(!is_valid_traceparent(&bad), "{bad}");
        }
    }

    #[test]
    fn reads_and_duplicates_use_created_users_and_fall_back_before_any() {
        let mut mix = Mix::new(5, "run", "read=1,duplicate=1".parse().unwrap(), 0.0);
        let before: Vec<_> = (0..20).map(|_| mix.next_request()).collect();
        assert!(
            before
                .iter()
                .all(|p| matches!(p.kind, Kind::ReadUnknown | Kind::Create))
        );
        mix.record_created(77, "ada-run-0@example.com".into());
        for _ in 0..50 {
            let planned = mix.next_request();
            match planned.kind {
                Kind::Read => assert_eq!(planned.path, "/users/77"),
                Kind::Duplicate => {
                    let body = planned.body.unwrap().to_lowercase();
                    assert!(body.contains("ada-run-0@example.com"), "{body}");
                    assert_eq!(planned.expected, 409);
                }
                other => panic!("unexpected kind {other}"),
            }
        }
    }

    #[test]
    fn creates_use_unique_valid_emails() {
        let planned = sample(9, "r1", 2_000);
        let emails: Vec<_> = planned.iter().filter_map(|p| p.email.clone()).collect();
        let unique: BTreeSet<_> = emails.iter().collect();
        assert_eq!(unique.len(), emails.len());
        assert!(
            emails
                .iter()
                .all(|e| e.ends_with("@example.com") && e.contains("-r1-"))
        );
    }

    #[test]
    fn weights_parse_and_reject_nonsense() {
        let weights: Weights = "read=3, create=1".parse().unwrap();
        assert_eq!(weights.get(Kind::Read), 3);
        assert_eq!(weights.get(Kind::Create), 1);
        assert_eq!(weights.get(Kind::DemoCpu), 0);
        assert!("reads=3".parse::<Weights>().unwrap_err().contains("kinds:"));
        assert!("read=x".parse::<Weights>().is_err());
        assert!("read".parse::<Weights>().is_err());
        assert!("read=0".parse::<Weights>().is_err());
        assert_eq!(Weights::default().total(), 100);
    }
}
