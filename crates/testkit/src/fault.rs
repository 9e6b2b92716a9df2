//! Peers that fail on purpose, for "dependency is down" tests: a port that refuses every
//! connection, and a black hole that accepts connections and never answers (what a network
//! partition or a hung server looks like: the slow failure that timeouts exist for).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

/// A port on 127.0.0.1 that refuses connections for as long as this value lives. It is bound
/// (so no other test can take it in the meantime) but not listening.
pub struct ClosedPort {
    _socket: TcpSocket,
    port: u16,
}

impl ClosedPort {
    pub fn new() -> Self {
        let bound = TcpSocket::new_v4().and_then(|socket| {
            socket.bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
            let port = socket.local_addr()?.port();
            Ok((socket, port))
        });
        let (socket, port) = bound.expect("the OS has no free port on 127.0.0.1");
        Self {
            _socket: socket,
            port,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:PORT`
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// Accepts every connection on 127.0.0.1 and never reads or answers; stops when dropped.
pub struct BlackHole {
    address: SocketAddr,
    accept: JoinHandle<()>,
}

impl BlackHole {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the black hole");
        let address = listener.local_addr().expect("black hole address");
        let accept = tokio::spawn(async move {
            // Held, never read: the peer's requests wait for an answer that never comes.
            let mut held: Vec<TcpStream> = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                held.push(stream);
            }
        });
        Self { address, accept }
    }

    /// `127.0.0.1:PORT`
    pub fn address(&self) -> SocketAddr {
        self.address
    }
}

impl Drop for BlackHole {
    fn drop(&mut self) {
        self.accept.abort();
    }
}
