//! The bench checks itself, not the figures: its CPU and memory readers on this very
//! process, a very short closed-loop and open-loop run against an in-process stub of the
//! user-service, and the report and plot written from synthetic numbers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::Path;
use axum::http::StatusCode;
use axum::routing::{get, post};
use bench::load::{self, Pace, Target, Traffic};
use bench::machine::Machine;
use bench::plan::{Cell, Load, Variant, Workload};
use bench::procfs;
use bench::report::{CellRow, Meta, Report, Telemetry, VariantRow};
use bench::services::{Window, count_and_clear};
use loadgen::mix::Mix;
use loadgen::stats::{RunInfo, StopReason};
use tokio_util::sync::CancellationToken;

/// CPU time of this process from the kernel's own clock, to check the `/proc` reader against.
fn process_cpu_clock() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let result = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(result, 0);
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

#[test]
fn cpu_and_rss_readers_see_this_process() {
    let pid = std::process::id();
    // Burn about 300 ms of CPU (however long that takes on a busy machine), then compare
    // what /proc says with the process CPU clock. Other tests run in parallel threads of
    // this process, so both count their CPU too: the two must agree, whatever they say.
    let (proc_before, clock_before) = (procfs::cpu_time(pid).unwrap(), process_cpu_clock());
    let mut x = 0u64;
    let give_up = Instant::now() + Duration::from_secs(20);
    while process_cpu_clock() - clock_before < Duration::from_millis(300)
        && Instant::now() < give_up
    {
        for _ in 0..10_000 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
    }
    let (proc_after, clock_after) = (procfs::cpu_time(pid).unwrap(), process_cpu_clock());
    let (by_proc, by_clock) = (proc_after - proc_before, clock_after - clock_before);
    assert!(by_clock >= Duration::from_millis(300), "{by_clock:?}");
    // /proc counts in clock ticks (10 ms): allow a few at each end.
    let gap = by_proc.abs_diff(by_clock);
    assert!(
        gap <= Duration::from_millis(50),
        "/proc says {by_proc:?} of CPU, the process clock {by_clock:?}"
    );

    let rss_before = procfs::rss_bytes(pid).unwrap();
    assert!(rss_before > 1_000_000, "RSS {rss_before} B");
    // 64 MB, every page written, so that it is resident.
    let block = std::hint::black_box(vec![1u8; 64 * 1024 * 1024]);
    let rss_after = procfs::rss_bytes(pid).unwrap();
    assert!(
        rss_after >= rss_before + 50_000_000,
        "RSS {rss_before} B → {rss_after} B after touching 64 MiB"
    );
    drop(block);

    assert!(procfs::cpu_time(u32::MAX).is_err(), "no such process");
}

