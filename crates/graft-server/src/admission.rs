//! Admission control: a server-wide limit on GraphQL requests in flight that adapts to
//! latency, with a short bounded queue; when the queue is full, the request gets a 503 with
//! `Retry-After` at once, never after the client's own timeout.
//!
//! The limit follows TCP Vegas as Netflix's concurrency-limits applies it to servers: the
//! lowest recent latency is what a request costs without queueing, so
//! `limit × (1 − lowest / smoothed latency)` estimates how many requests are queueing inside
//! graft (for pooled connections or CPU). While that is small the limit grows, when it passes
//! `6·log10(limit)` it shrinks. Requests beyond the limit wait in a queue as long as the current
//! limit, for at most `queue_timeout`; beyond that they are refused. Samples taken while the
//! server is far below its limit are ignored, so an idle server does not grow its limit without
//! bound. See `docs/adr/0007-bounded-cost-and-admission.md`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Settings of [`Admission`], with defaults for a subgraph in front of a pool of a few
/// database connections.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionConfig {
    /// Whether requests are admitted by the limit at all (default true).
    pub enabled: bool,
    /// The limit at start (default 16).
    pub initial_limit: usize,
    /// The limit never goes below this (default 2).
    pub min_limit: usize,
    /// Nor above this (default 512).
    pub max_limit: usize,
    /// Most requests waiting for a slot; 0 (the default) means as many as the current limit.
    pub max_queue: usize,
    /// Longest a request waits for a slot (default 50 ms).
    pub queue_timeout: Duration,
}

impl Default for AdmissionConfig {
    fn default() -> AdmissionConfig {
        AdmissionConfig {
            enabled: true,
            initial_limit: 16,
            min_limit: 2,
            max_limit: 512,
            max_queue: 0,
            queue_timeout: Duration::from_millis(50),
        }
    }
}

/// Why a request was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// The queue was full.
    QueueFull,
    /// The request waited `queue_timeout` without getting a slot.
    QueueTimeout,
}

/// The server's admission state, shared by every request.
#[derive(Debug)]
pub struct Admission {
    config: AdmissionConfig,
    state: Mutex<State>,
    /// Wakes waiting requests when a slot frees.
    freed: Notify,
}

#[derive(Debug)]
struct State {
    limit: f64,
    in_flight: usize,
    waiting: usize,
    /// Latency, in seconds: smoothed over about the last 20 samples.
    smoothed_rtt: f64,
    /// The lowest latency seen: what a request costs without queueing. It creeps up by
    /// [`LOWEST_DRIFT`] per sample, so that it follows a lasting change (a slower database)
    /// within minutes, while the low samples of normal variation keep it down.
    lowest_rtt: f64,
    /// Since when requests have been waiting without the queue emptying.
    queue_since: Option<Instant>,
    /// Until when the queue counts as standing although it emptied: [`STANDING`] after the
    /// last refusal. Under overload the queue empties now and then for an instant; without
    /// this, each time it did the next requests could wait the whole `queue_timeout`.
    shedding_until: Option<Instant>,
    /// Until when arrivals count as outpacing the slots: [`STANDING`] after the queue was
    /// last found full. A closed loop of clients (a gateway's connection pool) never fills a
    /// queue as long as the limit; an open-loop overload fills it again and again.
    overloaded_until: Option<Instant>,
}

impl State {
    /// Whether the queue was found full within the last [`STANDING`]. The clock is read only
    /// when it was ever found full.
    fn overloaded(&self, now: impl FnOnce() -> Instant) -> bool {
        self.overloaded_until.is_some_and(|until| now() < until)
    }
}

/// How long the queue may stay non-empty before it counts as standing.
const STANDING: Duration = Duration::from_millis(100);

/// How much the lowest latency rises per sample: 1% per 1,000 samples.
const LOWEST_DRIFT: f64 = 1e-5;

/// A slot: the request holds it until it is dropped, which records its latency.
#[derive(Debug)]
pub struct Permit {
    admission: Option<Arc<Admission>>,
    started: Instant,
}

impl Drop for Permit {
    fn drop(&mut self) {
        if let Some(admission) = self.admission.take() {
            admission.release(self.started.elapsed());
        }
    }
}

impl Admission {
    /// Admission with `config`.
    pub fn new(config: AdmissionConfig) -> Arc<Admission> {
        let min = config.min_limit.max(1);
        let max = config.max_limit.max(min);
        let config = AdmissionConfig {
            min_limit: min,
            max_limit: max,
            initial_limit: config.initial_limit.clamp(min, max),
            ..config
        };
        Arc::new(Admission {
            state: Mutex::new(State {
                limit: config.initial_limit as f64,
                in_flight: 0,
                waiting: 0,
                smoothed_rtt: 0.0,
                lowest_rtt: f64::INFINITY,
                queue_since: None,
                shedding_until: None,
                overloaded_until: None,
            }),
            config,
            freed: Notify::new(),
        })
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.state.lock().expect("admission lock").limit as usize
    }

