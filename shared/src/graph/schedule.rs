//! [`Schedule`]: which queries one tenant's pull runs, in what order, and how far its cursor
//! may move.
//!
//! A pull has one *lane* per query kind (a sign-in event type, or the directory audits). Each
//! lane cuts its part of the window into consecutive *slices*; a slice is one Graph query (its
//! first page, then its nextLinks). These rules keep the tenant's request budget full of full
//! pages, whatever the spread of records in time:
//!
//! - **Slices sized to the data.** A lane's density (rows per hour, measured on its last slice,
//!   or remembered from the previous run) makes each slice about [`TARGET_PAGES`] pages: dense
//!   hours get short slices, quiet days one long one, so few requests go to short last pages
//!   or empty hours. A lane without a measurement starts as one query over its whole window.
//!   So does a lone lane, which must become two queries when pages are slow, if its window is
//!   at most two days: its query is split on its own page boundaries once the first page
//!   shows the density (below), where a blind cut would fall anywhere in a page and cost a
//!   short page more; only a longer window is cut blind, into parts of at most a day. If its
//!   pages show more than [`TARGET_PAGES`] per query it is to run as, the query is *narrowed*
//!   to the pages it has asked for and the rest of the lane is cut into slices at the density
//!   they showed ([`Schedule::page`]). So a quiet lane costs one query whatever its window,
//!   and a dense one runs in short slices. A slice that would leave a tail under a quarter of
//!   itself takes the tail too.
//! - **Queries side by side.** Up to `max_in_flight` slices run at once, across lanes and within
//!   a lane (a lane's backlog is split so that at least [`MIN_QUERIES_IN_FLIGHT`] queries run
//!   together), so slow pages overlap and the pacer, not the latency, sets the pace.
//! - **A lone long query is split while it runs.** When fewer queries run than keep the pacing
//!   budget busy at Graph's observed latency and nothing else is left to start (a lone lane's
//!   first query, a part that turned out to hold most of the data, the last lane of a
//!   catch-up), the running query with the most pages still to read is split: Graph returns
//!   records newest first, so a query that has reached time `t` has `[from, t)` still to
//!   read; a new query takes the older half `[from, m)` and the running one stops following
//!   its nextLinks once its pages pass `m` ([`Schedule::split`]; `m` is put just above where
//!   one of the running query's pages is expected to end, so that only the new query ends on
//!   a short page).
//!   Splitting and narrowing rely on Graph's documented order; every page is checked, and a
//!   pull that sees records out of order stops both and lets its queries run to their own end
//!   (records before `m` are then read twice and deduplicated, none is lost).
//! - **A time budget costs no request.** When it is up, no request goes out, the pages already
//!   asked for are still read, and the slice at each lane's cursor goes on from its nextLink in
//!   the next run ([`Schedule::stop`]); so a slice at its lane's cursor is not sized to the
//!   budget. A slice beyond the cursor would be read again, so it is sized to the requests the
//!   budget can still carry after what the running queries are expected to need, and none
//!   starts when they need it all.
//! - **Memory stays bounded.** A slice starts only on the lowest lane's day or the next, so a
//!   tenant's dense rows land in three days at most at a time (a blind query over a longer
//!   window holds at most [`TARGET_PAGES`] pages of rows, or is narrowed after its first
//!   pages), and each running query holds at most two pages (the one being written and the one
//!   fetched ahead).
//!
//! Exactly-once does not depend on any of this: the cursor is the lowest point up to which
//! *every* lane has completed its slices contiguously ([`Schedule::cursor`]), so a stop never
//! leaves a gap behind the cursor, and ids written beyond it stay in the checkpoint's
//! `seen_ids`.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use crate::checkpoint::{LaneCheckpoint, ResumeSlice};

/// Pages a slice aims at once its lane's density is known: long enough that its short last
/// page costs little (half a page in 20), short enough that a stop rarely re-reads much.
pub const TARGET_PAGES: f64 = 20.0;
/// Records per full page (`$top`).
pub const PAGE_ROWS: f64 = 1000.0;
/// Queries that must run together to keep the budget full when pages are slow: at 5
/// requests per 10 s and 3 s per page, two. More would only add short last pages: every
/// query costs half a page on average.
pub const MIN_QUERIES_IN_FLIGHT: usize = 2;
/// The longest blind part of a lane that must be cut into several for concurrency (only the
/// lane's newest part can be narrowed once its pages show its density, see
/// [`Schedule::page`]); a lane that runs as one query, or whose window is at most this long
/// per query it needs, starts with its whole window (see `probe_length`).
const MAX_PROBE: TimeDelta = TimeDelta::days(1);
const MIN_SLICE: TimeDelta = TimeDelta::minutes(1);
const MAX_SLICE: TimeDelta = TimeDelta::days(7);
/// A running query is split only when it has at least this many pages still to read. A split
/// costs one more short last page, but it happens only while the pacing budget has requests
/// to spare (the running queries wait on Graph's latency), so that page costs no time; it
/// saves one latency per page the second query takes over.
const MIN_SPLIT_PAGES: f64 = 2.0;

/// How far above the expected end of its last page a split puts the cut query's new start, in
/// pages: the page must still pass it when the records are a little denser or sparser than
/// the pages read so far showed (about ±15 % over the pages between), and the share of a
/// page read twice stays small.
const SPLIT_PAGE_MARGIN: f64 = 0.15;

/// Where a lane starts in this pull.
#[derive(Debug, Clone, PartialEq)]
pub struct LaneStart {
    /// The lane's name in the checkpoint (the sign-in event type, or the table).
    pub key: String,
    pub start: DateTime<Utc>,
    /// Remembered from the previous run, if any.
    pub rows_per_hour: Option<f64>,
    /// The previous run's budget cut a slice of this lane short: none may be longer than this.
    pub max_slice: Option<TimeDelta>,
    /// ... or, when it left the link to the slice's next page, go on with it.
    pub resume: Option<ResumeSlice>,
}

/// Identifies a running slice.
pub type SliceId = u64;

/// A slice to run: one query of `lane` over `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slice {
    pub id: SliceId,
    pub lane: usize,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Go on from this nextLink (a slice the previous run's budget cut short).
    pub resume_link: Option<String>,
}

#[derive(Debug)]
struct Lane {
    /// Key of the density remembered in the checkpoint (the event type, or the table).
    key: String,
    /// Everything of this lane before `done` is written.
    done: DateTime<Utc>,
    /// Where the lane's next slice starts.
    next_start: DateTime<Utc>,
    /// `(m, after)`: a blind query narrowed to `[m, …)` left `[next_start, m)` to plan; once
    /// slices reach `m`, the lane goes on at `after`.
    gap: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// The length of its slices while its density is unknown.
    probe: TimeDelta,
    /// Half of the last slice a time budget cut short, until a slice completes.
    max_slice: Option<TimeDelta>,
    /// A cut slice to go on with once the lane reaches its start.
    resume: Option<ResumeSlice>,
    rows_per_hour: Option<f64>,
    /// Slices started and not yet folded into `done`, by start.
    slices: BTreeMap<DateTime<Utc>, Running>,
}

