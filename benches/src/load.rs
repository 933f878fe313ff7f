//! A lean load generator for the overload run: a fixed set of HTTP/1.1 keep-alive
//! connections (hyper's client connection, no pool, no redirects, no per-request URL parsing)
//! driven by one thread of its own, so that the load costs the two cores it shares with graft
//! and the database as little as it can.
//!
//! Open loop follows wrk2: request `i` is due at `start + i / rate` whatever became of the
//! earlier ones, and its latency counts from when it was due, so a request that waited on the
//! client side for a free connection is not measured as if it had been sent on time
//! (coordinated omission). Closed loop is `connections` clients sending back to back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Uri, header};
use hyper_util::rt::TokioIo;

/// Where and what to send: one `POST` with a JSON body, the same every time.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `host:port`: where to connect, and the `Host` header.
    authority: String,
    path: String,
    body: Bytes,
}

impl Target {
    /// `body` posted to `url` (`http://host:port/path`).
    pub(crate) fn new(url: &str, body: Bytes) -> anyhow::Result<Target> {
        let uri: Uri = url.parse().with_context(|| format!("the URL {url}"))?;
        let authority = uri
            .authority()
            .with_context(|| format!("no host in {url}"))?
            .to_string();
        Ok(Target {
            authority,
            path: uri.path().to_owned(),
            body,
        })
    }

    fn request(&self) -> Request<Full<Bytes>> {
        Request::post(self.path.as_str())
            .header(header::HOST, self.authority.as_str())
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(self.body.clone()))
            .expect("a request of a valid URI and static headers")
    }
}

/// What a run gave: answers by kind and the answered requests' latencies.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// 200 answers, read to the end.
    pub(crate) ok: u64,
    /// 503 answers.
    pub(crate) shed: u64,
    /// Anything else: other statuses, connection errors.
    pub(crate) failed: u64,
    /// Connections opened again after the server closed one.
    pub(crate) reconnects: u64,
    /// Latency of every 200, unsorted.
    pub(crate) latencies: Vec<Duration>,
    /// For every request sent, how long after it was due the generator sent it (open loop;
    /// zero in a closed loop): the generator's own delay, part of every latency above.
    pub(crate) lags: Vec<Duration>,
    /// How long the run took, from its start to its last answer.
    pub(crate) elapsed: Duration,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.ok += other.ok;
        self.shed += other.shed;
        self.failed += other.failed;
        self.reconnects += other.reconnects;
        self.latencies.extend(other.latencies);
        self.lags.extend(other.lags);
    }
}

/// How requests are offered.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Pace {
    /// Each connection sends its next request when the last one is answered.
    Closed,
    /// Requests due at this many per second, spread over the connections.
    Open(f64),
}

/// Runs `connections` connections against `target` for `time`, on a thread of its own with a
/// single-threaded runtime.
pub(crate) async fn run(
    target: &Target,
    connections: usize,
    pace: Pace,
    time: Duration,
) -> anyhow::Result<Outcome> {
    let target = target.clone();
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("graft-bench-load".into())
        .spawn(move || {
            nice_from_env();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let outcome = match runtime {
                Ok(runtime) => runtime.block_on(drive(target, connections, pace, time)),
                Err(error) => Err(error.into()),
            };
            let _ = sender.send(outcome);
        })?;
    receiver.await.context("the load thread ended early")?
}

