//! Runs a step binary as users do: its own process, configured by environment variables;
//! lets it pick its own port (`127.0.0.1:0`) and reads the one it prints ("listening on
//! http://…"), so that two tests can never race for a port; waits until it is ready;
//! captures what it prints; stops it with SIGTERM.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// How to start a service binary.
#[derive(Debug, Clone)]
pub struct SpawnOptions {
    /// Shown in errors, e.g. "user-service".
    pub name: String,
    pub program: PathBuf,
    /// The variable that sets the listen address, e.g. `USER_SERVICE_ADDR`.
    pub address_variable: String,
    /// The port to listen on; when `None`, the service binds port 0 and the test reads the
    /// port it prints.
    pub port: Option<u16>,
    /// Environment of the process. The test's own environment is NOT inherited (apart from
    /// `PATH` and `HOME`), so that a developer's `OTEL_*` or `DATABASE_URL` cannot leak in.
    pub env: Vec<(String, String)>,
    /// Polled until it answers 200; `None` to return as soon as the process is spawned.
    pub ready_path: Option<String>,
    pub ready_timeout: Duration,
}

impl SpawnOptions {
    pub fn new(name: &str, program: impl AsRef<Path>, address_variable: &str) -> Self {
        Self {
            name: name.to_owned(),
            program: program.as_ref().to_owned(),
            address_variable: address_variable.to_owned(),
            port: None,
            env: Vec::new(),
            ready_path: Some("/readyz".to_owned()),
            ready_timeout: Duration::from_secs(30),
        }
    }

    pub fn env(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.retain(|(existing, _)| existing != key);
        self.env.push((key.to_owned(), value.into()));
        self
    }

    pub fn ready_path(mut self, path: Option<&str>) -> Self {
        self.ready_path = path.map(str::to_owned);
        self
    }
}

pub struct ServiceProcess {
    name: String,
    child: Child,
    base_url: String,
    output: Arc<Mutex<Vec<String>>>,
}

/// Clears what `command` would inherit but `PATH` and `HOME`: a developer's shell (`RUST_LOG`,
/// `OTEL_*`, `DATABASE_URL`, tansu's `STORAGE_ENGINE`…) must not change what a test runs.
pub(crate) fn clean_environment(command: &mut Command) -> &mut Command {
    command.env_clear().envs(
        ["PATH", "HOME"]
            .iter()
            .filter_map(|key| Some((key, std::env::var(key).ok()?))),
    )
}

