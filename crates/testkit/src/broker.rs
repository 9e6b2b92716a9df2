//! A Kafka-protocol broker of the test's own: `tansu` with its memory store, on a free port of
//! 127.0.0.1, that the test can stop, kill and start again on the same port. A restarted
//! broker is empty (no topics, no offsets, no consumer groups), which is what a broker that
//! loses its state looks like to a client. Fault tests use it instead of the shared broker on
//! :9092, which other tests use at the same time.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};

/// How long tansu may take to listen after it was spawned.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long SIGTERM may take before SIGKILL (tansu needs about 5 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Broker {
    program: PathBuf,
    /// Working directory: holds an empty `.env` (tansu reads the nearest one) and the log.
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    starts: u32,
}

impl Broker {
    /// Starts tansu on a free port and waits until it answers Kafka requests.
    pub async fn start() -> Self {
        let program = find_tansu();
        let dir = std::env::temp_dir().join(crate::unique_name("testkit-tansu"));
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|err| panic!("cannot create {}: {err}", dir.display()));
        std::fs::write(
            dir.join(".env"),
            "# Empty on purpose: stops tansu from loading another .env.\n",
        )
        .unwrap_or_else(|err| panic!("cannot write {}/.env: {err}", dir.display()));
        let mut broker = Self {
            program,
            dir,
            port: 0,
            child: None,
            starts: 0,
        };
        // A free port can be taken by someone else between the probe and tansu's bind: try
        // a few.
        for _ in 0..5 {
            broker.port = free_port();
            if broker.spawn_and_wait().await {
                return broker;
            }
        }
        panic!(
            "tansu did not start on a free port after 5 attempts. Its log:\n{}",
            broker.log()
        );
    }

    /// `127.0.0.1:PORT`, for `KAFKA_BROKERS`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().and_then(Child::id)
    }

    /// Stops the broker with SIGTERM, as an operator would (SIGKILL after 10 s).
    pub async fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Some(pid) = child.id() {
            // SAFETY: kill(2) on the pid of a child we spawned and have not reaped yet.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(STOP_TIMEOUT, child.wait())
            .await
            .is_err()
        {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Kills the broker with SIGKILL: a crash, and no wait for tansu's graceful shutdown.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Starts the broker again on the same port, empty; waits until it answers.
    pub async fn start_again(&mut self) {
        assert!(self.child.is_none(), "the broker is still running");
        // The port was tansu's a moment ago; another process taking it now is unlikely, and
        // tansu's listener reuses the address, so a few tries cover a slow release.
        for _ in 0..5 {
            if self.spawn_and_wait().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "tansu did not start again on {}. Its log:\n{}",
            self.address(),
            self.log()
        );
    }

    /// Kills the broker and starts an empty one on the same port at once.
    pub async fn restart_empty(&mut self) {
        self.kill().await;
        self.start_again().await;
    }

    /// What tansu printed, every run of it (the last 100 lines).
    pub fn log(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(100)..].join("\n")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("tansu.log")
    }

    /// Spawns tansu and waits until it answers or exits. `false` if it exited (e.g. the
    /// port was taken); panics if it neither answers nor exits in time.
    async fn spawn_and_wait(&mut self) -> bool {
        self.starts += 1;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .unwrap_or_else(|err| panic!("cannot open the tansu log: {err}"));
        let stderr = log
            .try_clone()
            .unwrap_or_else(|err| panic!("cannot open the tansu log: {err}"));
        let url = format!("tcp://{}", self.address());
        let mut command = Command::new(&self.program);
        // Not inherited: OTEL_EXPORTER_OTLP_ENDPOINT, STORAGE_ENGINE etc. are tansu's
        // defaults too and must not leak in from a developer's shell.
        crate::process::clean_environment(&mut command)
            .current_dir(&self.dir)
            .env(
                "RUST_LOG",
                std::env::var("TEST_TANSU_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .arg("broker")
            .arg("--storage-engine")
            .arg("memory://tansu/")
            .arg("--listener-url")
            .arg(&url)
            .arg("--advertised-listener-url")
            .arg(&url)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr)
            .kill_on_drop(true);
        let mut child = command.spawn().unwrap_or_else(|err| {
            panic!(
                "cannot start tansu ({}): {err}. Install it with `make services`.",
                self.program.display()
            )
        });
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(Some(_)) = child.try_wait() {
                return false;
            }
            if answers_api_versions(self.port).await {
                self.child = Some(child);
                return true;
            }
            if Instant::now() > deadline {
                let _ = child.start_kill();
                let _ = child.wait().await;
                panic!(
                    "tansu (start #{}) does not answer on {} after {START_TIMEOUT:?}. Its log:\n{}",
                    self.starts,
                    self.address(),
                    self.log()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            // SIGKILL; tokio reaps the process in the background.
            let _ = child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- log of the test broker on {} -----\n{}\n-----",
                self.address(),
                self.log()
            );
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `tansu` on `PATH`, or where `make services` installs it (`$CARGO_HOME/bin`).
fn find_tansu() -> PathBuf {
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("tansu"))
            .find(|candidate| is_executable(candidate))
    });
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cargo")));
    let in_cargo_bin = cargo_home
        .map(|home| home.join("bin").join("tansu"))
        .filter(|candidate| is_executable(candidate));
    on_path.or(in_cargo_bin).unwrap_or_else(|| {
        panic!(
            "tansu is not installed (not on PATH, not in $CARGO_HOME/bin): the broker-fault \
             tests start brokers of their own with it. Install it with `make services` (it runs \
             `cargo install tansu@0.6.0 --locked --features dynostore --debug`, about 4 minutes once)."
        )
    })
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .is_ok_and(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
}

/// A port on 127.0.0.1 that nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("the OS has no free port on 127.0.0.1")
}

/// Sends a Kafka ApiVersions v0 request (correlation id 1) and checks that the answer carries
/// it: a Kafka-protocol broker listens, not just any socket.
async fn answers_api_versions(port: u16) -> bool {
    const REQUEST: [u8; 14] = [0, 0, 0, 10, 0, 18, 0, 0, 0, 0, 0, 1, 0xff, 0xff];
    let exchange = async {
        let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
        stream.write_all(&REQUEST).await?;
        let mut head = [0u8; 8];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head[4..8] == [0, 0, 0, 1])
    };
    matches!(
        tokio::time::timeout(Duration::from_secs(2), exchange).await,
        Ok(Ok(true))
    )
}
