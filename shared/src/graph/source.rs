//! [`GraphSource`]: incremental collection of sign-ins or directory audits, per tenant.
//!
//! The window of a run is `[cursor − overlap, event_time − lag]`, or
//! `[event_time − initial_lookback, …]` on the first run, never older than `event_time −
//! retention` (Graph rejects older filters). Every query has a bounded `$filter` and follows
//! `@odata.nextLink` verbatim to the end. Which queries run, how long their slices of the window
//! are and how many run at once is the [`Schedule`]'s: one lane per sign-in event type (or
//! one for the audits), slices sized to each lane's density, several queries side by side
//! under the tenant's pacing budget, the time budget planned for.
//!
//! Exactly-once in the lake:
//! - ids written at or after `cursor − overlap` are kept in the checkpoint; the overlap
//!   re-scan skips them and picks up records that arrived late;
//! - files are named `<tenant>-g<checkpoint generation>`: every attempt from the same
//!   checkpoint (a retried event, or a run after one killed before its checkpoint) rewrites
//!   the same files, and [`TableWriter::finish`] removes parts an earlier attempt left behind;
//! - the time budget is checked at page boundaries: the run writes what it has, moves the
//!   cursor to where every lane has completed its slices without a gap, remembers the ids it
//!   wrote (also those beyond the cursor), and reports `more_to_do`;
//! - each lane's density goes into the checkpoint, so the next run sizes its slices at once.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;

use super::GraphError;
use super::client::{GraphClient, Page, StopSending};
use super::schedule::{Budget, LaneStart, PageSeen, PageTimes, Schedule, Slice, SliceId};
use crate::checkpoint::{Checkpoint, LaneCheckpoint};
use crate::config::{ALL_SIGNIN_EVENT_TYPES, WindowSettings};
use crate::lake::{QuarantinedRecord, TableWriter};
use crate::pipeline::{Plan, PullOutcome, RunRequest, Source};
use crate::schema::graph::{GraphMapper, GraphTable, RecordKeys, RowContext, record_key, split_by_day};
use crate::schema::{TableDef, entra_directory_audits, entra_signins};

/// What to collect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphKind {
    /// `/beta/auditLogs/signIns`, one query per event type (v1.0 returns interactive only).
    SignIns,
    /// `/v1.0/auditLogs/directoryAudits`.
    DirectoryAudits,
}

impl GraphKind {
    /// The Graph declaration of the kind's records (mapping, time property).
    pub fn graph_table(self) -> &'static GraphTable {
        match self {
            GraphKind::SignIns => &entra_signins::GRAPH,
            GraphKind::DirectoryAudits => &entra_directory_audits::GRAPH,
        }
    }

    /// The lake table the kind's records go to.
    pub fn table(self) -> &'static TableDef {
        match self {
            GraphKind::SignIns => &entra_signins::TABLE,
            GraphKind::DirectoryAudits => &entra_directory_audits::TABLE,
        }
    }
}

/// Restarts of a query from its first page after its nextLink kept failing.
const MAX_QUERY_RESTARTS: u32 = 2;
/// New slices are planned for this share of the requests the remaining time budget could
/// carry at full pace: pages may come slower than that, and a slice the budget cuts short is
/// read again by the next run.
const PLANNED_SHARE: f64 = 0.85;
/// How long a pull whose time budget is up still reads the pages its queries had asked for
/// (they come back within a page's latency; a request that hangs is given up after this).
const DRAIN_GRACE: Duration = Duration::from_secs(30);
/// Queries of one tenant running at once (each holds at most one page in memory). The pacer
/// lets 5 requests per 10 s through; more queries than that would only wait for it.
const MAX_QUERIES_IN_FLIGHT: usize = 5;

/// The Graph pipeline source.
#[derive(Debug)]
pub struct GraphSource {
    client: Arc<GraphClient>,
    kind: GraphKind,
    /// Sign-in event types, one query each (sign-ins only).
    signin_event_types: Vec<String>,
    tenants: Vec<String>,
    settings: WindowSettings,
    /// Tenants pulled at the same time.
    tenant_concurrency: usize,
    /// Locked only while a page is mapped (no await inside).
    mapper: std::sync::Mutex<GraphMapper>,
}