impl Lane {
    /// Where the slice starting at `next_start` must end at the latest.
    fn open_until(&self, end: DateTime<Utc>) -> DateTime<Utc> {
        self.gap.map_or(end, |(m, _)| m)
    }
}

impl Running {
    fn new(to: DateTime<Utc>, next_link: Option<String>, expected_pages: Option<f64>) -> Self {
        Running { to, next_link, expected_pages, pages: 0, rows: 0, reached: None, complete: false }
    }

    /// Rows per hour of what its pages have read so far, and how far back they reached.
    fn read_density(&self) -> Option<(f64, DateTime<Utc>)> {
        let reached = self.reached?;
        Some((self.rows as f64 / hours(self.to - reached).max(1.0 / 3600.0), reached))
    }
}

#[derive(Debug)]
struct Running {
    to: DateTime<Utc>,
    /// The link to the slice's next page, once a page came.
    next_link: Option<String>,
    /// Pages expected when it started; `None` while the lane's density is unknown.
    expected_pages: Option<f64>,
    pages: u64,
    rows: u64,
    /// The oldest record time its pages have reached (records come newest first).
    reached: Option<DateTime<Utc>>,
    complete: bool,
}

/// The times of the records of one page, in the order Graph sent them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PageTimes {
    pub newest: DateTime<Utc>,
    pub oldest: DateTime<Utc>,
    /// Newest first, as Graph documents.
    pub descending: bool,
}

impl PageTimes {
    /// The times of a page's records, in the order they came; `None` for no times.
    pub fn of(times: impl IntoIterator<Item = DateTime<Utc>>) -> Option<PageTimes> {
        let mut it = times.into_iter();
        let first = it.next()?;
        let mut t = PageTimes { newest: first, oldest: first, descending: true };
        let mut previous = first;
        for time in it {
            t.descending &= time <= previous;
            t.newest = t.newest.max(time);
            t.oldest = t.oldest.min(time);
            previous = time;
        }
        Some(t)
    }
}

/// What a page of a running slice showed.
#[derive(Debug, Clone, Copy)]
pub struct PageSeen<'a> {
    /// Records inside the slice's bounds.
    pub rows: usize,
    /// Their times, when readable.
    pub times: Option<PageTimes>,
    /// The page's nextLink (`None`: the slice's last page).
    pub next_link: Option<&'a str>,
    /// Since the query's previous page (or its start): latency and pacing.
    pub elapsed: Duration,
    /// Of the request alone.
    pub latency: Duration,
}

/// A running query split in two by [`Schedule::split`].
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    /// The new query: the older part of the running one.
    pub slice: Slice,
    /// The running query, which now ends at `slice.to`: it stops following nextLinks once a
    /// page reaches records older than that.
    pub cut: SliceId,
}

/// The plan of one tenant's pull (see the module documentation).
#[derive(Debug)]
pub struct Schedule {
    lanes: Vec<Lane>,
    end: DateTime<Utc>,
    max_in_flight: usize,
    next_id: SliceId,
    /// Running slice → (lane, start).
    running: HashMap<SliceId, (usize, DateTime<Utc>)>,
    started: u64,
    completed: u64,
    resumed: u64,
    /// The most records seen in a page that had a nextLink (a full page).
    largest_page: Option<usize>,
    /// How long a page of one query takes (latency and pacing), smoothed.
    page_time: Option<Duration>,
    /// How long Graph takes to answer a request, smoothed.
    latency: Option<Duration>,
    /// The pacing budget's average time between requests, when known.
    request_interval: Option<Duration>,
    split: u64,
    narrowed: u64,
    /// Every page so far came newest first (see the module documentation).
    ordered: bool,
}

/// What the time budget can still carry.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    /// Requests at the pacing budget's full pace.
    pub requests: f64,
    /// Time left.
    pub left: Duration,
}

impl Schedule {
    /// One lane per [`LaneStart`], each over `[start, end)`.
    pub fn new(lanes: Vec<LaneStart>, end: DateTime<Utc>, max_in_flight: usize) -> Self {
        let split = queries_per_lane(lanes.len()) as i32;
        let lanes = lanes
            .into_iter()
            .map(|l| Lane {
                key: l.key,
                done: l.start.min(end),
                next_start: l.start.min(end),
                probe: probe_length(end - l.start, split),
                gap: None,
                rows_per_hour: l.rows_per_hour.filter(|r| r.is_finite() && *r >= 0.0),
                max_slice: l.max_slice.map(|m| m.max(MIN_SLICE)),
                resume: l.resume.filter(|r| r.from >= l.start && r.from < r.to && r.to <= end),
                slices: BTreeMap::new(),
            })
            .collect();
        Schedule {
            lanes,
            end,
            max_in_flight: max_in_flight.max(1),
            next_id: 0,
            running: HashMap::new(),
            started: 0,
            completed: 0,
            resumed: 0,
            largest_page: None,
            page_time: None,
            latency: None,
            request_interval: None,
            split: 0,
            narrowed: 0,
            ordered: true,
        }
    }

