//! [`Pacer`]: at most N requests per sliding window per tenant, shared by every concurrent
//! request of the tenant, so the collector never causes Graph's 429s itself.
//!
//! Hand-written because a GCRA limiter (governor) enforces an average rate with a burst, which
//! can exceed "5 in any 10 s" at a window edge; Graph's limit for identity reports is a plain
//! count per sliding window, so we keep the send times of the last N requests.
//!
//! When several requests wait, a free slot goes to the one whose query has the most pages
//! left ([`Pacer::acquire_ranked`]): the tenant's queries then end together, instead of one of
//! them reading its last pages alone, one page latency each, while the budget has room.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::{Mutex, Notify};
use tokio::time::Instant;

#[derive(Debug)]
pub struct Pacer {
    limit: usize,
    window: Duration,
    state: Mutex<State>,
    /// The ranks of the requests waiting in [`Pacer::acquire_ranked`], by ticket.
    waiting: std::sync::Mutex<Vec<(u64, Arc<AtomicU32>)>>,
    next_ticket: AtomicU64,
    /// Told when a waiting request takes a slot or leaves.
    changed: Notify,
}

/// How long an outranked request waits at most before it looks at a free slot again (the
/// request that outranks it is normally told first; this only bounds a missed wake-up).
const OUTRANKED_RECHECK: Duration = Duration::from_millis(20);

/// A request's place among the waiting ones; leaves (and wakes the others) when dropped,
/// whether it got its slot or its future was dropped while it waited.
struct Waiting<'a> {
    pacer: &'a Pacer,
    ticket: u64,
    rank: Arc<AtomicU32>,
}

impl<'a> Waiting<'a> {
    fn enter(pacer: &'a Pacer, rank: Arc<AtomicU32>) -> Self {
        let ticket = pacer.next_ticket.fetch_add(1, Ordering::Relaxed);
        pacer.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((ticket, rank.clone()));
        Waiting { pacer, ticket, rank }
    }

    /// Another waiting request has a higher rank.
    fn outranked(&self) -> bool {
        let mine = self.rank.load(Ordering::Relaxed);
        let waiting = self.pacer.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        waiting.iter().any(|(ticket, rank)| *ticket != self.ticket && rank.load(Ordering::Relaxed) > mine)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.pacer.waiting.lock().unwrap_or_else(std::sync::PoisonError::into_inner).retain(|(t, _)| *t != self.ticket);
        self.pacer.changed.notify_waiters();
    }
}

#[derive(Debug, Default)]
struct State {
    sent: VecDeque<Instant>,
    paused_until: Option<Instant>,
}

/// Slack added to the window, as a share of it: 2.5 % (250 ms of Graph's 10 s window), so the
/// pace is 97.6 % of the limit. The server counts arrivals, we count departures: a request
/// held up in transit (a slow connection, a busy machine) or by a clock that runs a little
/// differently must still not make a sixth arrival within the server's 10 s. A retried
/// request takes a slot of its own, so a request the server counted and then failed is
/// never sent again without one.
const MARGIN_SHARE: f64 = 0.025;

/// The margin's floor: transit and scheduling delays do not shrink with the window, so a short
/// window (tests, a tighter limit) still gets 100 ms. Graph's 10 s window is not affected.
const MARGIN_FLOOR: Duration = Duration::from_millis(100);

/// The window the pacer keeps: Graph's plus the margin.
fn padded(window: Duration) -> Duration {
    window + window.mul_f64(MARGIN_SHARE).max(MARGIN_FLOOR)
}