impl GraphSource {
    pub fn new(client: Arc<GraphClient>, kind: GraphKind, tenants: Vec<String>, settings: WindowSettings) -> Self {
        let mapper = std::sync::Mutex::new(GraphMapper::new(kind.graph_table()));
        let signin_event_types = ALL_SIGNIN_EVENT_TYPES.iter().map(|t| t.to_string()).collect();
        GraphSource { client, kind, signin_event_types, tenants, settings, tenant_concurrency: 1, mapper }
    }

    /// Collects only these sign-in event types (default: all four).
    pub fn with_signin_event_types(mut self, event_types: Vec<String>) -> Self {
        self.signin_event_types = event_types;
        self
    }

    /// Pulls up to `n` tenants at the same time. Each tenant has its own pacing budget in the
    /// client, so tenants do not slow each other down; memory grows with `n` (open files).
    pub fn with_tenant_concurrency(mut self, n: usize) -> Self {
        self.tenant_concurrency = n.max(1);
        self
    }

    /// Where a lane's overlap re-scan starts: `overlap` before its cursor, but not before
    /// `read_at − lag − overlap` (see [`LaneCheckpoint::read_at`]): after an outage the
    /// cursor is days behind the time it was read at, and the chained catch-up runs go on
    /// where the last one stopped instead of reading an hour of every lane again.
    fn rescan_from(&self, lane: &LaneCheckpoint) -> DateTime<Utc> {
        let s = &self.settings;
        let full = lane.cursor - s.overlap;
        match lane.read_at {
            Some(read_at) => full.max(read_at - s.lag - s.overlap).min(lane.cursor),
            None => full,
        }
    }

    /// One lane per query kind: the sign-in event types, or the directory audits.
    fn lane_keys(&self) -> Vec<String> {
        match self.kind {
            GraphKind::SignIns => self.signin_event_types.clone(),
            GraphKind::DirectoryAudits => vec!["directoryAudits".to_string()],
        }
    }

    /// The first-page URL of lane `lane`'s query over `[from, to]`, with its context value
    /// (the event type of a sign-in query).
    fn query(&self, lane: usize, from: DateTime<Utc>, to: DateTime<Utc>) -> (String, Option<String>) {
        let (from, to) = (graph_time(from), graph_time(to));
        let base = self.client.graph_url();
        match self.kind {
            GraphKind::SignIns => {
                let t = &self.signin_event_types[lane];
                let filter =
                    format!("createdDateTime ge {from} and createdDateTime le {to} and signInEventTypes/any(t: t eq '{t}')");
                (url_with(&format!("{base}/beta/auditLogs/signIns"), &filter), Some(t.clone()))
            }
            GraphKind::DirectoryAudits => {
                let filter = format!("activityDateTime ge {from} and activityDateTime le {to}");
                (url_with(&format!("{base}/v1.0/auditLogs/directoryAudits"), &filter), None)
            }
        }
    }