    /// The next slice to start, if one may start now (`budget`: `None` for no limit). A slice
    /// beyond its lane's cursor gets no more pages than the budget's requests left after the
    /// running slices' expected pages, and no more than one query can read in the time left at
    /// its observed pace. A slice at its lane's cursor, or one when nothing runs, starts
    /// whatever the budget says.
    pub fn next_slice(&mut self, budget: Option<Budget>) -> Option<Slice> {
        if self.running.len() >= self.max_in_flight {
            return None;
        }
        let free = budget.map(|b| {
            let by_pace = self.page_time.map_or(f64::INFINITY, |t| b.left.as_secs_f64() / t.as_secs_f64().max(1e-6));
            (b.requests - self.outstanding_pages()).min(by_pace)
        });
        // The most lagging lane first; a slice starts only on the lowest lane's day or the
        // next, so the rows of a tenant land in three days at most and the writer keeps few
        // files open.
        let low = self.cursor().date_naive();
        let horizon = low.succ_opt().unwrap_or(low);
        // Lanes with something left to start or still running: a lane whose slices reach the
        // end of the window still keeps a query busy until they are read.
        let end = self.end;
        let active =
            self.lanes.iter().filter(|l| l.next_start < l.open_until(end) || l.slices.values().any(|r| !r.complete)).count();
        // While a lane's density is unknown, one part of it runs at a time unless the lane has
        // to be split for concurrency: a second blind part could not be sized to the budget.
        let split = queries_per_lane(active);
        let probing = |l: &Lane| l.rows_per_hour.is_none() && split == 1 && l.slices.values().any(|r| !r.complete);
        let lane = (0..self.lanes.len())
            .filter(|&i| {
                let l = &self.lanes[i];
                l.next_start < l.open_until(end) && l.next_start.date_naive() <= horizon && !probing(l)
            })
            .min_by_key(|&i| self.lanes[i].next_start)?;
        // A slice at its lane's cursor that the budget cuts goes on from its nextLink in the
        // next run, so the budget need not size it: it costs nothing it would not cost anyway.
        // Beyond the cursor a cut slice is read again; there the budget sizes slices, and none
        // starts when the running ones need what is left. With nothing running and nothing
        // done yet a slice starts whatever the budget says: every pull makes progress.
        let at_cursor = self.lanes[lane].next_start == self.lanes[lane].done;
        let free = free.filter(|_| !at_cursor);
        let idle = self.running.is_empty() && self.completed == 0;
        if !idle && budget.is_some_and(|b| b.left.is_zero()) {
            return None;
        }
        // A slice of p pages' worth of rows costs ⌈p⌉ requests, more when the rows are not
        // spread evenly: keep half a request in hand.
        if !idle && free.is_some_and(|f| f < 1.5) {
            return None;
        }
        let (from, remaining) = (self.lanes[lane].next_start, self.lanes[lane].open_until(end) - self.lanes[lane].next_start);
        let split = split as i32;

        let density = self.lanes[lane].rows_per_hour;
        // A slice cut short by the previous run goes on from its nextLink, as it was.
        let resume = &self.lanes[lane].resume;
        if resume.as_ref().is_some_and(|r| r.from == from) {
            let r = self.lanes[lane].resume.take().expect("checked above");
            self.resumed += 1;
            return Some(self.start(lane, r.from, r.to, None, Some(r.next_link)));
        }
        // Up to it, slices as usual (the overlap re-scan before a resumed slice).
        let remaining = match resume {
            Some(r) if r.from > from => remaining.min(r.from - from),
            _ => remaining,
        };
        let page_rows = self.page_rows();
        let length_for = |pages: f64, density: f64| {
            let wanted = if density > 0.0 { from_hours(pages * page_rows / density) } else { MAX_SLICE };
            wanted.clamp(MIN_SLICE, MAX_SLICE)
        };
        let (mut length, budget_cap) = match density {
            None => (self.lanes[lane].probe, None),
            Some(density) => {
                let mut pages = TARGET_PAGES;
                // Spread a large backlog over several queries; a small one stays one query.
                let backlog_pages = density * hours(remaining) / page_rows;
                if backlog_pages > 2.0 * split as f64 {
                    pages = pages.min(backlog_pages / split as f64);
                }
                let cap = free.map(|free| (free - 0.5).max(1.0));
                let cap_length = cap.filter(|c| *c < pages).map(|c| length_for(c, density));
                (length_for(pages.min(cap.unwrap_or(f64::INFINITY)), density), cap_length)
            }
        };
        if length >= remaining || remaining - length < length / 4 {
            length = remaining;
        }
        // The tail joins only when the budget can carry it.
        if let Some(cap) = budget_cap {
            length = length.min(cap);
        }
        if let Some(max) = self.lanes[lane].max_slice {
            length = length.min(max);
        }
        // Whole milliseconds: the lake keeps times to the millisecond and Graph's filters are
        // written to the millisecond, so a boundary inside a millisecond could drop a record
        // that both neighbouring slices leave to the other.
        let length = TimeDelta::milliseconds(length.num_milliseconds().max(1));
        let to = (from + length).min(self.lanes[lane].open_until(end));
        let expected_pages = density.map(|d| pages_for(d, length, page_rows));
        Some(self.start(lane, from, to, expected_pages, None))
    }

    fn start(
        &mut self,
        lane: usize,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        expected_pages: Option<f64>,
        resume_link: Option<String>,
    ) -> Slice {
        let id = self.next_id;
        self.next_id += 1;
        self.started += 1;
        let l = &mut self.lanes[lane];
        l.next_start = to;
        if let Some((m, after)) = l.gap
            && to >= m
        {
            l.next_start = after;
            l.gap = None;
        }
        l.slices.insert(from, Running::new(to, resume_link.clone(), expected_pages));
        self.running.insert(id, (lane, from));
        Slice { id, lane, from, to, resume_link }
    }

    /// A page of slice `id` arrived (see [`PageSeen`]). A slice that already holds more rows
    /// than its lane's density says raises the density at once (a burst of sign-ins), so the
    /// lane's next slices are shorter.
    ///
    /// Returns `true` when this page is the first to show records out of Graph's documented
    /// order: the caller then lets every split query run to its own end (see [`Self::split`]).
    pub fn page(&mut self, id: SliceId, seen: PageSeen<'_>) -> bool {
        let PageSeen { rows, times, next_link, elapsed, latency } = seen;
        let more = next_link.is_some();
        self.page_time = Some(smoothed(self.page_time, elapsed));
        self.latency = Some(smoothed(self.latency, latency));
        if more && rows > 0 {
            // Graph's pages may be shorter than `$top` mid-result: the largest page seen with a
            // nextLink is the page size this tenant gets.
            self.largest_page = Some(self.largest_page.map_or(rows, |n| n.max(rows)));
        }
        let Some((lane, from)) = self.running.get(&id).copied() else {
            return false;
        };
        let l = &mut self.lanes[lane];
        let Some(r) = l.slices.get_mut(&from) else {
            return false;
        };
        r.pages += 1;
        r.rows += rows as u64;
        let mut disorder = false;
        if let Some(times) = times {
            disorder = !times.descending || r.reached.is_some_and(|reached| times.newest > reached);
            r.reached = Some(r.reached.map_or(times.oldest, |reached| reached.min(times.oldest)));
        }
        let first_disorder = disorder && self.ordered;
        if first_disorder {
            self.ordered = false;
        }
        // A split or narrowed query whose page reached below its (new) start has read its
        // range: it follows no more nextLinks (see `split`). Not once records came out of
        // order: then every query reads to its own end.
        let passed = self.ordered && times.is_some_and(|t| t.oldest < from);
        r.next_link = next_link.filter(|_| !passed).map(str::to_string);
        let more = more && !passed;
        let seen = r.rows as f64 / hours(r.to - from).max(1.0 / 3600.0);
        if l.rows_per_hour.is_some_and(|d| d < seen) {
            l.rows_per_hour = Some(seen);
        }
        if self.ordered && more {
            self.narrow(id, lane, from);
        }
        first_disorder
    }

    /// A blind query (its lane's density was unknown) whose pages show it holds more than
    /// [`TARGET_PAGES`] per query it is to run as (two for a lone lane) is narrowed to what it
    /// has read and the page already on its way: it stops following nextLinks there, and the
    /// rest of its range goes back to the lane, to be cut into slices sized to the density its
    /// pages showed. So a lane can start as one query over its whole window — a quiet lane
    /// then costs one query, however long the window — and a dense one still runs as short
    /// slices (bounded memory and re-reads). Only the lane's newest query is narrowed (the
    /// lane keeps one range to plan).
    fn narrow(&mut self, id: SliceId, lane: usize, from: DateTime<Utc>) {
        let page_rows = self.page_rows();
        // A lone lane's query is to be split into `share` queries (see `probe_length`), each
        // of which may hold TARGET_PAGES.
        let share = queries_per_lane(self.lanes.len()) as f64;
        let l = &mut self.lanes[lane];
        if l.gap.is_some() {
            return;
        }
        let Some(r) = l.slices.get(&from) else {
            return;
        };
        let Some((density, reached)) = r.read_density().filter(|(_, t)| *t > from && *t <= r.to) else {
            return;
        };
        if r.expected_pages.is_some() || r.to != l.next_start {
            return;
        }
        if density <= 0.0 || density * hours(r.to - from) / page_rows <= TARGET_PAGES * share {
            return;
        }
        let m = cut_after(from, reached - from_hours(page_rows / density));
        if m >= reached {
            return;
        }
        l.gap = Some((m, r.to));
        l.next_start = from;
        l.rows_per_hour = Some(l.rows_per_hour.map_or(density, |d| d.max(density)));
        let pages = r.pages as f64;
        self.move_start(id, lane, from, m, pages + 1.0);
        self.narrowed += 1;
    }