impl Pacer {
    pub fn new(limit: u32, window: Duration) -> Self {
        Pacer {
            limit: limit.max(1) as usize,
            window: padded(window),
            state: Mutex::new(State::default()),
            waiting: std::sync::Mutex::new(Vec::new()),
            next_ticket: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    /// The average time between requests of a pacer of `limit` per `window`, margin included.
    pub fn interval(limit: u32, window: Duration) -> Duration {
        padded(window) / limit.max(1)
    }

    /// Waits until one more request fits in the window, and records it.
    pub async fn acquire(&self) {
        self.acquire_ranked(&Arc::new(AtomicU32::new(0))).await
    }

    /// [`Self::acquire`] for a request whose query has `rank` still to do (its pages left, in
    /// hundredths; it may change while the request waits): when a slot frees, it goes to the
    /// waiting request of the highest rank. The queries of a tenant then end together instead
    /// of one reading its last pages alone at Graph's latency (longest remaining first); equal
    /// ranks take slots in the order they wake.
    pub async fn acquire_ranked(&self, rank: &Arc<AtomicU32>) {
        let waiting = Waiting::enter(self, rank.clone());
        loop {
            // Before looking, so that a change made after the look still wakes us.
            let changed = self.changed.notified();
            let wake = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                match s.paused_until {
                    Some(until) if until > now => until,
                    _ => {
                        while s.sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                            s.sent.pop_front();
                        }
                        if s.sent.len() < self.limit && !waiting.outranked() {
                            s.sent.push_back(now);
                            return;
                        }
                        if s.sent.len() < self.limit {
                            // A request of a higher rank takes this slot; look again once it
                            // has (or has left), at the latest after OUTRANKED_RECHECK.
                            now + OUTRANKED_RECHECK
                        } else {
                            *s.sent.front().expect("full window") + self.window
                        }
                    }
                }
            };
            tokio::select! {
                () = tokio::time::sleep_until(wake) => {}
                () = changed => {}
            }
        }
    }

    /// Holds every request of the tenant for `delay` (a `Retry-After` from Graph).
    pub async fn pause(&self, delay: Duration) {
        let mut s = self.state.lock().await;
        let until = Instant::now() + delay;
        if s.paused_until.is_none_or(|t| t < until) {
            s.paused_until = Some(until);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn never_more_than_the_limit_in_any_window() {
        let pacer = std::sync::Arc::new(Pacer::new(5, Duration::from_secs(10)));
        let start = Instant::now();
        let mut handles = Vec::new();
        for _ in 0..12 {
            let p = pacer.clone();
            handles.push(tokio::spawn(async move {
                p.acquire().await;
                Instant::now()
            }));
        }
        let mut times = Vec::new();
        for h in handles {
            times.push(h.await.unwrap());
        }
        times.sort();
        for (i, t) in times.iter().enumerate() {
            let in_window = times.iter().filter(|u| **u >= *t && u.duration_since(*t) < Duration::from_secs(10)).count();
            assert!(in_window <= 5, "request {i}: {in_window} in one window");
        }
        // 12 requests at 5 per 10 s: the last starts after two full windows (and the margin).
        assert!(times[11].duration_since(start) >= Duration::from_millis(20_500));
        assert!(times[11].duration_since(start) < Duration::from_secs(21));
    }

    #[tokio::test(start_paused = true)]
    async fn a_free_slot_goes_to_the_waiting_request_with_the_most_left() {
        let pacer = Arc::new(Pacer::new(1, Duration::from_secs(1)));
        pacer.acquire().await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut handles = Vec::new();
        for (name, rank) in [("short", 100), ("long", 900), ("middle", 500)] {
            let (p, order) = (pacer.clone(), order.clone());
            let rank = Arc::new(AtomicU32::new(rank));
            handles.push(tokio::spawn(async move {
                p.acquire_ranked(&rank).await;
                order.lock().unwrap().push(name);
            }));
            // Each waits before the next comes: arrival order is short, long, middle.
            tokio::task::yield_now().await;
        }
        for h in handles {
            h.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), ["long", "middle", "short"]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_stops_waiting_gives_way() {
        let pacer = Arc::new(Pacer::new(1, Duration::from_secs(1)));
        pacer.acquire().await;
        let start = Instant::now();
        // A request of a higher rank gives up before the slot frees (its query was stopped).
        let p = pacer.clone();
        let gave_up = tokio::spawn(async move {
            let high = Arc::new(AtomicU32::new(900));
            tokio::time::timeout(Duration::from_millis(500), p.acquire_ranked(&high)).await.is_err()
        });
        tokio::task::yield_now().await;
        let low = Arc::new(AtomicU32::new(100));
        tokio::time::timeout(Duration::from_secs(5), pacer.acquire_ranked(&low)).await.expect("the lower rank is not held up");
        assert!(gave_up.await.unwrap());
        // As soon as the slot freed: the window and its margin.
        assert!(
            start.elapsed() >= Duration::from_millis(1100) && start.elapsed() < Duration::from_millis(1200),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_everyone() {
        let pacer = Pacer::new(5, Duration::from_secs(10));
        let start = Instant::now();
        pacer.pause(Duration::from_secs(3)).await;
        pacer.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(3));
    }
}