/// With `GRAFT_BENCH_LOAD_NICE=<n>` (e.g. `-10`), gives the calling thread (the generator's)
/// that niceness (`renice`). On a machine whose few cores it shares with graft and the
/// database, a generator that waits for a core sends late, and a late request's latency counts
/// from when it was due; a higher priority makes it punctual, and takes its CPU from graft
/// first, as the load would if it came from a machine of its own. Not by default: on two cores
/// it moves goodput as much as latency. What delay is left is reported either way (`lags`).
/// Without the right (not root), the thread keeps its priority.
fn nice_from_env() {
    let Some(nice) = std::env::var("GRAFT_BENCH_LOAD_NICE").ok() else {
        return;
    };
    let Ok(path) = std::fs::read_link("/proc/thread-self") else {
        return;
    };
    let Some(tid) = path.file_name().and_then(|name| name.to_str()) else {
        return;
    };
    let _ = std::process::Command::new("renice")
        .args(["-n", nice.as_str(), "-p", tid])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

async fn drive(
    target: Target,
    connections: usize,
    pace: Pace,
    time: Duration,
) -> anyhow::Result<Outcome> {
    let target = Arc::new(target);
    let mut opened = Vec::with_capacity(connections);
    for _ in 0..connections {
        opened.push(connect(&target).await?);
    }
    let started = Instant::now();
    let deadline = started + time;
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = opened
        .into_iter()
        .map(|connection| {
            let (target, next) = (target.clone(), next.clone());
            tokio::spawn(worker(target, connection, pace, started, deadline, next))
        })
        .collect();
    let mut outcome = Outcome::default();
    for worker in workers {
        outcome.merge(worker.await?);
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

async fn connect(target: &Target) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect(&target.authority)
        .await
        .with_context(|| format!("connecting to {}", target.authority))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn worker(
    target: Arc<Target>,
    mut connection: SendRequest<Full<Bytes>>,
    pace: Pace,
    started: Instant,
    deadline: Instant,
    next: Arc<AtomicU64>,
) -> Outcome {
    let mut outcome = Outcome::default();
    let total = match pace {
        Pace::Open(rate) => (rate * deadline.duration_since(started).as_secs_f64()) as u64,
        Pace::Closed => u64::MAX,
    };
    loop {
        let due = match pace {
            Pace::Closed => {
                let now = Instant::now();
                if now >= deadline {
                    break;
                }
                now
            }
            Pace::Open(rate) => {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                due
            }
        };
        if connection.ready().await.is_err() {
            match connect(&target).await {
                Ok(fresh) => {
                    connection = fresh;
                    outcome.reconnects += 1;
                }
                Err(_) => {
                    outcome.failed += 1;
                    continue;
                }
            }
        }
        outcome.lags.push(due.elapsed());
        match send(&mut connection, &target).await {
            Ok(200) => {
                outcome.ok += 1;
                outcome.latencies.push(due.elapsed());
            }
            Ok(503) => outcome.shed += 1,
            Ok(_) | Err(_) => outcome.failed += 1,
        }
    }
    outcome
}

/// Keep-alive connections to one target shared by closed-loop clients: a request takes an
/// idle connection, or opens one, and puts it back once answered.
#[derive(Debug)]
pub(crate) struct Connections {
    target: Target,
    idle: std::sync::Mutex<Vec<SendRequest<Full<Bytes>>>>,
}

impl Connections {
    /// No connection yet: each is opened by the first request that finds none idle.
    pub(crate) fn new(target: Target) -> Connections {
        Connections {
            target,
            idle: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Posts the target's body and reads the answer to its end; its status.
    pub(crate) async fn post(&self) -> anyhow::Result<u16> {
        let idle = self.idle.lock().expect("idle connections").pop();
        let mut connection = match idle {
            Some(mut connection) => match connection.ready().await {
                Ok(()) => connection,
                // graft closed it (its keep-alive timeout): open another.
                Err(_) => connect(&self.target).await?,
            },
            None => connect(&self.target).await?,
        };
        let status = send(&mut connection, &self.target).await?;
        self.idle.lock().expect("idle connections").push(connection);
        Ok(status)
    }
}

/// Sends the request and reads the answer to its end; its status.
async fn send(connection: &mut SendRequest<Full<Bytes>>, target: &Target) -> anyhow::Result<u16> {
    let response = connection.send_request(target.request()).await?;
    let status = response.status().as_u16();
    let mut body = response.into_body();
    while let Some(frame) = body.frame().await {
        std::hint::black_box(frame?);
    }
    Ok(status)
}