    /// Running slice `id` of `lane` now starts at `m` instead of `from` (split or narrowed),
    /// expecting `expected_pages` in all.
    fn move_start(&mut self, id: SliceId, lane: usize, from: DateTime<Utc>, m: DateTime<Utc>, expected_pages: f64) {
        let l = &mut self.lanes[lane];
        if let Some(mut r) = l.slices.remove(&from) {
            r.expected_pages = Some(expected_pages);
            l.slices.insert(m, r);
            self.running.insert(id, (lane, m));
        }
    }

    /// Splits the running query with the most pages still to read, when fewer queries run than
    /// keep the pacing budget busy and nothing else may start (see the module
    /// documentation); `budget` as for [`Self::next_slice`].
    pub fn split(&mut self, budget: Option<Budget>) -> Option<Split> {
        if !self.ordered || self.running.len() >= self.queries_needed() {
            return None;
        }
        if budget.is_some_and(|b| b.requests - self.outstanding_pages() < 0.5) {
            return None;
        }
        let page_rows = self.page_rows();
        // (pages left, id, reached) of the best candidate.
        let mut best: Option<(f64, SliceId, DateTime<Utc>)> = None;
        for (&id, &(lane, from)) in &self.running {
            let Some(r) = self.lanes[lane].slices.get(&from) else {
                continue;
            };
            let Some((density, reached)) = r.read_density().filter(|(_, t)| *t > from && *t <= r.to) else {
                continue;
            };
            if r.complete || r.next_link.is_none() {
                continue;
            }
            // The density of what it read, over what it has left. Its next page is already on
            // its way (each query fetches one page ahead): that page's span is not left to
            // share, so the halves are cut from where the query will stand after it.
            let ahead = if density > 0.0 { from_hours(page_rows / density) } else { TimeDelta::zero() };
            let reached = (reached - ahead).max(from);
            let left = density * hours(reached - from) / page_rows;
            if left >= MIN_SPLIT_PAGES && best.is_none_or(|b| left > b.0) {
                best = Some((left, id, reached));
            }
        }
        let (left, cut, reached) = best?;
        let (lane, from) = self.running[&cut];
        // The cut query keeps about half of what is left, in whole pages: it stops after the
        // page that passes `m`, so `m` is put a little above where its `keep`-th page is
        // expected to end. That page is then full (a share of it read again by the new
        // query and deduplicated) instead of a random part of a page: only the new query
        // ends on a short page. Where the density was misjudged the page boundary falls
        // elsewhere, and the split costs what a cut at any point costs.
        let keep = (left / 2.0).round().max(1.0);
        let span = hours(reached - from) / left;
        let m = cut_after(from, reached - from_hours(span * (keep - SPLIT_PAGE_MARGIN)));
        if m <= from || m >= reached {
            return None;
        }
        let pages = self.lanes[lane].slices.get(&from).map_or(0.0, |r| r.pages as f64);
        self.move_start(cut, lane, from, m, pages + 1.0 + keep);
        self.lanes[lane].slices.insert(from, Running::new(m, None, Some(left - keep + SPLIT_PAGE_MARGIN)));
        let id = self.next_id;
        self.next_id += 1;
        self.started += 1;
        self.split += 1;
        self.running.insert(id, (lane, from));
        Some(Split { slice: Slice { id, lane, from, to: m, resume_link: None }, cut })
    }

    /// The pull stops before its slices are done (time budget). A lane whose slice was cut
    /// short may start slices of at most half that length in the next run (and gets at least
    /// twice the density the slice showed: it held more than was read), so a slice too long
    /// for one run's budget is not read again and again, never completed.
    pub fn stop(&mut self) {
        for l in &mut self.lanes {
            // The slice at the lane's cursor goes on from its nextLink in the next run.
            if let Some((from, r)) = l.slices.first_key_value()
                && *from == l.done
                && !r.complete
                && let Some(next_link) = &r.next_link
            {
                l.resume = Some(ResumeSlice { from: *from, to: r.to, next_link: next_link.clone() });
            }
            let resumed = l.resume.as_ref().map(|r| r.from);
            // A slice cut before its first page says nothing about its length.
            for (from, r) in l.slices.iter().filter(|(f, r)| !r.complete && r.pages > 0 && Some(**f) != resumed) {
                let length = r.to - *from;
                let half = (length / 2).max(MIN_SLICE);
                l.max_slice = Some(l.max_slice.map_or(half, |m| m.min(half)));
                if r.rows > 0 {
                    let at_least = 2.0 * r.rows as f64 / hours(length).max(1.0 / 3600.0);
                    l.rows_per_hour = Some(l.rows_per_hour.map_or(at_least, |d| d.max(at_least)));
                }
            }
        }
    }

    /// Slice `id` read its last page: its lane's density is measured again, and the lane's
    /// `done` moves over every slice completed without a gap.
    pub fn complete(&mut self, id: SliceId) {
        let Some((lane, from)) = self.running.remove(&id) else {
            return;
        };
        let l = &mut self.lanes[lane];
        self.completed += 1;
        // A slice of this lane fits a run again.
        l.max_slice = None;
        if let Some(r) = l.slices.get_mut(&from) {
            r.complete = true;
            // At least one row per slice, so an empty slice still yields a finite length.
            l.rows_per_hour = Some(r.rows.max(1) as f64 / hours(r.to - from).max(1.0 / 3600.0));
        }
        // Only a slice that starts where the lane is done extends it: a narrowed query (see
        // `narrow`) may complete before the range below it is even started.
        while let Some(entry) = l.slices.first_entry() {
            if !entry.get().complete || *entry.key() > l.done {
                break;
            }
            l.done = l.done.max(entry.get().to);
            entry.remove();
        }
    }

    /// The pacing budget's average time between requests: with it, a query is split only
    /// when the running queries, one page per latency each, cannot keep the budget busy.
    pub fn with_request_interval(mut self, interval: Duration) -> Self {
        self.request_interval = Some(interval).filter(|i| !i.is_zero());
        self
    }

    /// Queries that keep the pacing budget busy at Graph's observed latency (at 5 requests
    /// per 10 s: one up to ~2 s a page, two up to ~4 s), at most `max_in_flight`; without
    /// both figures, [`MIN_QUERIES_IN_FLIGHT`].
    fn queries_needed(&self) -> usize {
        let needed = match (self.latency, self.request_interval) {
            (Some(latency), Some(interval)) => (latency.as_secs_f64() / interval.as_secs_f64()).ceil().max(1.0) as usize,
            _ => MIN_QUERIES_IN_FLIGHT,
        };
        needed.min(self.max_in_flight)
    }

