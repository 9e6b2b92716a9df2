//! A TCP proxy in front of a real service that a test can switch between four states: up
//! (forwarding), slow (forwarding, each answer held back a while: an overloaded server), cut
//! (every connection closed at once: a crashed or stopped service) and black hole
//! (connections accepted and held, nothing forwarded: a network partition or a hung server,
//! the slow failure that timeouts exist for). The way to take Valkey or Postgres
//! "down" in the middle of a test without stopping the shared server.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    Up,
    /// Forwards, but holds each chunk of the answer back this long before passing it on.
    Slow(Duration),
    Cut,
    BlackHole,
}

pub struct TcpProxy {
    address: SocketAddr,
    mode: watch::Sender<ProxyMode>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    /// Listens on a free port of 127.0.0.1 and forwards every connection to `upstream`
    /// (`host:port`).
    pub async fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("cannot bind the proxy");
        let address = listener.local_addr().expect("proxy address");
        let (mode, _) = watch::channel(ProxyMode::Up);
        let upstream = upstream.to_owned();
        let modes = mode.clone();
        let accept_task = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                tokio::spawn(forward(inbound, upstream.clone(), modes.subscribe()));
            }
        });
        Self {
            address,
            mode,
            accept_task,
        }
    }

    /// `host:port` to give the service instead of the real address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Applies to open connections as well as new ones.
    pub fn set_mode(&self, mode: ProxyMode) {
        self.mode.send_replace(mode);
    }

    /// Down: cut (open connections closed, new ones closed at once). Up: forward again.
    pub fn set_down(&self, down: bool) {
        self.set_mode(if down { ProxyMode::Cut } else { ProxyMode::Up });
    }
}

/// One connection: held while the proxy is a black hole, closed when it is cut, forwarded
/// while it is up or slow (at the pace of the mode it was opened in). A connection that was
/// cut or held is closed when the state changes again.
async fn forward(mut inbound: TcpStream, upstream: String, mut mode: watch::Receiver<ProxyMode>) {
    let delay = loop {
        let current = *mode.borrow_and_update();
        match current {
            ProxyMode::Cut => return,
            ProxyMode::BlackHole => {
                if mode.changed().await.is_err() {
                    return;
                }
            }
            ProxyMode::Up => break Duration::ZERO,
            ProxyMode::Slow(delay) => break delay,
        }
    };
    let Ok(mut outbound) = TcpStream::connect(&upstream).await else {
        return;
    };
    let black_hole = tokio::select! {
        _ = relay(&mut inbound, &mut outbound, delay) => false,
        left_up = mode.wait_for(|mode| matches!(mode, ProxyMode::Cut | ProxyMode::BlackHole)) => {
            left_up.is_ok_and(|mode| *mode == ProxyMode::BlackHole)
        }
    };
    if black_hole {
        // Hold both ends, silent, until the partition is over.
        let _ = mode.wait_for(|mode| *mode != ProxyMode::BlackHole).await;
    }
}

/// Both directions until both ends are done; what comes back from upstream waits `delay`.
async fn relay(inbound: &mut TcpStream, outbound: &mut TcpStream, delay: Duration) {
    if delay.is_zero() {
        let _ = tokio::io::copy_bidirectional(inbound, outbound).await;
        return;
    }
    let (mut client_reads, mut client_writes) = inbound.split();
    let (mut upstream_reads, mut upstream_writes) = outbound.split();
    let requests = async {
        let _ = tokio::io::copy(&mut client_reads, &mut upstream_writes).await;
        let _ = upstream_writes.shutdown().await;
    };
    let answers = async {
        let mut chunk = vec![0; 16 * 1024];
        while let Ok(read @ 1..) = upstream_reads.read(&mut chunk).await {
            tokio::time::sleep(delay).await;
            if client_writes.write_all(&chunk[..read]).await.is_err() {
                break;
            }
        }
        let _ = client_writes.shutdown().await;
    };
    tokio::join!(requests, answers);
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.set_mode(ProxyMode::Cut);
        self.accept_task.abort();
    }
}
