//! [`Pacer`]: at most N requests per sliding window per tenant, shared by every concurrent
//! request of the tenant, so the collector never causes Graph's 429s itself.
//!
//! Hand-written because a GCRA limiter (governor) enforces an average rate with a burst, which
//! can exceed "5 in any 10 s" at a window edge; Graph's limit for identity reports is a plain
//! count per sliding window, so we keep the send times of the last N requests.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

#[derive(Debug)]
pub struct Pacer {
    limit: usize,
    window: Duration,
    state: Mutex<State>,
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
        Pacer { limit: limit.max(1) as usize, window: padded(window), state: Mutex::new(State::default()) }
    }

    /// The average time between requests of a pacer of `limit` per `window`, margin included.
    pub fn interval(limit: u32, window: Duration) -> Duration {
        padded(window) / limit.max(1)
    }

    /// Waits until one more request fits in the window, and records it.
    pub async fn acquire(&self) {
        loop {
            let wake = {
                let mut s = self.state.lock().await;
                let now = Instant::now();
                match s.paused_until {
                    Some(until) if until > now => until,
                    _ => {
                        while s.sent.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                            s.sent.pop_front();
                        }
                        if s.sent.len() < self.limit {
                            s.sent.push_back(now);
                            return;
                        }
                        *s.sent.front().expect("full window") + self.window
                    }
                }
            };
            tokio::time::sleep_until(wake).await;
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
    async fn a_pause_holds_everyone() {
        let pacer = Pacer::new(5, Duration::from_secs(10));
        let start = Instant::now();
        pacer.pause(Duration::from_secs(3)).await;
        pacer.acquire().await;
        assert!(start.elapsed() >= Duration::from_secs(3));
    }
}