    /// Slice `id` read its last page (one without a nextLink).
    pub fn read_to_end(&self, id: SliceId) -> bool {
        self.running
            .get(&id)
            .and_then(|(lane, from)| self.lanes[*lane].slices.get(from))
            .is_some_and(|r| r.pages > 0 && r.next_link.is_none())
    }

    /// Pages running slice `id` is still expected to read (0 while its lane's density is
    /// unknown, or once it is not running).
    pub fn pages_left(&self, id: SliceId) -> f64 {
        self.running
            .get(&id)
            .and_then(|(lane, from)| self.lanes[*lane].slices.get(from))
            .and_then(|r| r.expected_pages.map(|expected| (expected - r.pages as f64).max(0.0)))
            .unwrap_or(0.0)
    }

    /// Pages the running slices are still expected to need.
    pub fn outstanding_pages(&self) -> f64 {
        self.lanes
            .iter()
            .flat_map(|l| l.slices.values())
            .filter(|r| !r.complete)
            .map(|r| match r.expected_pages {
                Some(expected) => (expected - r.pages as f64).max(1.0),
                None => 1.0,
            })
            .sum()
    }

    /// Records in a full page: `$top` until pages show otherwise.
    fn page_rows(&self) -> f64 {
        self.largest_page.map_or(PAGE_ROWS, |n| n as f64)
    }

    /// Everything before this instant is written in every lane.
    pub fn cursor(&self) -> DateTime<Utc> {
        self.lanes.iter().map(|l| l.done).min().unwrap_or(self.end)
    }

    /// Every lane is done to the end of the window.
    pub fn finished(&self) -> bool {
        self.cursor() >= self.end
    }

    pub fn running(&self) -> usize {
        self.running.len()
    }

    /// Slices started so far (= first-page queries).
    pub fn slices_started(&self) -> u64 {
        self.started
    }

    /// Slices that read their last page so far.
    pub fn slices_completed(&self) -> u64 {
        self.completed
    }

    /// Running queries split in two.
    pub fn splits(&self) -> u64 {
        self.split
    }

    /// Blind queries narrowed to their first pages.
    pub fn narrowed(&self) -> u64 {
        self.narrowed
    }

    /// Every page so far came in Graph's documented order: running queries may stop early.
    pub fn in_order(&self) -> bool {
        self.ordered
    }

    /// Slices that went on from where the previous run stopped.
    pub fn slices_resumed(&self) -> u64 {
        self.resumed
    }

    /// The lane of a running slice and its bounds.
    pub fn bounds(&self, id: SliceId) -> Option<(usize, DateTime<Utc>, DateTime<Utc>)> {
        let (lane, from) = *self.running.get(&id)?;
        Some((lane, from, self.lanes[lane].slices.get(&from)?.to))
    }

    /// Each lane's progress and density, for the checkpoint.
    pub fn lanes(&self) -> BTreeMap<String, LaneCheckpoint> {
        self.lanes
            .iter()
            .map(|l| {
                let checkpoint = LaneCheckpoint {
                    cursor: l.done,
                    rows_per_hour: l.rows_per_hour,
                    max_slice_secs: l.max_slice.map(|m| m.num_seconds()),
                    resume: l.resume.clone(),
                    read_at: None,
                };
                (l.key.clone(), checkpoint)
            })
            .collect()
    }
}

/// An exponentially smoothed duration: a fifth of each new measurement.
fn smoothed(before: Option<Duration>, now: Duration) -> Duration {
    before.map_or(now, |t| t.mul_f64(0.8) + now.mul_f64(0.2))
}

/// The queries each of `lanes` lanes must run as for [`MIN_QUERIES_IN_FLIGHT`] to run at once.
fn queries_per_lane(lanes: usize) -> usize {
    MIN_QUERIES_IN_FLIGHT.div_ceil(lanes.max(1))
}

/// How long the blind queries of a lane of unknown density are, over a `window` to be read as
/// `split` queries at once. A lane that needs no cutting takes its whole window (up to
/// [`MAX_SLICE`]). One that does is still started as *one* query when its window is at most
/// `split` parts of [`MAX_PROBE`]: once its first page shows the density and Graph's latency,
/// [`Schedule::split`] cuts it on one of its own page boundaries, where a blind cut would fall
/// anywhere in a page and cost a short page more. Only a longer window is cut blind, into
/// parts of at most a day, so that the rows of a dense tenant still land in few days at once.
fn probe_length(window: TimeDelta, split: i32) -> TimeDelta {
    let length = if split <= 1 || window <= MAX_PROBE * split { window.min(MAX_SLICE) } else { (window / split).min(MAX_PROBE) };
    length.max(MIN_SLICE)
}

fn hours(d: TimeDelta) -> f64 {
    d.num_milliseconds() as f64 / 3_600_000.0
}

fn from_hours(h: f64) -> TimeDelta {
    // Bounded: callers clamp the result to [MIN_SLICE, MAX_SLICE].
    TimeDelta::milliseconds((h.min(24.0 * 365.0) * 3_600_000.0) as i64)
}

/// The new start of a running query that is split or narrowed at `t`: in whole milliseconds
/// (the lake keeps times to the millisecond, see `next_slice`) and at least one after its
/// start `from`.
fn cut_after(from: DateTime<Utc>, t: DateTime<Utc>) -> DateTime<Utc> {
    from + TimeDelta::milliseconds((t - from).num_milliseconds().max(1))
}

