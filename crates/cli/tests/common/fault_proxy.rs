//! A fault-injecting TCP proxy for the reliability tests. Each accepted connection draws one
//! fate from a seeded random number generator: most are forwarded as they are, and a given
//! share gets a fault, chosen with equal odds among added latency, a reset part-way through,
//! and a black hole. The proxy records every fault it injected, so a failing test can show
//! them, and the same seed gives the same sequence of fates.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// What the proxy does to one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Forwarded unchanged.
    Pass,
    /// Forwarded, with this delay before each chunk the client sends.
    Latency(Duration),
    /// Forwarded until the client has sent `after_bytes` bytes, then both sides are closed
    /// with a TCP reset. When `deliver_last` is set, the chunk that crossed the threshold
    /// reaches the server first, so a request can take effect while its response is lost.
    Reset {
        after_bytes: usize,
        deliver_last: bool,
    },
    /// Accepted and never forwarded: nothing reaches the server and nothing comes back, until
    /// the client gives up, the proxy's black-hole limit passes (then the proxy closes the
    /// connection) or the proxy stops.
    BlackHole,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Pass => write!(f, "pass"),
            Fault::Latency(delay) => write!(f, "latency {} ms per chunk", delay.as_millis()),
            Fault::Reset {
                after_bytes,
                deliver_last,
            } => write!(
                f,
                "reset after {after_bytes} client bytes ({} the last chunk)",
                if *deliver_last {
                    "delivering"
                } else {
                    "dropping"
                }
            ),
            Fault::BlackHole => write!(f, "black hole"),
        }
    }
}

/// One connection the proxy faulted, and whether the fault took effect (a reset whose
/// threshold the connection never reached did not).
#[derive(Clone, Debug)]
pub struct FaultEvent {
    /// The connection's number at this proxy, from 0.
    pub connection: usize,
    pub fault: Fault,
    pub fired: bool,
}

/// How many connections a proxy accepted and how many got each fault.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub connections: usize,
    pub latency: usize,
    /// Resets that closed a connection; a reset planned beyond a connection's last byte is
    /// not counted.
    pub resets: usize,
    pub black_holes: usize,
}

impl FaultCounts {
    /// Returns the number of connections that a fault affected.
    pub fn faults(&self) -> usize {
        self.latency + self.resets + self.black_holes
    }
}

impl fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connections: {} with latency, {} reset, {} black-holed",
            self.connections, self.latency, self.resets, self.black_holes
        )
    }
}

struct Shared {
    name: String,
    rng: StdRng,
    /// The share of connections that get a fault, from 0.0 to 1.0.
    rate: f64,
    /// How long a black hole holds a connection before closing it; `None` holds it until the
    /// client closes it.
    black_hole_limit: Option<Duration>,
    connections: usize,
    events: Vec<FaultEvent>,
}

/// A running fault-injecting proxy on 127.0.0.1. Dropping it stops it and closes every
/// connection it holds, black holes included.
pub struct FaultProxy {
    pub address: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// Starts a proxy named `name` (for its log lines) in front of `upstream`, which gives a
    /// fault to the share `rate` of its connections, drawn from a generator seeded with `seed`.
    pub async fn start(name: &str, upstream: SocketAddr, seed: u64, rate: f64) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let address = listener.local_addr().expect("fault proxy address");
        let shared = Arc::new(Mutex::new(Shared {
            name: name.to_string(),
            rng: StdRng::seed_from_u64(seed),
            rate,
            black_hole_limit: None,
            connections: 0,
            events: Vec::new(),
        }));
        let task = tokio::spawn(accept_loop(listener, upstream, shared.clone()));
        FaultProxy {
            address,
            shared,
            task,
        }
    }

    /// Sets the share of new connections that get a fault; 0.0 forwards every one.
    pub fn set_rate(&self, rate: f64) {
        lock(&self.shared).rate = rate;
    }

    /// Makes later black holes close their connection after `limit`, so that a client whose
    /// own timeout is longer gets an error sooner.
    pub fn set_black_hole_limit(&self, limit: Duration) {
        lock(&self.shared).black_hole_limit = Some(limit);
    }

    /// Lists the faults injected so far, in the order the connections were accepted.
    pub fn events(&self) -> Vec<FaultEvent> {
        lock(&self.shared).events.clone()
    }

    /// Counts the connections and the faults that took effect.
    pub fn counts(&self) -> FaultCounts {
        let shared = lock(&self.shared);
        let mut counts = FaultCounts {
            connections: shared.connections,
            ..FaultCounts::default()
        };
        for event in shared.events.iter().filter(|e| e.fired) {
            match event.fault {
                Fault::Pass => {}
                Fault::Latency(_) => counts.latency += 1,
                Fault::Reset { .. } => counts.resets += 1,
                Fault::BlackHole => counts.black_holes += 1,
            }
        }
        counts
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every connection task.
        self.task.abort();
    }
}