impl ServiceProcess {
    /// Spawns the binary and, if asked, waits for readiness. Panics with the process output
    /// when it exits early or never becomes ready.
    pub async fn spawn(options: SpawnOptions) -> Self {
        let port = options.port.unwrap_or(0);
        let mut command = Command::new(&options.program);
        clean_environment(&mut command)
            .env(
                "RUST_LOG",
                std::env::var("TEST_RUST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .env(&options.address_variable, format!("127.0.0.1:{port}"))
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "cannot start {} ({}): {err}",
                options.name,
                options.program.display()
            )
        });
        let output = Arc::new(Mutex::new(Vec::new()));
        if let Some(stdout) = child.stdout.take() {
            tokio::spawn(collect_lines(stdout, output.clone()));
        }
        if let Some(stderr) = child.stderr.take() {
            tokio::spawn(collect_lines(stderr, output.clone()));
        }
        let mut process = Self {
            name: options.name.clone(),
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            output,
        };
        if let Some(path) = &options.ready_path {
            if options.port.is_none() {
                process.base_url = process.wait_for_address(options.ready_timeout).await;
            }
            process.wait_ready(path, options.ready_timeout).await;
        }
        process
    }

    /// The `http://127.0.0.1:PORT` from the service's "listening on" line.
    async fn wait_for_address(&mut self, timeout: Duration) -> String {
        const MARKER: &str = "listening on http://";
        let deadline = Instant::now() + timeout;
        loop {
            let printed = self.output.lock().ok().and_then(|lines| {
                lines.iter().find_map(|line| {
                    let (_, rest) = line.split_once(MARKER)?;
                    // Up to the first character an address has not (a JSON line goes on
                    // with `","target":…`).
                    let end = rest
                        .find(|c: char| !(c.is_ascii_alphanumeric() || ".:[]".contains(c)))
                        .unwrap_or(rest.len());
                    let address = Some(&rest[..end]).filter(|a| !a.is_empty())?;
                    Some(format!("http://{address}"))
                })
            });
            if let Some(url) = printed {
                return url;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited with {status} before it listened. Its output:\n{}",
                    self.name,
                    self.output()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{} did not print {MARKER:?} within {timeout:?}. Its output:\n{}",
                self.name,
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn wait_ready(&mut self, path: &str, timeout: Duration) {
        let client = reqwest::Client::new();
        let url = format!("{}{path}", self.base_url);
        let deadline = Instant::now() + timeout;
        let mut last = String::from("no answer yet");
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "{} exited with {status} before it was ready. Its output:\n{}",
                    self.name,
                    self.output()
                );
            }
            match client
                .get(&url)
                .timeout(Duration::from_secs(2))
                .send()
                .await
            {
                Ok(response) if response.status().is_success() => return,
                Ok(response) => {
                    last = format!(
                        "{} {}",
                        response.status(),
                        response.text().await.unwrap_or_default()
                    )
                }
                Err(err) => last = err.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!(
            "{} was not ready at {url} within {timeout:?} (last answer: {last}). Its output:\n{}",
            self.name,
            self.output()
        );
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The process's resident memory (VmRSS), in KiB, while it runs.
    pub fn resident_kib(&self) -> Option<u64> {
        let pid = self.pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Everything the process printed so far (stdout and stderr, interleaved by arrival).
    pub fn output(&self) -> String {
        self.output
            .lock()
            .map(|lines| lines.join("\n"))
            .unwrap_or_default()
    }

    /// How many output lines contain `needle`.
    pub fn count_lines(&self, needle: &str) -> usize {
        self.output
            .lock()
            .map(|lines| lines.iter().filter(|line| line.contains(needle)).count())
            .unwrap_or(0)
    }

    /// Waits until a line containing `needle` was printed.
    pub async fn wait_for_line(&self, needle: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count_lines(needle) == 0 {
            assert!(
                Instant::now() < deadline,
                "{} did not print {needle:?} within {timeout:?}. Its output:\n{}",
                self.name,
                self.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends SIGTERM without waiting.
    pub fn terminate(&self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: kill(2) with a pid we spawned and still own (not yet reaped).
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
    }

    /// SIGTERM, then waits up to `timeout` for the exit. Panics (after SIGKILL) if the
    /// process does not stop in time.
    pub async fn stop(&mut self, timeout: Duration) -> ExitStatus {
        self.terminate();
        self.wait_exit(timeout).await
    }

    /// Waits for the process to exit by itself (e.g. a start-up failure).
    pub async fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        match tokio::time::timeout(timeout, self.child.wait()).await {
            Ok(Ok(status)) => {
                // Let the output readers drain the pipes.
                tokio::time::sleep(Duration::from_millis(100)).await;
                status
            }
            Ok(Err(err)) => panic!("cannot wait for {}: {err}", self.name),
            Err(_) => {
                let _ = self.child.start_kill();
                panic!(
                    "{} did not exit within {timeout:?}. Its output:\n{}",
                    self.name,
                    self.output()
                );
            }
        }
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "----- output of {} -----\n{}\n-----",
                self.name,
                self.output()
            );
        }
    }
}

async fn collect_lines(stream: impl AsyncRead + Unpin, sink: Arc<Mutex<Vec<String>>>) {
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Ok(mut sink) = sink.lock() {
            sink.push(line);
        }
    }
}