fn pages_for(rows_per_hour: f64, length: TimeDelta, page_rows: f64) -> f64 {
    (rows_per_hour * hours(length) / page_rows).ceil().max(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn budget(requests: f64) -> Budget {
        Budget { requests, left: Duration::from_secs(600) }
    }

    fn lanes(n: usize, start: &str, rows_per_hour: Option<f64>) -> Vec<LaneStart> {
        (0..n)
            .map(|i| LaneStart { key: format!("lane{i}"), start: t(start), rows_per_hour, max_slice: None, resume: None })
            .collect()
    }

    #[test]
    fn an_unknown_lane_is_cut_into_parts_then_sized_to_its_density() {
        // One lane, 30 hours: one query over the whole window, which is split on its own page
        // boundaries once its pages show the density (see the lone-query test below).
        let mut s = Schedule::new(lanes(1, "2026-11-01T00:00:00Z", None), t("2026-11-02T06:00:00Z"), 5);
        let parts: Vec<Slice> = std::iter::from_fn(|| s.next_slice(None)).collect();
        assert_eq!(parts.len(), 1);
        assert_eq!((parts[0].from, parts[0].to), (t("2026-11-01T00:00:00Z"), t("2026-11-02T06:00:00Z")));
        s.page(parts[0].id, seen(1000, None, Some("next"), Duration::from_secs(1)));
        s.page(parts[0].id, seen(200, None, None, Duration::from_secs(1)));
        s.complete(parts[0].id);
        assert_eq!(s.cursor(), t("2026-11-02T06:00:00Z"));
        assert!((s.lanes()["lane0"].rows_per_hour.unwrap() - 40.0).abs() < 1e-9);

        // One lane, three days: cut blind into parts of a day, two side by side (a slice starts
        // only on the lowest day or the next).
        let mut s = Schedule::new(lanes(1, "2026-11-01T00:00:00Z", None), t("2026-11-04T00:00:00Z"), 5);
        let parts: Vec<Slice> = std::iter::from_fn(|| s.next_slice(None)).collect();
        assert_eq!(parts.len(), 2, "{parts:?}");
        assert!(parts.iter().all(|p| p.to - p.from == TimeDelta::days(1)), "{parts:?}");
        assert_eq!(parts[0].from, t("2026-11-01T00:00:00Z"));

        // Four lanes of three days: enough queries without cutting a lane, so each starts as
        // one blind query over its whole window.
        let (start, end) = (t("2026-11-01T00:00:00Z"), t("2026-11-04T00:00:00Z"));
        let mut s = Schedule::new(lanes(4, "2026-11-01T00:00:00Z", None), end, 5);
        let first: Vec<Slice> = std::iter::from_fn(|| s.next_slice(None)).collect();
        assert_eq!(first.len(), 4);
        assert!(first.iter().all(|p| (p.from, p.to) == (start, end)), "{first:?}");

        // A quiet lane's pages (~18 pages in all) leave its query as it is.
        let quiet = &first[1];
        s.page(quiet.id, seen(1000, times(end, end - TimeDelta::hours(4)), Some("next"), Duration::from_secs(1)));
        assert_eq!(s.bounds(quiet.id), Some((1, start, end)));
        assert_eq!(s.narrowed(), 0);

        // Lane 0 turns out dense: 1,000 rows in its last 10 minutes (~430 pages in all). Its
        // query is narrowed to that page and the one already on its way...
        let dense = &first[0];
        let reached = end - TimeDelta::minutes(10);
        s.page(dense.id, seen(1000, times(end, reached), Some("next"), Duration::from_secs(1)));
        assert_eq!(s.narrowed(), 1);
        let (_, m, to) = s.bounds(dense.id).unwrap();
        assert_eq!((m, to), (end - TimeDelta::minutes(20), end));
        // ... and the lane goes on from its cursor with slices of ~20 pages (200 minutes),
        // up to where the narrowed query now starts.
        let next = s.next_slice(None).unwrap();
        assert_eq!((next.lane, next.from), (0, start));
        assert!((next.to - next.from - TimeDelta::minutes(200)).num_seconds().abs() <= 1, "{next:?}");
        s.complete(next.id);
        s.complete(dense.id);
        // The narrowed query is read, but the range below it is not: the lane is done only
        // to the end of the first slice.
        assert_eq!(s.lanes()["lane0"].cursor, next.to);
        // Read in slices up to the narrowed query, the lane is done to the end of the window.
        while let Some(slice) = s.next_slice(None) {
            assert_eq!(slice.lane, 0, "{slice:?}");
            assert!(slice.to <= m, "{slice:?}");
            s.complete(slice.id);
        }
        assert_eq!(s.lanes()["lane0"].cursor, end);
    }

    #[test]
    fn a_known_density_sizes_slices_and_spreads_a_large_backlog() {
        // 1,200 rows an hour and 28 hours: ~34 pages of backlog over two queries (~17 pages
        // each), not one query of 20 pages and a short tail.
        let mut s = Schedule::new(lanes(1, "2026-11-01T02:00:00Z", Some(1200.0)), t("2026-11-02T06:00:00Z"), 5);
        let next = s.next_slice(None).unwrap();
        let pages = 1200.0 * hours(next.to - next.from) / 1000.0;
        assert!((16.0..=17.5).contains(&pages), "{pages} pages");
        // Dense: 20 pages a slice.
        let mut s = Schedule::new(lanes(4, "2026-11-01T00:00:00Z", Some(60_000.0)), t("2026-11-02T00:00:00Z"), 5);
        let next = s.next_slice(None).unwrap();
        assert_eq!(next.to - next.from, TimeDelta::minutes(20));
    }

    #[test]
    fn a_quiet_lane_takes_its_whole_window_in_one_query() {
        let (start, end) = (t("2026-11-01T10:00:00Z"), t("2026-11-01T11:15:00Z"));
        let mut s = Schedule::new(lanes(1, "2026-11-01T10:00:00Z", Some(80.0)), end, 5);
        let only = s.next_slice(None).unwrap();
        assert_eq!((only.from, only.to), (start, end));
        assert!(s.next_slice(None).is_none());
        s.complete(only.id);
        assert!(s.finished());
        // Without a remembered density, four lanes' 75-minute window is one query each.
        let mut s = Schedule::new(lanes(4, "2026-11-01T10:00:00Z", None), end, 5);
        let slices: Vec<Slice> = std::iter::from_fn(|| s.next_slice(None)).collect();
        assert_eq!(slices.len(), 4);
        assert!(slices.iter().all(|x| (x.from, x.to) == (start, end)));
    }

    #[test]
    fn the_cursor_moves_only_over_slices_completed_without_a_gap_in_every_lane() {
        let start = t("2026-11-01T00:00:00Z");
        let mut s = Schedule::new(lanes(2, "2026-11-01T00:00:00Z", Some(60_000.0)), t("2026-11-01T06:00:00Z"), 4);
        let a = s.next_slice(None).unwrap();
        let b = s.next_slice(None).unwrap();
        let c = s.next_slice(None).unwrap();
        assert_eq!((a.lane, b.lane, c.lane), (0, 1, 0), "the most lagging lane first");
        assert_eq!(c.from, a.to);
        s.complete(c.id);
        s.complete(b.id);
        assert_eq!(s.cursor(), start, "lane 0 has a gap before c");
        s.complete(a.id);
        assert_eq!(s.cursor(), b.to.min(c.to));
        assert!(!s.finished());
        // Each lane's own progress goes to the checkpoint: lane 0 is done to the end of c.
        assert_eq!(s.lanes()["lane0"].cursor, c.to);
        assert_eq!(s.lanes()["lane1"].cursor, b.to);
    }

    #[test]
    fn near_the_end_of_the_budget_slices_shrink_and_then_none_starts() {
        let mut s = Schedule::new(lanes(1, "2026-11-01T00:00:00Z", Some(60_000.0)), t("2026-11-03T00:00:00Z"), 5);
        let first = s.next_slice(Some(budget(100.0))).unwrap();
        assert_eq!(pages_for(60_000.0, first.to - first.from, PAGE_ROWS), TARGET_PAGES);
        // 25 requests left, 20 expected by the running slice: the next gets 5 pages' worth.
        let second = s.next_slice(Some(budget(25.0))).unwrap();
        assert_eq!(pages_for(60_000.0, second.to - second.from, PAGE_ROWS), 5.0);
        // Nothing left after what runs: nothing starts...
        assert!(s.next_slice(Some(budget(20.0))).is_none());
        s.complete(first.id);
        s.complete(second.id);
        // At the lane's cursor a slice starts whatever requests are left (a cut there costs
        // nothing), but not once the time is up.
        let time_up = Budget { requests: 0.0, left: Duration::ZERO };
        assert!(s.next_slice(Some(time_up)).is_none(), "this pull made progress; the next run goes on");
        assert!(s.next_slice(Some(budget(0.0))).is_some());
        // A pull that has done nothing yet starts one slice whatever the budget says.
        let mut fresh = Schedule::new(lanes(1, "2026-11-01T00:00:00Z", Some(60_000.0)), t("2026-11-03T00:00:00Z"), 5);
        assert!(fresh.next_slice(Some(budget(0.0))).is_some());
    }

    #[test]
    fn a_lane_ahead_of_the_others_starts_where_it_stood() {
        let mut starts = lanes(2, "2026-11-01T00:00:00Z", Some(10.0));
        starts[1].start = t("2026-11-01T05:00:00Z");
        let mut s = Schedule::new(starts, t("2026-11-01T06:00:00Z"), 5);
        let a = s.next_slice(None).unwrap();
        let b = s.next_slice(None).unwrap();
        assert_eq!((a.lane, a.from, b.lane, b.from), (0, t("2026-11-01T00:00:00Z"), 1, t("2026-11-01T05:00:00Z")));
        s.complete(b.id);
        assert_eq!(s.cursor(), t("2026-11-01T00:00:00Z"));
        s.complete(a.id);
        assert!(s.finished());
    }

    #[test]
    fn a_burst_shortens_the_slices_that_follow() {
        let mut s = Schedule::new(lanes(1, "2026-11-01T00:00:00Z", Some(1000.0)), t("2026-11-03T00:00:00Z"), 5);
        let first = s.next_slice(None).unwrap();
        assert_eq!(first.to - first.from, TimeDelta::hours(20), "20 pages at 1,000 rows an hour");
        // The slice turns out to hold far more: 30 full pages and not done.
        for _ in 0..30 {
            s.page(first.id, seen(1000, None, Some("next"), Duration::from_secs(1)));
        }
        let dense = s.lanes()["lane0"].rows_per_hour.unwrap();
        assert!(dense >= 30_000.0 / 20.0, "{dense}");
        let next = s.next_slice(None).unwrap();
        assert!(next.to - next.from <= TimeDelta::minutes(13 * 60 + 20), "20 pages at 1,500 an hour: {next:?}");
        assert!(s.lanes()["lane0"].rows_per_hour.unwrap() >= 30_000.0 / 20.0);
    }

    #[test]
    fn a_slice_cut_by_the_budget_is_at_most_half_as_long_next_time_and_slow_pages_shrink_slices() {
        let start = "2026-11-01T00:00:00Z";
        // Two slices run; the budget cuts both. The one at the cursor goes on from its
        // nextLink next time; the one beyond it was read in part and will be read again.
        let mut s = Schedule::new(lanes(1, start, Some(1000.0)), t("2026-11-03T00:00:00Z"), 2);
        let at_cursor = s.next_slice(None).unwrap();
        let cut = s.next_slice(None).unwrap();
        s.page(at_cursor.id, seen(1000, None, Some("next"), Duration::from_millis(500)));
        for _ in 0..4 {
            s.page(cut.id, seen(1000, None, Some("next"), Duration::from_millis(500)));
        }
        s.stop();
        let lane = s.lanes()["lane0"].clone();
        assert_eq!(lane.resume.as_ref().map(|r| r.from), Some(at_cursor.from));
        assert_eq!(lane.max_slice_secs, Some((cut.to - cut.from).num_seconds() / 2));
        let mut next_run = Schedule::new(
            vec![LaneStart {
                key: "lane0".into(),
                start: cut.from,
                rows_per_hour: lane.rows_per_hour,
                max_slice: lane.max_slice_secs.map(TimeDelta::seconds),
                resume: None,
            }],
            t("2026-11-03T00:00:00Z"),
            1,
        );
        // Even with all the budget in the world, the next slice is at most half as long.
        let again = next_run.next_slice(None).unwrap();
        assert!(again.to - again.from <= (cut.to - cut.from) / 2, "{again:?} after {cut:?}");
        next_run.complete(again.id);
        assert_eq!(next_run.lanes()["lane0"].max_slice_secs, None, "a completed slice lifts the cap");

        // Pages that take 2 s each: 10 s left carry 5 pages of one query, whatever the pacer.
        let mut s = Schedule::new(lanes(1, start, Some(1000.0)), t("2026-11-03T00:00:00Z"), 2);
        let first = s.next_slice(None).unwrap();
        s.page(first.id, seen(1000, None, Some("next"), Duration::from_secs(2)));
        let slow = s.next_slice(Some(Budget { requests: 100.0, left: Duration::from_secs(10) })).unwrap();
        assert_eq!(pages_for(1000.0, slow.to - slow.from, PAGE_ROWS), 5.0);
    }

    #[test]
    fn a_slice_cut_at_the_cursor_goes_on_from_its_next_link_after_the_overlap() {
        let start = "2026-11-01T00:00:00Z";
        let mut s = Schedule::new(lanes(1, start, Some(1000.0)), t("2026-11-02T00:00:00Z"), 1);
        let cut = s.next_slice(None).unwrap();
        s.page(cut.id, seen(1000, None, Some("https://graph/next-3"), Duration::from_secs(1)));
        s.stop();
        let lane = s.lanes()["lane0"].clone();
        let resume = lane.resume.clone().unwrap();
        assert_eq!((resume.from, resume.to, resume.next_link.as_str()), (cut.from, cut.to, "https://graph/next-3"));
        assert_eq!(lane.max_slice_secs, None, "a slice that goes on need not be shorter");

        // The next run: the lane starts an hour before its cursor (the overlap re-scan), then
        // goes on with the cut slice where it stopped.
        let mut next_run = Schedule::new(
            vec![LaneStart {
                key: "lane0".into(),
                start: cut.from - TimeDelta::hours(1),
                rows_per_hour: lane.rows_per_hour,
                max_slice: None,
                resume: lane.resume,
            }],
            t("2026-11-02T00:00:00Z"),
            5,
        );
        let overlap = next_run.next_slice(None).unwrap();
        assert_eq!((overlap.from, overlap.to, overlap.resume_link.as_deref()), (cut.from - TimeDelta::hours(1), cut.from, None));
        let goes_on = next_run.next_slice(None).unwrap();
        assert_eq!((goes_on.from, goes_on.to), (cut.from, cut.to));
        assert_eq!(goes_on.resume_link.as_deref(), Some("https://graph/next-3"));
        assert_eq!(next_run.slices_resumed(), 1);
    }

    #[test]
    fn slices_start_no_later_than_the_day_after_the_lowest_lane() {
        let mut both = lanes(2, "2026-11-01T00:00:00Z", Some(1.0e9));
        both[1].rows_per_hour = Some(1.0);
        let mut s = Schedule::new(both, t("2026-11-05T00:00:00Z"), 10);
        let dense = s.next_slice(None).unwrap();
        assert_eq!(dense.lane, 0);
        assert!(dense.to - dense.from <= TimeDelta::minutes(2));
        let quiet = s.next_slice(None).unwrap();
        assert_eq!(quiet.lane, 1);
        s.complete(quiet.id);
        // The quiet lane is done; the dense lane still sits on day one, so slices keep coming
        // from it, all starting on day one.
        while let Some(next) = s.next_slice(None) {
            assert_eq!(next.lane, 0, "{next:?}");
            assert!(next.from.date_naive() <= dense.from.date_naive().succ_opt().unwrap(), "{next:?}");
        }
    }

    fn seen(rows: usize, times: Option<PageTimes>, next_link: Option<&str>, elapsed: Duration) -> PageSeen<'_> {
        PageSeen { rows, times, next_link, elapsed, latency: elapsed }
    }

    fn times(newest: DateTime<Utc>, oldest: DateTime<Utc>) -> Option<PageTimes> {
        Some(PageTimes { newest, oldest, descending: true })
    }

    #[test]
    fn a_lone_long_query_is_split_and_the_halves_complete_the_window() {
        // A first run of a lone lane: one query over its 30 blind hours.
        let (start, end) = (t("2026-11-01T00:00:00Z"), t("2026-11-02T06:00:00Z"));
        let mut s = Schedule::new(lanes(1, "2026-11-01T00:00:00Z", None), end, 5);
        let lone = s.next_slice(None).unwrap();
        assert_eq!((lone.from, lone.to), (start, end));
        assert_eq!(s.next_slice(None), None, "the whole window is running");
        assert_eq!(s.split(None), None, "no page yet: nothing known of what it has left");
        // Its first page covers its last hour at 3 s a page: ~30 pages in all, more than one
        // query's 20 but what two may hold, so it is split rather than narrowed.
        let reached = end - TimeDelta::minutes(60);
        assert!(!s.page(lone.id, seen(1000, times(end, reached), Some("next"), Duration::from_secs(3))));
        assert_eq!(s.narrowed(), 0);
        let split = s.split(None).expect("a lone query with ~28 pages left is split");
        assert_eq!(split.cut, lone.id);
        assert_eq!(split.slice.from, start);
        // Of the 28 pages left once the page already on its way (an hour's worth) is in, the
        // running query keeps 14 whole pages: the split is 0.15 of a page above their end.
        let m1 = reached - TimeDelta::minutes(60) - TimeDelta::minutes(14 * 60) + TimeDelta::seconds(540);
        assert!((split.slice.to - m1).num_milliseconds().abs() <= 2, "{:?} vs {m1:?}", split.slice.to);
        let m1 = split.slice.to;
        assert_eq!(s.bounds(lone.id), Some((0, m1, end)), "the running query now ends at the split");
        assert_eq!(s.bounds(split.slice.id), Some((0, start, m1)));
        assert_eq!(s.split(None), None, "two queries run");

        // The older query holds little and is done after one page; the newer one, alone again
        // with ~13 pages left after its second, is split again: the new query reaches down to
        // the first cut, and the running one keeps 6 whole pages.
        s.page(split.slice.id, seen(300, times(m1, start + TimeDelta::hours(10)), None, Duration::from_secs(3)));
        s.complete(split.slice.id);
        assert_eq!(s.cursor(), m1);
        let reached = reached - TimeDelta::minutes(60);
        assert!(
            !s.page(lone.id, seen(1000, times(reached + TimeDelta::minutes(60), reached), Some("next"), Duration::from_secs(3)))
        );
        let again = s.split(None).expect("alone again with ~13 pages left");
        assert_eq!((again.cut, again.slice.from), (lone.id, m1));
        let m2 = reached - TimeDelta::minutes(60) - TimeDelta::minutes(6 * 60) + TimeDelta::seconds(540);
        assert!((again.slice.to - m2).num_milliseconds().abs() <= 2, "{:?} vs {m2:?}", again.slice.to);
        assert_eq!(s.bounds(lone.id), Some((0, again.slice.to, end)));
        assert_eq!(s.splits(), 2);
        assert_eq!(s.slices_started(), 3);
        // All three complete: the lane is done to the end of the window.
        s.complete(again.slice.id);
        assert!(!s.finished());
        s.complete(lone.id);
        assert!(s.finished());
        assert_eq!(s.cursor(), end);
    }

    #[test]
    fn a_query_near_its_end_is_not_split_and_records_out_of_order_stop_splitting() {
        let end = t("2026-11-02T00:00:00Z");
        let mut s = Schedule::new(lanes(1, "2026-11-01T00:00:00Z", Some(1000.0)), end, 5);
        let only = s.next_slice(None).unwrap();
        // Read down to 90 minutes after its start at 1,000 rows an hour: 1.5 pages left, too
        // few to split.
        let reached = only.from + TimeDelta::minutes(90);
        let read = (hours(only.to - reached) * 1000.0) as usize;
        s.page(only.id, seen(read, times(only.to, reached), Some("next"), Duration::from_secs(3)));
        assert_eq!(s.split(None), None);

        // A lone query whose pages come faster than the pacing budget's interval keeps the
        // budget busy by itself: no split. One at 3 s a page against 2.05 s is split.
        let interval = Duration::from_millis(2050);
        for (latency, splits) in [(Duration::from_secs(1), false), (Duration::from_secs(3), true)] {
            let mut s = Schedule::new(lanes(1, "2026-11-01T00:00:00Z", Some(1000.0)), end, 5).with_request_interval(interval);
            let only = s.next_slice(None).unwrap();
            let reached = only.to - TimeDelta::hours(1);
            let page =
                PageSeen { rows: 1000, times: times(only.to, reached), next_link: Some("next"), elapsed: latency, latency };
            s.page(only.id, page);
            assert_eq!(s.split(None).is_some(), splits, "latency {latency:?}");
        }

        let mut s = Schedule::new(lanes(1, "2026-11-01T00:00:00Z", Some(1000.0)), end, 5);
        let only = s.next_slice(None).unwrap();
        let reached = only.to - TimeDelta::hours(1);
        // The first page is not newest first: the order the split relies on does not hold.
        let unordered = Some(PageTimes { newest: only.to, oldest: reached, descending: false });
        assert!(s.page(only.id, seen(1000, unordered, Some("next"), Duration::from_secs(3))), "the first disorder is reported");
        assert_eq!(s.split(None), None);
        assert!(!s.page(only.id, seen(1000, unordered, Some("next"), Duration::from_secs(3))), "... once");

        // A later page newer than what the query had reached is disorder too.
        let mut s = Schedule::new(lanes(1, "2026-11-01T00:00:00Z", Some(1000.0)), end, 5);
        let only = s.next_slice(None).unwrap();
        s.page(only.id, seen(1000, times(only.to, only.to - TimeDelta::hours(1)), Some("next"), Duration::from_secs(3)));
        assert!(s.page(only.id, seen(1000, times(only.to, only.to - TimeDelta::hours(2)), Some("next"), Duration::from_secs(3))));
    }

    #[test]
    fn page_times_follow_the_order_records_came_in() {
        let (a, b, c) = (t("2026-11-01T03:00:00Z"), t("2026-11-01T02:00:00Z"), t("2026-11-01T01:00:00Z"));
        assert_eq!(PageTimes::of([a, b, b, c]), Some(PageTimes { newest: a, oldest: c, descending: true }));
        assert_eq!(PageTimes::of([b, a, c]), Some(PageTimes { newest: a, oldest: c, descending: false }));
        assert_eq!(PageTimes::of([]), None);
    }
}
