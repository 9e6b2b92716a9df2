//! `otel-tail` (`make tail`): see the telemetry of a step without Docker.

use std::io::{IsTerminal, Write};
use std::net::{Ipv4Addr, SocketAddr};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use otel_tail::cli::{Color, Options};
use otel_tail::item::Item;
use otel_tail::render::Style;
use otel_tail::viewer::Viewer;
use otlp_receiver::OtlpReceiver;

/// How often the viewer takes what arrived.
const TICK: Duration = Duration::from_millis(100);

#[tokio::main]
async fn main() -> ExitCode {
    let options = Options::parse();
    let http = SocketAddr::from((Ipv4Addr::LOCALHOST, options.http_port));
    let grpc = SocketAddr::from((Ipv4Addr::LOCALHOST, options.grpc_port));
    let receiver = match OtlpReceiver::start_on(http, grpc).await {
        Ok(receiver) => receiver,
        Err(err) if err.kind() == std::io::ErrorKind::AddrInUse => {
            eprintln!(
                "error: port {} or {} on 127.0.0.1 is already in use. Is the Docker stack up \
                 (`make down` stops it), or another `make tail`? Or pick other ports: \
                 --http-port / --grpc-port (and OTEL_EXPORTER_OTLP_ENDPOINT for the step).",
                options.http_port, options.grpc_port
            );
            return ExitCode::from(2);
        }
        Err(err) => {
            eprintln!("error: cannot listen on 127.0.0.1: {err}");
            return ExitCode::from(2);
        }
    };
    let style = Style {
        color: match options.color {
            Color::Always => true,
            Color::Never => false,
            Color::Auto => {
                std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
            }
        },
    };
    eprintln!(
        "otel-tail: listening on http://{} (OTLP/HTTP) and {} (OTLP/gRPC). In another terminal: \
         `make run` and `make load`. Ctrl-C stops.",
        receiver.http_addr(),
        receiver.grpc_addr()
    );
    let json = options.json;
    let mut viewer = Viewer::new(options);
    let mut ticker = tokio::time::interval(TICK);
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                let items = viewer.step(receiver.take(), Instant::now());
                if print(&items, json, style).is_err() {
                    break; // stdout closed (e.g. `| head`)
                }
            }
            _ = &mut stop => {
                let _ = print(&viewer.step(receiver.take(), Instant::now()), json, style);
                let _ = print(&viewer.finish(), json, style);
                eprintln!("otel-tail: stopped");
                break;
            }
        }
    }
    ExitCode::SUCCESS
}

fn print(items: &[Item], json: bool, style: Style) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    for item in items {
        if json {
            serde_json::to_writer(&mut out, item)?;
            writeln!(out)?;
        } else {
            let text = match item {
                Item::Trace(trace) => style.trace(trace),
                Item::Log(log) => style.log(log) + "\n",
                Item::Metrics(metrics) => style.metrics(metrics),
            };
            out.write_all(text.as_bytes())?;
        }
    }
    out.flush()
}