    /// The pages of one query, from its first page or from `resume` (a nextLink the previous run
    /// stopped at), following nextLinks; restarts from the first page when a nextLink's skip
    /// token keeps failing or has expired (safe: ids are deduplicated), counting restarts in
    /// `paging.restarts`. See [`QueryPaging`] for when it stops following nextLinks.
    fn pages(
        paging: QueryPaging,
        first: String,
        resume: Option<String>,
    ) -> BoxStream<'static, Result<(Option<String>, Page), GraphError>> {
        struct State {
            paging: QueryPaging,
            next: Option<String>,
            first: String,
            restarts: u32,
        }
        let state = State { next: Some(resume.unwrap_or_else(|| first.clone())), first, restarts: 0, paging };
        futures::stream::unfold(state, |mut s| async move {
            loop {
                let url = s.next.take()?;
                let q = &mut s.paging;
                match q.client.get_page(&q.tenant, &url, &mut q.stop, &q.rank).await {
                    Ok(None) => return None,
                    Ok(Some(page)) => {
                        let last = page.records.iter().rev().find_map(|r| record_key(r.get(), q.time_property));
                        let passed = last.is_some_and(|(_, t)| t.timestamp_millis() < q.stop_before.load(Ordering::Relaxed));
                        s.next = page.next_link.clone().filter(|_| !passed);
                        let context = q.context.clone();
                        return Some((Ok((context, page)), s));
                    }
                    Err(GraphError::InvalidSkipToken { .. }) if s.restarts < MAX_QUERY_RESTARTS => {
                        s.restarts += 1;
                        q.restarts.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(
                            tenant = %q.tenant,
                            restarts = s.restarts,
                            "skip token keeps failing; restarting the query from its first page"
                        );
                        s.next = Some(s.first.clone());
                    }
                    Err(e) => return Some((Err(e), s)),
                }
            }
        })
        .boxed()
    }
}

/// What the page stream of one query ([`GraphSource::pages`]) works with.
struct QueryPaging {
    client: Arc<GraphClient>,
    tenant: String,
    /// The lane's context value (the sign-in event type), handed out with every page.
    context: Option<String>,
    /// The table's time property, read from a page's last record.
    time_property: &'static str,
    /// Milliseconds: after a page whose last record is older than this, no more nextLinks
    /// (records come newest first): the query was split and the rest belongs to the query
    /// that took its older part.
    stop_before: Arc<AtomicI64>,
    /// Set: the stream ends without an error before its next request goes out.
    stop: StopSending,
    /// The pull's count of query restarts.
    restarts: Arc<AtomicU64>,
    /// The query's pages left in hundredths, kept up to date by the pull: its requests' rank
    /// in the tenant's pacer.
    rank: Arc<AtomicU32>,
}