/// `POST /users` → 201 with a new id, `GET /users/{id}` → 200 for a known id, 404 otherwise.
async fn stub() -> String {
    let next = Arc::new(AtomicU64::new(1));
    let created = next.clone();
    let app = Router::new()
        .route(
            "/users",
            post(move || {
                let id = created.fetch_add(1, Ordering::Relaxed);
                async move {
                    (
                        StatusCode::CREATED,
                        axum::Json(serde_json::json!({ "id": id, "name": "Ada" })),
                    )
                }
            }),
        )
        .route(
            "/users/{id}",
            get(move |Path(id): Path<u64>| {
                let known = id < next.load(Ordering::Relaxed);
                async move {
                    if known {
                        (StatusCode::OK, axum::Json(serde_json::json!({ "id": id })))
                    } else {
                        (
                            StatusCode::NOT_FOUND,
                            axum::Json(serde_json::json!({ "error": "no such user" })),
                        )
                    }
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

fn summary(traffic: &Traffic) -> loadgen::Summary {
    traffic.recorder.lock().unwrap().summary(RunInfo {
        url: String::new(),
        run_id: String::new(),
        seed: 0,
        elapsed: Duration::from_secs(1),
        stopped: StopReason::Duration,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_very_short_run_against_a_stub_service() {
    let target = Target::new(&stub().await, 8).unwrap();
    let mut seeding = Mix::new(1, "seed", Workload::Post.weights(), 0.0);
    let users = load::create_users(&target, &mut seeding, 3).await.unwrap();
    assert_eq!(users.iter().map(|u| u.0).collect::<Vec<_>>(), [1, 2, 3]);

    let mut mix = Mix::new(2, "test", Workload::Mix.weights(), 0.0);
    for (id, email) in &users {
        mix.record_created(*id, email.clone());
    }
    let mix = Arc::new(Mutex::new(mix));
    let cancel = CancellationToken::new();
    let pid = Some(std::process::id());

    // Closed loop: as fast as the stub answers.
    let saturation = Traffic::new(mix.clone());
    let closed = load::run(
        &target,
        &saturation,
        Pace::Closed { connections: 4 },
        Duration::from_millis(300),
        "/users/1",
        pid,
        &cancel,
    )
    .await;
    assert!(closed.requests > 50, "{closed:?}");
    assert!(closed.elapsed >= Duration::from_millis(300), "{closed:?}");
    assert!(closed.cpu_at_start.is_some());
    let closed_summary = summary(&saturation);
    assert_eq!(closed_summary.total, closed.requests);
    assert_eq!(closed_summary.unexpected(), 0, "{closed_summary}");
    assert_eq!(closed_summary.transport_errors(), 0, "{closed_summary}");
    assert!(closed_summary.latency.is_some());

    // Open loop: 400 req/s for 0.5 s is about 200 requests, whatever the answers.
    let fixed = Traffic::new(mix.clone());
    let open = load::run(
        &target,
        &fixed,
        Pace::Open { rate: 400.0 },
        Duration::from_millis(500),
        "/users/1",
        pid,
        &cancel,
    )
    .await;
    assert!((180..=220).contains(&open.requests), "{open:?}");
    assert_eq!(open.skipped, 0);
    let open_summary = summary(&fixed);
    assert_eq!(open_summary.unexpected(), 0, "{open_summary}");
    // Creates in the mix became users that later reads used.
    assert!(
        mix.lock()
            .unwrap()
            .next_request()
            .path
            .starts_with("/users")
    );
    // Seeding, warm-up and measured requests all count as sent.
    assert!(target.sent() >= 3 + 4 + closed.requests + 4 + open.requests);

    // A cancelled run stops at once.
    cancel.cancel();
    let started = Instant::now();
    let stopped = load::run(
        &target,
        &Traffic::new(mix),
        Pace::Open { rate: 100.0 },
        Duration::from_secs(10),
        "/users/1",
        None,
        &cancel,
    )
    .await;
    assert!(started.elapsed() < Duration::from_secs(2), "{stopped:?}");
    assert_eq!(stopped.cpu_at_start, None);
}

/// OTLP/JSON spans with the given start times, as an SDK would export them.
fn spans_json(starts: &[u64]) -> String {
    let spans: Vec<serde_json::Value> = starts
        .iter()
        .enumerate()
        .map(|(i, start)| {
            serde_json::json!({
                "traceId": "5b8efff798038103d269b633813fc60c",
                "spanId": format!("{:016x}", i + 1),
                "name": "GET /users/{id}",
                "kind": 2,
                "startTimeUnixNano": start.to_string(),
                "endTimeUnixNano": (start + 10).to_string(),
            })
        })
        .collect();
    serde_json::json!({ "resourceSpans": [{ "resource": { "attributes": [] },
        "scopeSpans": [{ "scope": { "name": "workshop" }, "spans": spans }] }] })
    .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn received_spans_count_for_the_cell_they_started_in() {
    let receiver = otlp_receiver::OtlpReceiver::start().await.unwrap();
    let client = reqwest::Client::new();
    let export = |starts: &'static [u64]| {
        client
            .post(receiver.http_traces_url())
            .header("content-type", "application/json")
            .body(spans_json(starts))
            .send()
    };
    let windows = [
        Window {
            cell: 0,
            from: 1_000,
            to: 2_000,
        },
        Window {
            cell: 1,
            from: 3_000,
            to: 4_000,
        },
    ];
    // Two exports: the second arrives "late", with spans of the first window among them.
    assert_eq!(
        export(&[1_500, 1_600, 3_500, 500]).await.unwrap().status(),
        200
    );
    assert_eq!(export(&[1_700, 9_000]).await.unwrap().status(), 200);
    let (by_cell, rest) = count_and_clear(&receiver, &windows, 2).await;
    let spans: Vec<u64> = by_cell.iter().map(|t| t.spans).collect();
    assert_eq!(spans, [3, 1]);
    assert_eq!(
        rest,
        Telemetry {
            spans: 2,
            metric_points: 0,
            log_records: 0
        }
    );
    // Counted once: the receiver forgot them.
    assert!(receiver.spans().is_empty());
    let (by_cell, rest) = count_and_clear(&receiver, &windows, 2).await;
    assert_eq!(by_cell, [Telemetry::default(); 2]);
    assert_eq!(rest, Telemetry::default());
}

fn synthetic_report() -> Report {
    let variants: Vec<Variant> = Variant::all(&[1, 2, 3]);
    let cells = Cell::all(&Workload::ALL);
    let mut rows = Vec::new();
    for (v, variant) in variants.iter().enumerate() {
        // Step 1 does 10 000 req/s of GETs at 30 µs; each later variant is slower.
        let slowdown = 1.0 + v as f64 * 0.25;
        for cell in &cells {
            let base_rate = match cell.workload {
                Workload::Get => 10_000.0,
                Workload::Post => 2_000.0,
                Workload::Mix => 5_000.0,
            };
            let (rate, target_rate) = match cell.load {
                Load::Saturation => (base_rate / slowdown, None),
                Load::FixedRate => (base_rate / 2.0, Some(base_rate / 2.0)),
            };
            let requests = (rate * 4.8) as u64;
            let cpu_us = 1_000_000.0 / base_rate * 0.3 * slowdown;
            rows.push(CellRow {
                variant: v,
                cell: *cell,
                requests,
                elapsed: Duration::from_secs_f64(4.8),
                round_rates: vec![rate * 0.98, rate, rate * 1.02],
                p50: Some(Duration::from_micros((400.0 * slowdown) as u64)),
                p99: Some(Duration::from_micros((1500.0 * slowdown) as u64)),
                cpu: Some(Duration::from_secs_f64(cpu_us * requests as f64 / 1e6)),
                errors: 0,
                telemetry: Telemetry {
                    spans: if variant.step > 1 { requests * 3 } else { 0 },
                    metric_points: 0,
                    log_records: 0,
                },
                target_rate,
                skipped: 0,
            });
        }
    }
    Report {
        meta: Meta {
            date: "2026-05-05 12:00 UTC".into(),
            commit: "abc1234".into(),
            dirty: false,
            machine: Machine {
                cores: 2,
                model: "Test CPU <fast> & cheap".into(),
                kernel: "Linux 6.1.0".into(),
                rustc: "rustc 1.95.0".into(),
                memory: 8_000_000_000,
            },
            quick: false,
            rounds: 3,
            segments_done: 126,
            segments_planned: 126,
            segment: Duration::from_millis(1600),
            max_drain: Duration::from_millis(500),
            connections: 16,
            rate_fraction: 0.5,
            database_pool: 10,
            duration: Duration::from_secs(271),
            command: "make bench".into(),
        },
        variants: variants
            .iter()
            .map(|&variant| VariantRow {
                variant,
                rss_start: Some(14_000_000),
                rss_end: Some(20_500_000),
                requests: 100_000,
                telemetry: Telemetry {
                    spans: if variant.step > 1 { 350_000 } else { 0 },
                    metric_points: 0,
                    log_records: 0,
                },
            })
            .collect(),
        cells: rows,
    }
}

#[test]
fn the_report_compares_every_variant_with_step_1() {
    let report = synthetic_report();
    let markdown = report.markdown("plot.svg");

    assert!(
        markdown.starts_with("# Bench: every step against step 1 — 2026-05-05, commit abc1234")
    );
    assert!(
        markdown.contains("| machine | 2 cores · Test CPU <fast> & cheap · 8.0 GB of memory |")
    );
    assert!(markdown.contains("| rustc | rustc 1.95.0 |"));
    assert!(markdown.contains("| command | `make bench` |"));
    assert!(markdown.contains("[bench/FINDINGS.md](../../FINDINGS.md)"));
    assert!(markdown.contains("![User-service CPU per request, by step and condition](plot.svg)"));
    assert!(!markdown.contains("Quick run"));
    assert!(!markdown.contains("Cut short"));
    assert!(!markdown.contains("NaN") && !markdown.contains("inf"));

    // Summary: the cache-hit GET at saturation. Step 3 · collector up is variant 4: 2× slower,
    // twice the latency and the CPU (30 → 60 µs, +30 µs of telemetry), 3 spans per request.
    let summary: Vec<&str> = markdown
        .lines()
        .skip_while(|line| !line.starts_with("## Summary: cache-hit GET"))
        .take_while(|line| !line.starts_with("!["))
        .filter(|line| line.starts_with("| step"))
        .collect();
    assert_eq!(summary.len(), 1 + 7, "{summary:#?}");
    assert_eq!(
        summary[1],
        "| step 1 | 10\u{202f}000 | 1.00 | 1.00 | 1.00 | 30.0 | +0.0 | 0.00 |"
    );
    assert_eq!(
        summary[5],
        "| step 3 · collector up | 5\u{202f}000 | 0.50 | 2.00 | 2.00 | 60.0 | +30.0 | 3.00 |"
    );

    // Memory and whole-run telemetry.
    assert!(markdown.contains(
        "| step 2 · unsampled | 14.0 MB | 20.5 MB | +6.5 MB | 100\u{202f}000 | 3.50 | 0.00 | 0.00 |"
    ));

    // One table per cell, the rounds' spread at saturation, the share of the target rate.
    assert_eq!(markdown.matches("\n### ").count(), 6);
    assert!(markdown.contains("### POST /users — fixed rate (1\u{202f}000 req/s, open loop)"));
    assert!(markdown.contains("| 0.50 (0.50–0.50) |"));
    assert!(markdown.contains("| 100 % |"));
}

#[test]
fn the_summary_csv_holds_the_headline_table() {
    let csv = synthetic_report().summary_csv();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "variant,requests_per_second,throughput_vs_step1,cpu_us_per_request,\
         telemetry_cpu_us_per_request,spans_per_request"
    );
    assert_eq!(lines.len(), 1 + 7, "{csv}");
    assert_eq!(lines[1], "step 1,10000,1.00,30.0,0.0,0.00");
    assert_eq!(lines[5], "step 3 · collector up,5000,0.50,60.0,30.0,3.00");
}

#[test]
fn an_incomplete_quick_report_still_renders() {
    let mut report = synthetic_report();
    report.meta.quick = true;
    report.meta.dirty = true;
    report.meta.segments_done = 40;
    // No step-1 row for the POST cells, nothing at all for the mix, a CPU that could not be read.
    report.cells.retain(|row| {
        row.cell.workload != Workload::Mix
            && !(row.variant == 0 && row.cell.workload == Workload::Post)
    });
    report.cells[1].cpu = None;
    report.cells[2].p50 = None;
    let markdown = report.markdown("plot.svg");
    assert!(markdown.contains("**Quick run**"));
    assert!(markdown.contains("**Cut short**: 40 of 126 segments"));
    assert!(markdown.contains("(with uncommitted changes)"));
    assert_eq!(markdown.matches("\n### ").count(), 4);
    assert!(!markdown.contains("NaN") && !markdown.contains("inf"));
    let svg = bench::svg::plot(&report);
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
}

#[test]
fn the_plot_has_a_bar_per_variant_workload_and_load() {
    let report = synthetic_report();
    let svg = bench::svg::plot(&report);
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(svg.trim_end().ends_with("</svg>"));
    // Bars carry a <title> (the tooltip): 7 variants × 3 workloads × 2 loads.
    assert_eq!(svg.matches("</title></rect>").count(), 42);
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
    // Text is escaped: the model name has < > &.
    assert!(svg.contains("Test CPU &lt;fast&gt; &amp; cheap"));
    assert!(!svg.contains("<fast>"));
    assert!(svg.contains("step 3 · collector up · get @ saturation: 60.0 µs/request"));

    // Both files, written where asked.
    let folder = std::env::temp_dir().join(format!("bench-test-{}", std::process::id()));
    bench::run::write(&report, &folder).unwrap();
    let readme = std::fs::read_to_string(folder.join("README.md")).unwrap();
    assert!(readme.contains(&format!("]({})", bench::run::PLOT_FILE)));
    let written = std::fs::read_to_string(folder.join(bench::run::PLOT_FILE)).unwrap();
    assert_eq!(written, svg);
    std::fs::remove_dir_all(&folder).unwrap();
}