    /// Requests in flight now.
    pub fn in_flight(&self) -> usize {
        self.state.lock().expect("admission lock").in_flight
    }

    /// Waits for a slot: at once when under the limit, in the queue while it has room, never
    /// longer than `queue_timeout`.
    pub async fn admit(self: &Arc<Self>) -> Result<Permit, Rejected> {
        if !self.config.enabled {
            return Ok(Permit {
                admission: None,
                started: Instant::now(),
            });
        }
        let wait = match self.try_take_or_queue()? {
            None => return Ok(self.permit()),
            Some(wait) => wait,
        };
        let deadline = tokio::time::Instant::now() + wait;
        let admitted = loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking, so a slot freed in between is not missed.
            freed.as_mut().enable();
            if self.try_take() {
                break true;
            }
            if tokio::time::timeout_at(deadline, freed).await.is_err() {
                break self.try_take();
            }
        };
        let mut state = self.state.lock().expect("admission lock");
        state.waiting -= 1;
        if state.waiting == 0 {
            state.queue_since = None;
        }
        if admitted {
            drop(state);
            Ok(self.permit())
        } else {
            state.shedding_until = Some(Instant::now() + STANDING);
            Err(Rejected::QueueTimeout)
        }
    }

    fn permit(self: &Arc<Self>) -> Permit {
        Permit {
            admission: Some(Arc::clone(self)),
            started: Instant::now(),
        }
    }

    /// Takes a slot if one is free (`None`), or joins the queue if it has room, with how long
    /// to wait there, or is refused.
    ///
    /// A queue that has not emptied for [`STANDING`] is not absorbing a burst but holding
    /// back overload (CoDel's standing queue): a request then waits at most twice the usual
    /// latency, so that those admitted are not answered late. As CoDel stays in its dropping
    /// state for an interval, so does this after any refusal. Within [`STANDING`] of finding
    /// the queue full (arrivals outpace the slots: open-loop overload, not a gateway's closed
    /// loop), a request waits at most the lowest latency seen, what a request costs unqueued.
    fn try_take_or_queue(&self) -> Result<Option<Duration>, Rejected> {
        let mut state = self.state.lock().expect("admission lock");
        if state.in_flight < self.admitting(&state) {
            state.in_flight += 1;
            return Ok(None);
        }
        let now = Instant::now();
        let room = match self.config.max_queue {
            0 => state.limit as usize,
            n => n,
        };
        if state.waiting >= room {
            state.shedding_until = Some(now + STANDING);
            state.overloaded_until = Some(now + STANDING);
            return Err(Rejected::QueueFull);
        }
        let since = *state.queue_since.get_or_insert(now);
        state.waiting += 1;
        let shedding = state.shedding_until.is_some_and(|until| now < until);
        let wait = if state.overloaded(|| now) && state.lowest_rtt.is_finite() {
            // Most arrivals are refused anyway: those admitted should be answered about as
            // fast as an unqueued request, so a newcomer waits at most what one costs.
            let unqueued = Duration::from_secs_f64(state.lowest_rtt);
            unqueued.clamp(Duration::from_millis(1), self.config.queue_timeout)
        } else if shedding || now.duration_since(since) > STANDING {
            let usual = Duration::from_secs_f64(2.0 * state.smoothed_rtt);
            usual.clamp(Duration::from_millis(1), self.config.queue_timeout)
        } else {
            self.config.queue_timeout
        };
        Ok(Some(wait))
    }

    /// Takes a slot if one is free.
    fn try_take(&self) -> bool {
        let mut state = self.state.lock().expect("admission lock");
        if state.in_flight < self.admitting(&state) {
            state.in_flight += 1;
            return true;
        }
        false
    }

    /// How many requests may be in flight now: the limit, or half of it (not under
    /// `min_limit`) while overloaded. Most arrivals are refused then anyway, and the fewer in
    /// flight, the sooner each is answered: on a machine whose cores graft shares with its
    /// database, a few requests in flight already give most of the throughput.
    fn admitting(&self, state: &State) -> usize {
        let limit = state.limit as usize;
        if state.overloaded(Instant::now) {
            (limit / 2).max(self.config.min_limit)
        } else {
            limit
        }
    }

    /// Frees a slot and adapts the limit to the request's latency; while overloaded, the limit
    /// may only shrink (it would otherwise grow back to where half of it queues as much as the
    /// whole did).
    fn release(&self, latency: Duration) {
        let mut state = self.state.lock().expect("admission lock");
        let in_flight = state.in_flight;
        state.in_flight -= 1;
        let rtt = latency.as_secs_f64().max(1e-6);
        state.smoothed_rtt = if state.smoothed_rtt == 0.0 {
            rtt
        } else {
            state.smoothed_rtt + (rtt - state.smoothed_rtt) / 20.0
        };
        state.lowest_rtt = (state.lowest_rtt * (1.0 + LOWEST_DRIFT)).min(rtt);
        // A server far below its limit says nothing about the limit.
        if (in_flight as f64) * 2.0 >= state.limit {
            let limit = state.limit;
            let step = limit.log10().max(1.0);
            let queueing = limit * (1.0 - state.lowest_rtt / state.smoothed_rtt);
            let next = if queueing <= step {
                limit + 6.0 * step
            } else if queueing < 3.0 * step {
                limit + step
            } else if queueing > 6.0 * step {
                limit - step
            } else {
                limit
            };
            let next = if state.overloaded(Instant::now) {
                next.min(limit)
            } else {
                next
            };
            state.limit = next.clamp(self.config.min_limit as f64, self.config.max_limit as f64);
        }
        let wake = self
            .admitting(&state)
            .saturating_sub(state.in_flight)
            .min(state.waiting);
        drop(state);
        for _ in 0..wake {
            self.freed.notify_one();
        }
    }
}