/// Runs `events` in a task of its own, one page ahead of the consumer: a query's next request
/// goes out while its page before is mapped and written (which would otherwise hold the query,
/// and the tenant's pacing budget, idle). At most one page waits per query.
fn prefetched(fetchers: &mut tokio::task::JoinSet<()>, mut events: BoxStream<'static, Event>) -> BoxStream<'static, Event> {
    let (tx, rx) = tokio::sync::mpsc::channel(1);
    fetchers.spawn(async move {
        while let Some(event) = events.next().await {
            if tx.send(event).await.is_err() {
                break;
            }
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|event| (event, rx)) }).boxed()
}

fn whole_millis(t: DateTime<Utc>) -> DateTime<Utc> {
    use chrono::DurationRound;
    t.duration_trunc(chrono::TimeDelta::milliseconds(1)).unwrap_or(t)
}

/// Graph's filter timestamp form: `2026-11-28T10:00:00.123Z`.
fn graph_time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn url_with(base: &str, filter: &str) -> String {
    let mut url = url::Url::parse(base).expect("Graph URLs are validated in config");
    url.query_pairs_mut().append_pair("$filter", filter).append_pair("$top", "1000");
    url.to_string()
}

fn dates_between(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<NaiveDate> {
    let mut out = Vec::new();
    let mut d = from.date_naive();
    while d <= to.date_naive() {
        out.push(d);
        d = d.succ_opt().expect("dates in range");
    }
    out
}

/// What one pull tracks while it runs.
struct Progress {
    /// Ids from the checkpoint plus every id written (or quarantined) in this run.
    seen: BTreeMap<String, DateTime<Utc>>,
    rows: u64,
    skipped_duplicates: u64,
    pages: u64,
    /// HTTP requests the pages took (retries and 429s included).
    requests: u64,
}

/// What the running queries of a pull yield: a page of a slice, or the end of a slice.
enum Event {
    /// With the time since the query's previous page (or its start).
    Page(SliceId, Duration, Result<(Option<String>, Page), GraphError>),
    Done(SliceId),
}

#[async_trait]
impl Source for GraphSource {
    type Error = GraphError;

    fn unit_concurrency(&self) -> usize {
        self.tenant_concurrency
    }

    fn table(&self) -> &'static TableDef {
        self.kind.table()
    }

    async fn units(&self) -> Result<Vec<String>, GraphError> {
        Ok(self.tenants.clone())
    }

    fn plan(&self, unit: &str, checkpoint: Option<&Checkpoint>, request: &RunRequest) -> Plan {
        let s = &self.settings;
        // Window bounds (and so every slice boundary) fall on whole milliseconds, the
        // precision of the lake's times and of the filters sent to Graph.
        let event_time = whole_millis(request.event_time);
        let end = event_time - s.lag;
        let earliest = event_time - s.retention;
        let start = match checkpoint {
            Some(c) => whole_millis(c.cursor) - s.overlap,
            None => event_time - s.initial_lookback,
        };
        if start < earliest {
            tracing::warn!(tenant = unit, wanted = %start, earliest = %earliest, "window start is beyond Graph's retention; records older than the retention are gone");
        }
        let generation = checkpoint.map_or(0, |c| c.generation);
        Plan {
            stem: format!("{unit}-g{generation:06}"),
            window_start: Some(start.max(earliest)),
            window_end: end,
            partition: None,
        }
    }

    async fn pull(
        &self,
        unit: &str,
        plan: &Plan,
        checkpoint: Option<&Checkpoint>,
        request: &RunRequest,
        out: &mut TableWriter,
    ) -> Result<PullOutcome, GraphError> {
        let tenant = unit;
        let start = plan.window_start.unwrap_or(plan.window_end);
        let end = plan.window_end;
        let deadline = request.started + self.settings.time_budget;
        let cursor_before = checkpoint.map_or(start, |c| c.cursor);
        let mut progress = Progress {
            seen: checkpoint.map(|c| c.seen_ids.clone()).unwrap_or_default(),
            rows: 0,
            skipped_duplicates: 0,
            pages: 0,
            requests: 0,
        };
        if end <= start {
            return Ok(PullOutcome {
                cursor: cursor_before,
                seen_ids: progress.seen,
                more_to_do: false,
                lanes: checkpoint.map(|c| c.lanes.clone()).unwrap_or_default(),
                detail: None,
            });
        }
        // Every partition of the window belongs to this attempt's files (see module docs).
        for dt in dates_between(start, end) {
            out.claim(dt);
        }

        let query_restarts = Arc::new(AtomicU64::new(0));
        // The tasks that fetch pages; dropping the set (at the end, or on a stop) aborts them.
        let mut fetchers = tokio::task::JoinSet::new();
        // A lane that was ahead of the others starts where it stood (less the overlap).
        let remembered = checkpoint.map(|c| c.lanes.clone()).unwrap_or_default();
        let lanes = self
            .lane_keys()
            .into_iter()
            .map(|key| {
                let lane = remembered.get(&key);
                let start = lane.map_or(start, |l| self.rescan_from(l).max(start));
                LaneStart {
                    key,
                    start,
                    rows_per_hour: lane.and_then(|l| l.rows_per_hour),
                    max_slice: lane.and_then(|l| l.max_slice_secs).map(chrono::TimeDelta::seconds),
                    resume: lane.and_then(|l| l.resume.clone()),
                }
            })
            .collect();
        let interval = self.client.request_interval();
        let mut schedule = Schedule::new(lanes, end, MAX_QUERIES_IN_FLIGHT).with_request_interval(interval);
        let mut running = futures::stream::SelectAll::new();
        // Per running query: what the pull tells its paging while it runs.
        let mut steering: HashMap<SliceId, Steering> = HashMap::new();
        // Set when the time budget is up: no request goes out after it, the pages already
        // asked for are read for up to DRAIN_GRACE more.
        let (stop_tx, stop_sending) = StopSending::channel();
        let mut stopping = false;
        loop {
            // Start what the budget can carry (see `schedule`), then split a lone long query;
            // nothing once the budget is up.
            if !stopping {
                loop {
                    let left = deadline.saturating_duration_since(tokio::time::Instant::now()).mul_f64(PLANNED_SHARE);
                    let budget = Budget { requests: left.as_secs_f64() / interval.as_secs_f64().max(1e-6), left };
                    let slice = match schedule.next_slice(Some(budget)) {
                        Some(slice) => slice,
                        None => match schedule.split(Some(budget)) {
                            Some(split) => {
                                sync_stop(&schedule, &steering, split.cut);
                                tracing::debug!(tenant, cut = split.cut, at = %split.slice.to, "split a lone query");
                                split.slice
                            }
                            None => break,
                        },
                    };
                    tracing::debug!(tenant, slice = slice.id, lane = slice.lane, from = %slice.from, to = %slice.to, resumed = slice.resume_link.is_some(), "query starts");
                    let steer = Steering {
                        stop_before: Arc::new(AtomicI64::new(slice.from.timestamp_millis())),
                        rank: Arc::new(AtomicU32::new(0)),
                    };
                    steering.insert(slice.id, steer.clone());
                    let events = self.slice_events(tenant, slice, steer, stop_sending.clone(), query_restarts.clone());
                    running.push(prefetched(&mut fetchers, events));
                }
                sync_ranks(&schedule, &steering);
            }
            let until = if stopping { deadline + DRAIN_GRACE } else { deadline };
            let event = match tokio::time::timeout_at(until, running.next()).await {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(_) if !stopping => {
                    stopping = true;
                    stop_tx.send_replace(true);
                    tracing::info!(tenant, cursor = %schedule.cursor(), running = schedule.running(), "time budget reached: no more requests; reading the pages already asked for");
                    continue;
                }
                // A page still not back after the grace is dropped; the next run asks again.
                Err(_) => break,
            };
            match event {
                Event::Page(_, _, Err(e)) => return Err(e),
                Event::Page(id, elapsed, Ok((context, page))) => {
                    let Some((_, from, to)) = schedule.bounds(id) else {
                        continue;
                    };
                    tracing::debug!(
                        tenant,
                        slice = id,
                        rows = page.records.len(),
                        elapsed_ms = elapsed.as_millis() as u64,
                        more = page.next_link.is_some(),
                        running = schedule.running(),
                        "page"
                    );
                    progress.pages += 1;
                    progress.requests += u64::from(page.requests);
                    let (next_link, latency) = (page.next_link.clone(), page.latency);
                    let written =
                        self.write_page(tenant, from, to, context.as_deref(), page, request, out, &mut progress).await?;
                    let seen = PageSeen {
                        rows: written.in_bounds,
                        times: written.times,
                        next_link: next_link.as_deref(),
                        elapsed,
                        latency,
                    };
                    if schedule.page(id, seen) {
                        tracing::warn!(
                            tenant,
                            "Graph returned records out of its documented newest-first order; queries are no longer split or narrowed in this run"
                        );
                        for steer in steering.values() {
                            steer.stop_before.store(i64::MIN, Ordering::Relaxed);
                        }
                    } else {
                        // The page may have narrowed the query (see `Schedule::page`).
                        sync_stop(&schedule, &steering, id);
                    }
                    sync_ranks(&schedule, &steering);
                }
                Event::Done(id) => {
                    tracing::debug!(tenant, slice = id, "query done");
                    steering.remove(&id);
                    // A query the stop ended before its last page goes on in the next run.
                    if stopping && !schedule.read_to_end(id) {
                        continue;
                    }
                    schedule.complete(id);
                    // Every lane is past this day: it gets no more rows in this run.
                    let cursor = schedule.cursor();
                    out.close_before(cursor.date_naive()).await?;
                    // The progress of long catch-ups (a CLI backfill, a run after an outage).
                    let done_percent = (cursor - start).num_seconds() * 100 / (end - start).num_seconds().max(1);
                    tracing::info!(
                        target: crate::pipeline::PROGRESS_TARGET,
                        tenant,
                        table = self.table().name,
                        collected_to = %cursor.to_rfc3339_opts(SecondsFormat::Secs, true),
                        window_end = %end.to_rfc3339_opts(SecondsFormat::Secs, true),
                        done_percent,
                        rows = progress.rows,
                        "slice done"
                    );
                }
            }
        }
        drop(running);
        drop(fetchers);
        if stopping {
            schedule.stop();
        }
        let more_to_do = stopping || !schedule.finished();
        // Lane cursors never move back (a lane that re-scanned its overlap and stopped ends
        // before where it stood); the unit's cursor is the lowest lane's.
        let mut lanes = schedule.lanes();
        for (key, lane) in &mut lanes {
            // A lane whose cursor moved read everything from its start to it in this run.
            lane.read_at = Some(request.event_time);
            if let Some(before) = remembered.get(key)
                && lane.cursor <= before.cursor
            {
                lane.cursor = before.cursor;
                lane.read_at = before.read_at;
            }
        }
        let lowest = lanes.values().map(|l| l.cursor).min().unwrap_or(end);
        let cursor = lowest.max(cursor_before);

        // Keep the ids the next overlap re-scan of any lane will meet again.
        let keep_from = lowest - self.settings.overlap;
        progress.seen.retain(|_, t| *t >= keep_from);
        Ok(PullOutcome {
            cursor,
            seen_ids: progress.seen,
            more_to_do,
            lanes,
            detail: Some(serde_json::json!({
                "window_start": start,
                "window_end": end,
                "queries": schedule.slices_started(),
                "resumed": schedule.slices_resumed(),
                "splits": schedule.splits(),
                "narrowed": schedule.narrowed(),
                "slices_done": schedule.slices_completed(),
                "requests": progress.requests,
                "pages": progress.pages,
                "skipped_duplicates": progress.skipped_duplicates,
                "query_restarts": query_restarts.load(Ordering::Relaxed),
                "client": self.client.stats(),
            })),
        })
    }
}

/// Tells the running query `id` where it now starts (a split or a narrowing moved its start
/// up): it stops following nextLinks once its pages reach records older than that. Not once
/// records came out of order: then every query reads to its own end.
fn sync_stop(schedule: &Schedule, steering: &HashMap<SliceId, Steering>, id: SliceId) {
    if schedule.in_order()
        && let (Some((_, from, _)), Some(steer)) = (schedule.bounds(id), steering.get(&id))
    {
        steer.stop_before.store(from.timestamp_millis(), Ordering::Relaxed);
    }
}

/// What the pull tells a running query's paging: shared with it, changed as pages come.
#[derive(Debug, Clone)]
struct Steering {
    /// Milliseconds: the query stops following nextLinks after a page older than this (see
    /// [`QueryPaging`]).
    stop_before: Arc<AtomicI64>,
    /// Its pages left in hundredths: its requests' rank in the tenant's pacer.
    rank: Arc<AtomicU32>,
}

/// Gives each running query's requests its pages left as their rank in the tenant's pacer
/// (see [`super::pacer::Pacer::acquire_ranked`]), so that the queries end together.
fn sync_ranks(schedule: &Schedule, steering: &HashMap<SliceId, Steering>) {
    for (id, steer) in steering {
        steer.rank.store((schedule.pages_left(*id) * 100.0).round().clamp(0.0, f64::from(u32::MAX)) as u32, Ordering::Relaxed);
    }
}

/// What [`GraphSource::write_page`] saw of a page.
struct PageWritten {
    /// Records inside the slice's bounds (written, or skipped as already written).
    in_bounds: usize,
    /// The records' times, in the order they came.
    times: Option<PageTimes>,
}

impl GraphSource {
    /// The events of one running slice: its pages, then its end.
    fn slice_events(
        &self,
        tenant: &str,
        slice: Slice,
        steer: Steering,
        stop: StopSending,
        restarts: Arc<AtomicU64>,
    ) -> BoxStream<'static, Event> {
        let (url, context) = self.query(slice.lane, slice.from, slice.to);
        let id = slice.id;
        let mut last = tokio::time::Instant::now();
        let paging = QueryPaging {
            client: self.client.clone(),
            tenant: tenant.to_string(),
            context,
            time_property: self.kind.graph_table().time_property,
            stop_before: steer.stop_before,
            stop,
            restarts,
            rank: steer.rank,
        };
        Self::pages(paging, url, slice.resume_link)
            .map(move |page| {
                let now = tokio::time::Instant::now();
                let elapsed = now - std::mem::replace(&mut last, now);
                Event::Page(id, elapsed, page)
            })
            .chain(futures::stream::once(async move { Event::Done(id) }))
            .boxed()
    }

    #[allow(clippy::too_many_arguments)]
    async fn write_page(
        &self,
        tenant: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        context: Option<&str>,
        page: Page,
        request: &RunRequest,
        out: &mut TableWriter,
        progress: &mut Progress,
    ) -> Result<PageWritten, GraphError> {
        let table = self.kind.graph_table();
        let mapping_error = |e: arrow_schema::ArrowError| GraphError::Mapping { tenant: tenant.into(), message: e.to_string() };
        let context_values: Vec<&str> = context.into_iter().collect();
        let ctx = RowContext { tenant_id: tenant, context: &context_values, ingested_at: Utc::now(), run_id: &request.run_id };
        let records = arrow_array::StringArray::from_iter_values(page.records.iter().map(|r| r.get()));
        let mapped =
            self.mapper.lock().unwrap_or_else(std::sync::PoisonError::into_inner).map(&records, &ctx).map_err(mapping_error)?;
        for rejected in mapped.rejected {
            // Kept under the record's own day and id when those are readable, so that a
            // re-scan of the overlap does not quarantine it a second time.
            let key = crate::schema::graph::record_key(&rejected.raw, table.time_property);
            if let Some((id, time)) = &key
                && (*time < from || *time >= to || progress.seen.insert(id.clone(), *time).is_some())
            {
                continue;
            }
            let dt = key.map_or(from.date_naive(), |(_, time)| time.date_naive());
            out.quarantine(
                dt,
                QuarantinedRecord { origin: format!("tenant {tenant}"), reason: rejected.reason, raw: rejected.raw },
            );
        }
        let Some(batch) = mapped.batch else {
            return Ok(PageWritten { in_bounds: 0, times: None });
        };
        let keys = RecordKeys::of(&batch, table).map_err(mapping_error)?;
        let times = PageTimes::of((0..batch.num_rows()).filter_map(|i| keys.get(i).map(|(_, time)| time)));
        let mut in_bounds = 0;
        let mut keep = arrow_array::builder::BooleanBuilder::with_capacity(batch.num_rows());
        for i in 0..batch.num_rows() {
            let Some((id, time)) = keys.get(i) else {
                out.quarantine(
                    from.date_naive(),
                    QuarantinedRecord {
                        origin: format!("tenant {tenant}, {} page", table.time_property),
                        reason: format!("record has no readable id or {}", table.time_property),
                        raw: keys.raws.value(i).to_string(),
                    },
                );
                keep.append_value(false);
                continue;
            };
            // `ge`/`le` are inclusive: a record on a slice boundary belongs to the later slice
            // (or to the next run, whose window starts before this one's end).
            if time < from || time >= to {
                keep.append_value(false);
                continue;
            }
            in_bounds += 1;
            // Written by an earlier run in the overlap, or earlier in this run (a record
            // Graph returned twice).
            if progress.seen.contains_key(id) {
                progress.skipped_duplicates += 1;
                keep.append_value(false);
                continue;
            }
            progress.seen.insert(id.to_string(), time);
            keep.append_value(true);
        }
        for (dt, rows) in split_by_day(&batch, keys.times, Some(&keep.finish())).map_err(mapping_error)? {
            out.write(dt, &rows).await?;
            progress.rows += rows.num_rows() as u64;
        }
        Ok(PageWritten { in_bounds, times })
    }
}
