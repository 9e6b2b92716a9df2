//! A TCP proxy in front of a real service that a test can switch off and on: the way to
//! take Valkey "down" in the middle of a test without stopping the shared server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::AbortHandle;

#[derive(Default)]
struct ProxyState {
    down: AtomicBool,
    connections: Mutex<Vec<AbortHandle>>,
}

pub struct TcpProxy {
    address: SocketAddr,
    state: Arc<ProxyState>,
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
        let state = Arc::new(ProxyState::default());
        let upstream = upstream.to_owned();
        let accept_state = state.clone();
        let accept_task = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if accept_state.down.load(Ordering::SeqCst) {
                    drop(inbound); // the service is "down": close at once
                    continue;
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                if let Ok(mut connections) = accept_state.connections.lock() {
                    connections.retain(|handle| !handle.is_finished());
                    connections.push(task.abort_handle());
                }
            }
        });
        Self {
            address,
            state,
            accept_task,
        }
    }

    /// `host:port` to give the service instead of the real address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Down: open connections are cut and new ones closed at once. Up: forward again.
    pub fn set_down(&self, down: bool) {
        self.state.down.store(down, Ordering::SeqCst);
        if down && let Ok(mut connections) = self.state.connections.lock() {
            for handle in connections.drain(..) {
                handle.abort();
            }
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.set_down(true);
        self.accept_task.abort();
    }
}