#[cfg(test)]
impl Admission {
    /// One sample with nothing else in flight.
    fn release_for_test(&self, latency: Duration) {
        self.state.lock().unwrap().in_flight = 1;
        self.release(latency);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(limit: usize, queue: usize) -> AdmissionConfig {
        AdmissionConfig {
            initial_limit: limit,
            min_limit: 1,
            max_limit: limit,
            max_queue: queue,
            queue_timeout: Duration::from_millis(100),
            ..AdmissionConfig::default()
        }
    }

    #[tokio::test]
    async fn beyond_the_limit_requests_queue_then_are_refused_at_once() {
        let admission = Admission::new(config(2, 1));
        let a = admission.admit().await.expect("under the limit");
        let _b = admission.admit().await.expect("under the limit");
        let waiting = tokio::spawn({
            let admission = Arc::clone(&admission);
            async move { admission.admit().await.map(drop) }
        });
        tokio::task::yield_now().await;
        let started = Instant::now();
        assert_eq!(admission.admit().await.unwrap_err(), Rejected::QueueFull);
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "refused at once"
        );
        drop(a);
        assert_eq!(
            waiting.await.unwrap(),
            Ok(()),
            "the queued request got the freed slot"
        );
    }

    #[tokio::test]
    async fn a_queued_request_gives_up_after_the_queue_timeout() {
        let admission = Admission::new(config(1, 4));
        let _held = admission.admit().await.expect("the slot");
        let started = Instant::now();
        assert_eq!(admission.admit().await.unwrap_err(), Rejected::QueueTimeout);
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(admission.state.lock().unwrap().waiting, 0);
    }

    /// A limit of 1 with room for `queue` waiting, a queue timeout of 500 ms, and a usual
    /// latency of 2 ms.
    fn usually_2_ms(queue: usize) -> Arc<Admission> {
        let admission = Admission::new(AdmissionConfig {
            queue_timeout: Duration::from_millis(500),
            ..config(1, queue)
        });
        admission.release_for_test(Duration::from_millis(2));
        admission
    }

    /// A request admitted in a task of its own; its outcome.
    fn admit_in_task(admission: &Arc<Admission>) -> tokio::task::JoinHandle<Result<(), Rejected>> {
        let admission = Arc::clone(admission);
        tokio::spawn(async move { admission.admit().await.map(drop) })
    }