fn lock(shared: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

/// Draws the fate of the next connection and records it unless it is a plain pass.
fn draw(shared: &Mutex<Shared>) -> (usize, Fault) {
    let mut shared = lock(shared);
    let connection = shared.connections;
    shared.connections += 1;
    let rate = shared.rate;
    let rng = &mut shared.rng;
    let fault = if !rng.gen_bool(rate.clamp(0.0, 1.0)) {
        Fault::Pass
    } else {
        match rng.gen_range(0..3) {
            0 => Fault::Latency(Duration::from_millis(rng.gen_range(50..=500))),
            // A PostgreSQL startup and SCRAM exchange, a Redis AUTH and a few commands, or one
            // HTTP request each send a few hundred bytes, so most thresholds below 600 bytes
            // land in a handshake or in the first requests after it.
            1 => Fault::Reset {
                after_bytes: rng.gen_range(0..600),
                deliver_last: rng.gen_bool(0.5),
            },
            _ => Fault::BlackHole,
        }
    };
    if fault != Fault::Pass {
        // A latency or a black hole takes effect at once; a reset when its threshold is met.
        let fired = !matches!(fault, Fault::Reset { .. });
        shared.events.push(FaultEvent {
            connection,
            fault,
            fired,
        });
        if fired {
            eprintln!(
                "fault proxy `{}`: connection {connection}: {fault}",
                shared.name
            );
        }
    }
    (connection, fault)
}

/// Marks the reset planned for `connection` as done and logs it.
fn record_reset(shared: &Mutex<Shared>, connection: usize) {
    let mut shared = lock(shared);
    let name = shared.name.clone();
    if let Some(event) = shared
        .events
        .iter_mut()
        .find(|e| e.connection == connection)
    {
        event.fired = true;
        eprintln!(
            "fault proxy `{name}`: connection {connection}: {}",
            event.fault
        );
    }
}

async fn accept_loop(listener: TcpListener, upstream: SocketAddr, shared: Arc<Mutex<Shared>>) {
    let mut connections = JoinSet::new();
    while let Ok((inbound, _)) = listener.accept().await {
        while connections.try_join_next().is_some() {}
        let (connection, fault) = draw(&shared);
        connections.spawn(serve(inbound, upstream, connection, fault, shared.clone()));
    }
}

async fn serve(
    mut inbound: TcpStream,
    upstream: SocketAddr,
    connection: usize,
    fault: Fault,
    shared: Arc<Mutex<Shared>>,
) {
    if fault == Fault::BlackHole {
        let limit = lock(&shared).black_hole_limit;
        match limit {
            Some(limit) => {
                let _ = tokio::time::timeout(limit, swallow(inbound)).await;
            }
            None => swallow(inbound).await,
        }
        return;
    }
    let Ok(mut outbound) = TcpStream::connect(upstream).await else {
        return;
    };
    if matches!(fault, Fault::Reset { .. }) {
        // With a zero linger time, closing a socket sends a TCP reset instead of a FIN.
        let _ = inbound.set_zero_linger();
        let _ = outbound.set_zero_linger();
    }
    let was_reset = {
        let (client_read, mut client_write) = inbound.split();
        let (mut server_read, server_write) = outbound.split();
        let requests = forward_requests(client_read, server_write, fault);
        let replies = async {
            let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
            let _ = client_write.shutdown().await;
        };
        tokio::pin!(requests);
        tokio::pin!(replies);
        tokio::select! {
            was_reset = &mut requests => {
                if !was_reset {
                    replies.await;
                }
                was_reset
            }
            () = &mut replies => requests.await,
        }
    };
    if was_reset {
        record_reset(&shared, connection);
    }
    // Dropping both streams closes them; after a reset, with RST.
}

/// Forwards what the client sends to the server, applying `fault`. Returns whether the
/// connection hit its reset threshold, in which case nothing more is forwarded.
async fn forward_requests(
    mut client_read: tokio::net::tcp::ReadHalf<'_>,
    mut server_write: tokio::net::tcp::WriteHalf<'_>,
    fault: Fault,
) -> bool {
    let (reset_after, deliver_last) = match fault {
        Fault::Reset {
            after_bytes,
            deliver_last,
        } => (Some(after_bytes), deliver_last),
        _ => (None, false),
    };
    if reset_after == Some(0) {
        return true;
    }
    let mut sent = 0usize;
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = match client_read.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        if let Fault::Latency(delay) = fault {
            tokio::time::sleep(delay).await;
        }
        sent += read;
        if reset_after.is_some_and(|after| sent >= after) {
            if deliver_last {
                let _ = server_write.write_all(&buffer[..read]).await;
                // Give the server a moment to act on the request before the reset.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            return true;
        }
        if server_write.write_all(&buffer[..read]).await.is_err() {
            break;
        }
    }
    let _ = server_write.shutdown().await;
    false
}

/// Reads and discards what the client sends, without ever answering, until it closes.
async fn swallow(mut inbound: TcpStream) {
    let mut buffer = vec![0u8; 16 * 1024];
    while let Ok(read) = inbound.read(&mut buffer).await {
        if read == 0 {
            break;
        }
    }
}
