//! Progress bars for long collection runs on a terminal.
//!
//! [`ProgressLayer`] is a tracing layer that turns the pipeline's progress events
//! ([`PROGRESS_TARGET`]: a Graph slice done) into one indicatif bar per tenant, 0–100 % of its
//! window. [`SuspendingWriter`] writes the ordinary log lines above the bars (it hides them,
//! writes, and redraws), so the two never garble each other. Only used when stderr is a
//! terminal and logs are text; otherwise the same events are plain log lines.

use std::collections::HashMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

use auditlake_core::pipeline::PROGRESS_TARGET;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::{Context, Layer};

/// The bars on screen, once [`ProgressLayer`] is installed.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Whether any bar was drawn.
static DRAWN: AtomicBool = AtomicBool::new(false);

/// Ends the output: the finished bars stay on screen, and what follows (the shell prompt)
/// starts on a line of its own.
pub fn finish() {
    if DRAWN.load(Ordering::Relaxed) {
        std::eprintln!();
    }
}

/// Prints a line for the user on stderr, above the progress bars when there are any.
pub fn eprintln(line: &str) {
    match BARS.get() {
        Some(bars) => bars.suspend(|| std::eprintln!("{line}")),
        None => std::eprintln!("{line}"),
    }
}

/// Reports the bytes read of a long file: a bar with rate and ETA on a terminal, else a log
/// line at every tenth of the file.
#[derive(Debug)]
pub struct FileProgress {
    bar: Option<ProgressBar>,
    name: String,
    total: u64,
    logged_tenths: std::sync::atomic::AtomicU64,
}

impl FileProgress {
    pub fn new(name: &str, total: u64) -> Self {
        let bar = BARS.get().map(|bars| {
            let style = ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
                .expect("a valid progress template")
                .progress_chars("=> ");
            DRAWN.store(true, Ordering::Relaxed);
            bars.add(ProgressBar::new(total).with_style(style).with_prefix(name.to_string()))
        });
        FileProgress { bar, name: name.to_string(), total, logged_tenths: Default::default() }
    }

    /// `read` bytes of the file are done.
    pub fn update(&self, read: u64) {
        match &self.bar {
            Some(bar) => bar.set_position(read),
            None if self.total > 0 => {
                let tenths = (read.min(self.total) * 10 / self.total).min(10);
                if self.logged_tenths.fetch_max(tenths, Ordering::Relaxed) < tenths {
                    tracing::info!(file = %self.name, read, total = self.total, "importing: {}0 % read", tenths);
                }
            }
            None => {}
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }
}

/// One bar per tenant, fed by progress events.
pub struct ProgressLayer {
    bars: MultiProgress,
    by_unit: Mutex<HashMap<String, ProgressBar>>,
}

impl ProgressLayer {
    /// A layer drawing on `bars`; the first one created also receives [`eprintln()`]'s lines.
    pub fn new(bars: MultiProgress) -> Self {
        let _ = BARS.set(bars.clone());
        ProgressLayer { bars, by_unit: Mutex::new(HashMap::new()) }
    }

    fn bar(&self, unit: &str, table: &str) -> ProgressBar {
        let mut by_unit = self.by_unit.lock().unwrap_or_else(|e| e.into_inner());
        by_unit
            .entry(unit.to_string())
            .or_insert_with(|| {
                let style = ProgressStyle::with_template("{prefix} [{bar:30}] {pos:>3}% {msg}")
                    .expect("a valid progress template")
                    .progress_chars("=> ");
                DRAWN.store(true, Ordering::Relaxed);
                self.bars.add(ProgressBar::new(100).with_style(style).with_prefix(format!("{table} {unit}")))
            })
            .clone()
    }
}

/// The fields of a progress event.
#[derive(Default)]
struct ProgressFields {
    tenant: Option<String>,
    table: Option<String>,
    collected_to: Option<String>,
    done_percent: Option<u64>,
    rows: Option<u64>,
}

impl Visit for ProgressFields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "tenant" => self.tenant = Some(value.to_string()),
            "table" => self.table = Some(value.to_string()),
            _ => {}
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0) as u64);
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "done_percent" => self.done_percent = Some(value.min(100)),
            "rows" => self.rows = Some(value),
            _ => {}
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "collected_to" {
            self.collected_to = Some(format!("{value:?}"));
        }
    }
}

impl<S: Subscriber> Layer<S> for ProgressLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != PROGRESS_TARGET {
            return;
        }
        let mut fields = ProgressFields::default();
        event.record(&mut fields);
        let (Some(unit), Some(done)) = (fields.tenant, fields.done_percent) else { return };
        let bar = self.bar(&unit, fields.table.as_deref().unwrap_or(""));
        bar.set_position(done);
        bar.set_message(format!(
            "{} rows, collected to {}",
            fields.rows.unwrap_or(0),
            fields.collected_to.as_deref().unwrap_or("?")
        ));
        if done >= 100 {
            bar.finish();
        }
    }
}

/// Log lines to stderr, written with the bars hidden for the moment.
#[derive(Clone)]
pub struct SuspendingWriter {
    bars: MultiProgress,
}

impl SuspendingWriter {
    pub fn new(bars: MultiProgress) -> Self {
        SuspendingWriter { bars }
    }
}

/// Collects one formatted log line and writes it whole when dropped.
pub struct LineWriter {
    bars: MultiProgress,
    line: Vec<u8>,
}

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.line.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if !self.line.is_empty() {
            // A log line that cannot be written has nowhere better to go.
            self.bars.suspend(|| {
                let _ = std::io::stderr().write_all(&self.line);
            });
        }
    }
}

impl<'a> MakeWriter<'a> for SuspendingWriter {
    type Writer = LineWriter;

    fn make_writer(&'a self) -> LineWriter {
        LineWriter { bars: self.bars.clone(), line: Vec::new() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt;

    #[test]
    fn progress_events_move_one_bar_per_tenant() {
        let bars = MultiProgress::with_draw_target(indicatif::ProgressDrawTarget::hidden());
        let layer = std::sync::Arc::new(ProgressLayer::new(bars));
        let subscriber = tracing_subscriber::registry().with(ArcLayer(layer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let to = chrono::DateTime::parse_from_rfc3339("2026-11-28T10:00:00Z").unwrap();
            tracing::info!(target: PROGRESS_TARGET, tenant = "t1", table = "entra_signins", collected_to = %to, done_percent = 40i64, rows = 1200u64, "slice done");
            tracing::info!(target: PROGRESS_TARGET, tenant = "t2", table = "entra_signins", collected_to = %to, done_percent = 100i64, rows = 7u64, "slice done");
            tracing::info!(target: PROGRESS_TARGET, tenant = "t1", table = "entra_signins", collected_to = %to, done_percent = 60i64, rows = 1900u64, "slice done");
            // Other events are not progress.
            tracing::info!(tenant = "t3", done_percent = 10i64, "something else");
        });
        let bars = layer.by_unit.lock().unwrap();
        assert_eq!(bars.len(), 2);
        assert_eq!(bars["t1"].position(), 60);
        assert_eq!(bars["t1"].message(), "1900 rows, collected to 2026-11-28 10:00:00 +00:00");
        assert!(bars["t2"].is_finished());
    }

    /// Lets the test keep a handle on the layer it installs.
    struct ArcLayer(std::sync::Arc<ProgressLayer>);

    impl<S: Subscriber> Layer<S> for ArcLayer {
        fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
            self.0.on_event(event, ctx)
        }
    }
}