    /// A newcomer times out after about twice the usual 2 ms, far from the 500 ms timeout.
    async fn assert_newcomer_waits_about_the_usual_latency(admission: &Arc<Admission>) {
        let started = Instant::now();
        assert_eq!(admission.admit().await.unwrap_err(), Rejected::QueueTimeout);
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_standing_queue_keeps_newcomers_only_for_about_the_usual_latency() {
        let admission = usually_2_ms(8);
        let _held = admission.admit().await.expect("the slot");
        let first = admit_in_task(&admission);
        tokio::time::sleep(STANDING + Duration::from_millis(50)).await;
        // The queue has not emptied for longer than STANDING.
        assert_newcomer_waits_about_the_usual_latency(&admission).await;
        assert_eq!(first.await.unwrap(), Err(Rejected::QueueTimeout));
    }

    #[tokio::test]
    async fn after_a_refusal_newcomers_wait_only_about_the_usual_latency_even_if_the_queue_emptied()
    {
        let admission = usually_2_ms(1);
        let held = admission.admit().await.expect("the slot");
        let queued = admit_in_task(&admission);
        tokio::task::yield_now().await;
        assert_eq!(admission.admit().await.unwrap_err(), Rejected::QueueFull);
        // The queue empties: its request gets the slot.
        drop(held);
        assert_eq!(queued.await.unwrap(), Ok(()));
        assert_eq!(admission.state.lock().unwrap().waiting, 0);
        // Still within STANDING of the refusal.
        let _held = admission.admit().await.expect("the slot");
        assert_newcomer_waits_about_the_usual_latency(&admission).await;
    }

    #[tokio::test]
    async fn once_the_queue_was_full_newcomers_wait_only_about_an_unqueued_request() {
        let admission = Admission::new(AdmissionConfig {
            queue_timeout: Duration::from_millis(500),
            ..config(1, 1)
        });
        // Unqueued, a request takes 2 ms; lately they took 100 ms.
        admission.release_for_test(Duration::from_millis(2));
        for _ in 0..100 {
            admission.release_for_test(Duration::from_millis(100));
        }
        let _held = admission.admit().await.expect("the slot");
        // Standing only (a refusal by timeout): twice the usual latency, about 200 ms.
        admission.state.lock().unwrap().shedding_until = Some(Instant::now() + STANDING);
        let started = Instant::now();
        assert_eq!(admission.admit().await.unwrap_err(), Rejected::QueueTimeout);
        assert!(
            started.elapsed() >= Duration::from_millis(100),
            "{:?}",
            started.elapsed()
        );
        // The queue found full: about 2 ms.
        let queued = admit_in_task(&admission);
        tokio::task::yield_now().await;
        assert_eq!(admission.admit().await.unwrap_err(), Rejected::QueueFull);
        let overloaded = admission.state.lock().unwrap().overloaded_until;
        assert!(overloaded.is_some_and(|until| until > Instant::now()));
        assert_eq!(queued.await.unwrap(), Err(Rejected::QueueTimeout));
        // (The queued request waited long enough for that to pass: found full again.)
        admission.state.lock().unwrap().overloaded_until = Some(Instant::now() + STANDING);
        let started = Instant::now();
        assert_eq!(admission.admit().await.unwrap_err(), Rejected::QueueTimeout);
        assert!(
            started.elapsed() < Duration::from_millis(50),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn while_overloaded_half_the_limit_is_admitted_and_the_limit_does_not_grow() {
        let admission = Admission::new(AdmissionConfig {
            max_limit: 64,
            ..config(4, 4)
        });
        let _a = admission.admit().await.expect("under the limit");
        let _b = admission.admit().await.expect("under the limit");
        // (Longer than the queue timeout, which would otherwise see it end.)
        admission.state.lock().unwrap().overloaded_until = Some(Instant::now() + 10 * STANDING);
        assert_eq!(admission.admit().await.unwrap_err(), Rejected::QueueTimeout);
        // Fast answers while overloaded: the limit stays.
        for _ in 0..50 {
            admission.state.lock().unwrap().in_flight = 2;
            admission.release(Duration::from_millis(2));
        }
        assert_eq!(admission.limit(), 4);
        admission.state.lock().unwrap().overloaded_until = None;
        admission.state.lock().unwrap().in_flight = 2;
        let _c = admission.admit().await.expect("the whole limit again");
    }

    #[test]
    fn the_limit_grows_while_latency_holds_and_shrinks_when_requests_queue() {
        let admission = Admission::new(AdmissionConfig {
            initial_limit: 16,
            min_limit: 2,
            max_limit: 256,
            ..AdmissionConfig::default()
        });
        // A server that serves 8 requests at once in 2 ms: more in flight only queue.
        let busy = |n: usize| {
            for _ in 0..n {
                let limit = admission.limit();
                admission.state.lock().unwrap().in_flight = limit;
                let latency = 2.0 * (limit as f64 / 8.0).max(1.0);
                admission.release(Duration::from_secs_f64(latency / 1e3));
            }
        };
        admission.release_for_test(Duration::from_millis(2));
        busy(2_000);
        let settled = admission.limit();
        assert!((8..=16).contains(&settled), "{settled}");
        // Fast answers while busy: the limit grows.
        for _ in 0..50 {
            let limit = admission.limit();
            admission.state.lock().unwrap().in_flight = limit;
            admission.release(Duration::from_millis(2));
        }
        assert!(admission.limit() > settled + 20, "{}", admission.limit());
    }
}
