//! Splits Graph JSON exports into record texts, streaming, with the line each record starts on.
//!
//! Three shapes are accepted, told apart as they are read:
//! - a Graph list response, `{"@odata.context": …, "value": [ {record}, … ], …}` (several such
//!   objects one after another too, as a paged download saved to one file);
//! - a bare array of records, `[ {record}, … ]`, as the Entra portal downloads them;
//! - JSON lines: one record per line (or records simply one after another, pretty-printed).
//!   Once the first record has begun and ended on one line, the file is taken as JSON lines:
//!   a line that is one object is a record as it stands (found with `memchr`, not scanned), a
//!   line that ends inside a record is a broken record of its own.
//!
//! Hand-written rather than a JSON library's streaming reader: serde_json streams only
//! top-level values, and the records here sit one or two levels down inside a value that can
//! be gigabytes long; we need each record's exact text (it is stored as `raw`) and its line
//! number, and nothing else. The scanner only tracks strings, nesting and the top-level keys,
//! jumping over string text and the bytes between tokens; the records themselves are parsed
//! later by the collectors' mapping, which quarantines what it cannot read. Records come out
//! in chunks ([`RecordChunk`]): their texts back to back in one Arrow string array, which the
//! mapping keeps as the `raw` column without copying it.

use std::io::Read;
use std::sync::{Arc, Mutex, Weak};

use arrow_array::StringArray;
use arrow_buffer::{Buffer, OffsetBuffer, ScalarBuffer};

/// Records split from the file, several at a time: their texts back to back in one string
/// array (which the mapping keeps as the `raw` column without copying it), and the 1-based
/// line each starts on.
#[derive(Debug, Clone)]
pub struct RecordChunk {
    pub texts: StringArray,
    pub lines: Vec<u64>,
}

/// Where the scanner stands in the file's top-level value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Top {
    /// Between top-level values.
    Between,
    /// Inside a top-level array: its objects are records.
    Array,
    /// Inside a top-level object that may still turn out to be a list response.
    Object,
    /// Inside the `value` array of a list response: its objects are records.
    List,
}

/// A streaming splitter over any reader, read chunk by chunk ([`Records::next_chunk`]).
#[derive(Debug)]
pub struct Records<R> {
    reader: R,
    chunk: Vec<u8>,
    at: usize,
    filled: usize,
    done: bool,
    started: bool,
    line: u64,
    depth: usize,
    top: Top,
    in_string: bool,
    escaped: bool,
    /// Depth at which the current record's `{` was read, its line, and where its text starts
    /// in `out`; its bytes are copied into `out` up to `copied` in `chunk` (in runs, not one
    /// byte at a time).
    record: Option<(usize, u64, usize)>,
    copied: usize,
    /// The finished records of the chunk being filled: texts back to back, the offset where
    /// each ends, the line where each starts.
    out: Vec<u8>,
    ends: Vec<i32>,
    lines: Vec<u64>,
    /// Top-level object keys: collecting one, the last one read, and whether a value follows.
    key: Option<Vec<u8>>,
    last_key: Vec<u8>,
    expect_key: bool,
    /// Whether the file is JSON lines: the first record began and ended on one line. Then a
    /// line that ends inside a record is a broken record on its own, not the start of a
    /// pretty-printed one, and a line that is one object is taken whole without scanning it.
    line_records: Option<bool>,
    /// A read error, reported once the records before it are handed out.
    failed: Option<std::io::Error>,
    /// The longest record text accepted ([`MAX_RECORD_BYTES`]).
    max_record: usize,
    /// Where `out` comes from, and where a chunk's text goes back once nothing uses it.
    pool: ChunkPool,
}

/// The longest record the splitter keeps. A Graph record is a few KB (Microsoft's published
/// example sign-ins are under 3 KB; one with dozens of conditional-access policies, tens of
/// KB); a record that runs on for 64 MiB is a file whose closing brace is missing or that is
/// not Graph JSON at all, and keeping it would hold the rest of the file in memory. The import
/// stops there and names the line the record starts on.
pub const MAX_RECORD_BYTES: usize = 64 << 20;

/// Bytes read from the input at a time.
const CHUNK: usize = 1 << 20;

/// The bytes outside strings that [`Records::scan`] acts on: inside a top-level object (where
/// `,` and `:` tell keys from values) and anywhere else.
const TOP_LEVEL: [bool; 256] = structural(b"\"{}[],:\n");
const NESTED: [bool; 256] = structural(b"\"{}[]\n");

const fn structural(bytes: &[u8]) -> [bool; 256] {
    let mut table = [false; 256];
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
}

impl<R: Read> Records<R> {
    pub fn new(reader: R) -> Self {
        Records {
            reader,
            chunk: vec![0; CHUNK],
            at: 0,
            filled: 0,
            done: false,
            started: false,
            line: 1,
            depth: 0,
            top: Top::Between,
            in_string: false,
            escaped: false,
            record: None,
            copied: 0,
            out: Vec::new(),
            ends: Vec::new(),
            lines: Vec::new(),
            key: None,
            last_key: Vec::new(),
            expect_key: false,
            line_records: None,
            failed: None,
            max_record: MAX_RECORD_BYTES,
            pool: ChunkPool::default(),
        }
    }

    /// The next records, at least one unless the input is done: up to `records` of them, or
    /// fewer once their texts reach `bytes`.
    pub fn next_chunk(&mut self, records: usize, bytes: usize) -> Option<std::io::Result<RecordChunk>> {
        if self.out.capacity() == 0 {
            self.out = self.pool.take();
        }
        self.out.reserve(bytes.min(CHUNK * 16).saturating_sub(self.out.len()));
        loop {
            let finished = self.ends.last().map_or(0, |&end| end as usize);
            if self.ends.len() >= records.max(1) || finished >= bytes || self.failed.is_some() || !self.step() {
                break;
            }
        }
        if self.ends.is_empty() {
            return self.failed.take().map(Err);
        }
        let (mut out, ends, lines) =
            (std::mem::take(&mut self.out), std::mem::take(&mut self.ends), std::mem::take(&mut self.lines));
        // A record still open is carried over into the next chunk's buffer.
        if let Some((_, _, start)) = self.record.as_mut() {
            let from = std::mem::replace(start, 0);
            self.out = self.pool.take();
            self.out.extend_from_slice(&out[from..]);
        }
        out.truncate(*ends.last().expect("not empty") as usize);
        Some(chunk(self.pool.share(out), ends, lines))
    }

    /// Scans what the input holds next, up to a finished record or a chunk of input; `false`
    /// when the input is done.
    fn step(&mut self) -> bool {
        if self.at == self.filled {
            return self.refill();
        }
        if self.line_records == Some(true) && self.top == Top::Between && self.record.is_none() && !self.in_string {
            // JSON lines: a line that is one object is a record as it stands; anything else
            // (a broken line, one that runs into the next read) goes through the scanner.
            let rest = &self.chunk[self.at..self.filled];
            if let Some(end) = memchr::memchr(b'\n', rest) {
                let text = rest[..end].trim_ascii();
                if text.is_empty() || (text.first() == Some(&b'{') && text.last() == Some(&b'}')) {
                    if !text.is_empty() {
                        self.out.extend_from_slice(text);
                        self.push_record(self.line);
                    }
                    self.line += 1;
                    self.at += end + 1;
                    self.copied = self.at;
                    return true;
                }
            }
        }
        // Runs of bytes that change nothing are skipped in one go: a string's text up to its
        // closing quote, escape or line break, and between tokens whatever is not structural
        // (digits, literals, spaces).
        let rest = &self.chunk[self.at..self.filled];
        let skip = if self.in_string {
            if self.escaped || self.key.is_some() { Some(0) } else { memchr::memchr3(b'"', b'\\', b'\n', rest) }
        } else {
            let structural = if self.depth == 1 && self.top == Top::Object { &TOP_LEVEL } else { &NESTED };
            rest.iter().position(|&b| structural[b as usize])
        };
        let Some(skip) = skip else {
            self.at = self.filled;
            return true;
        };
        self.at += skip;
        let b = self.chunk[self.at];
        self.at += 1;
        self.scan(b);
        true
    }

    /// Reads the next piece of input; `false` at its end (a record still open there was cut
    /// off: it becomes a record of its own, which the mapping rejects).
    fn refill(&mut self) -> bool {
        self.copy_record();
        if let Some((_, line, start)) = self.record
            && self.out.len() - start > self.max_record
        {
            self.failed = Some(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "line {line}: a record starts here and runs on for more than {} MiB (a Graph record is a few KB): \
                     a closing brace is missing, or the file is not Graph JSON",
                    self.max_record >> 20
                ),
            ));
            self.record = None;
            self.done = true;
            return false;
        }
        loop {
            if self.done {
                if let Some((_, line, start)) = self.record.take() {
                    self.push_cut_off(start, line, false);
                }
                return false;
            }
            match self.reader.read(&mut self.chunk) {
                Ok(0) => self.done = true,
                Ok(n) => {
                    (self.filled, self.at, self.copied) = (n, 0, 0);
                    if !self.started {
                        self.started = true;
                        // A UTF-8 byte order mark, as Windows tools write.
                        if self.chunk[..n].starts_with(&[0xEF, 0xBB, 0xBF]) {
                            (self.at, self.copied) = (3, 3);
                        }
                    }
                    return true;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.failed = Some(e);
                    return false;
                }
            }
        }
    }

    /// Whether an object opening at the current depth is a record.
    fn record_position(&self) -> bool {
        match self.top {
            Top::Between => self.depth == 0,
            Top::Array => self.depth == 1,
            Top::List => self.depth == 2,
            Top::Object => false,
        }
    }

    /// Copies the open record's bytes read so far (up to `at`) out of the input chunk.
    fn copy_record(&mut self) {
        if self.record.is_some() {
            self.out.extend_from_slice(&self.chunk[self.copied..self.at]);
        }
        self.copied = self.at;
    }

    /// The record whose text ends `out` starts on `line`.
    fn push_record(&mut self, line: u64) {
        // Offsets are 32-bit (a string array's): a chunk is cut once it holds `bytes`, and a
        // record longer than `max_record` stops the split, so the end stays far below 2 GiB.
        self.ends.push(i32::try_from(self.out.len()).unwrap_or(i32::MAX));
        self.lines.push(line);
    }

    /// The record whose text starts at `start` in `out` was cut off (the input ended, or its
    /// JSON line did): it is kept as the text it has, made valid UTF-8, and without the line
    /// break it was cut at when `at_line_break`.
    fn push_cut_off(&mut self, start: usize, line: u64, at_line_break: bool) {
        let text = String::from_utf8_lossy(&self.out[start..]);
        let text = if at_line_break { text.trim_end().to_string() } else { text.into_owned() };
        self.out.truncate(start);
        self.out.extend_from_slice(text.as_bytes());
        self.push_record(line);
    }

    fn finish_record(&mut self) {
        self.copy_record();
        let Some((_, line, _)) = self.record.take() else {
            return;
        };
        if self.top == Top::Between && self.line_records.is_none() {
            self.line_records = Some(line == self.line);
        }
        self.push_record(line);
    }

    /// Scans one byte, the one before `at`.
    fn scan(&mut self, b: u8) {
        if self.in_string && b == b'\n' {
            // JSON strings hold no raw line breaks: this one was cut off; the line handling
            // below deals with the record it was in.
            self.in_string = false;
            self.escaped = false;
            self.key = None;
        } else if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
                if let Some(key) = self.key.take() {
                    self.last_key = key;
                }
            } else if let Some(key) = &mut self.key {
                key.push(b);
            }
            return;
        }
        match b {
            b'"' => {
                self.in_string = true;
                if self.depth == 1 && self.top == Top::Object && self.expect_key {
                    self.key = Some(Vec::new());
                }
            }
            b'{' => {
                if self.record.is_none() && self.record_position() {
                    // A top-level object is a record until it shows a `value` array.
                    self.record = Some((self.depth, self.line, self.out.len()));
                    self.copied = self.at - 1;
                }
                if self.depth == 0 {
                    self.top = Top::Object;
                    self.expect_key = true;
                }
                self.depth += 1;
            }
            b'[' => {
                if self.depth == 0 {
                    self.top = Top::Array;
                } else if self.depth == 1 && self.top == Top::Object && self.last_key == b"value" {
                    self.top = Top::List;
                    if let Some((_, _, start)) = self.record.take() {
                        self.out.truncate(start);
                    }
                }
                self.depth += 1;
            }
            b'}' | b']' => {
                self.depth = self.depth.saturating_sub(1);
                if self.depth == 0 {
                    let was_record = self.top == Top::Object && self.record.is_some();
                    self.top = Top::Between;
                    self.last_key.clear();
                    if was_record {
                        self.finish_record();
                    }
                } else if b == b'}' && self.record.as_ref().is_some_and(|(d, _, _)| *d == self.depth) {
                    self.finish_record();
                }
            }
            b',' if self.depth == 1 && self.top == Top::Object => self.expect_key = true,
            b':' if self.depth == 1 && self.top == Top::Object => self.expect_key = false,
            b'\n' => {
                self.line += 1;
                // A JSON line that ends inside its record: that line is broken, a record of
                // its own (the mapping rejects it, so it is quarantined with its line); start
                // afresh.
                if self.line_records == Some(true) && self.depth > 0 && self.top == Top::Object {
                    self.copy_record();
                    let (line, start) = self.record.take().map_or((self.line - 1, self.out.len()), |(_, l, s)| (l, s));
                    self.push_cut_off(start, line, true);
                    self.depth = 0;
                    self.top = Top::Between;
                }
            }
            _ => {}
        }
    }
}

/// The string array of a chunk's records; the first record that is not UTF-8 fails the chunk
/// with its line.
fn chunk(values: Buffer, ends: Vec<i32>, lines: Vec<u64>) -> std::io::Result<RecordChunk> {
    let offsets = OffsetBuffer::new(ScalarBuffer::from(std::iter::once(0).chain(ends.iter().copied()).collect::<Vec<i32>>()));
    match StringArray::try_new(offsets, values.clone(), None) {
        Ok(texts) => Ok(RecordChunk { texts, lines }),
        Err(_) => {
            let mut start = 0;
            let bad = ends.iter().position(|&end| {
                let valid = std::str::from_utf8(&values[start..end as usize]).is_ok();
                start = end as usize;
                !valid
            });
            let line = bad.and_then(|i| lines.get(i)).copied().unwrap_or_default();
            Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("line {line}: the record is not UTF-8")))
        }
    }
}

/// The chunk texts' buffers, used again once the last array holding one is dropped (after
/// the Parquet writer encoded it, or wherever the chunk ends up).
///
/// An import moves its whole file through these buffers, ~2 GB per million sign-ins: freed
/// and allocated afresh, every one of their pages was a page fault (a buffer of 8 MiB is
/// jemalloc's "oversize" class, handed back to the system at once). Taken from the pool, they
/// stay mapped: half the import's page faults and about a second of system time per million
/// sign-ins go, at the same peak memory (docs/BENCHMARKS.md, "Chunk buffers used again"). The pool
/// keeps at most [`ChunkPool::KEEP`] idle buffers, so it never holds more than the most chunks
/// ever in flight at once (channels and workers bound those) — memory the import used anyway.
///
/// Arrow frees a buffer through the owner it was made from: `bytes::Bytes::from_owner` calls
/// [`PooledText`]'s `Drop` when the last array using the text goes, with no unsafe code here.
#[derive(Clone, Default)]
struct ChunkPool {
    idle: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl std::fmt::Debug for ChunkPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let idle = self.idle.lock().map_or(0, |idle| idle.len());
        f.debug_struct("ChunkPool").field("idle", &idle).finish()
    }
}

impl ChunkPool {
    /// Idle buffers kept; more than the chunks an import has in flight (reader channel,
    /// mapping workers, writer and encoder queues), so that none is freed in steady state.
    const KEEP: usize = 16;

    /// An empty buffer, with the capacity of an earlier chunk's when one is idle.
    fn take(&self) -> Vec<u8> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default()
    }

    /// `text` as an Arrow buffer that comes back to the pool when dropped.
    fn share(&self, text: Vec<u8>) -> Buffer {
        Buffer::from(bytes::Bytes::from_owner(PooledText { text, pool: Arc::downgrade(&self.idle) }))
    }
}

/// A chunk's text lent to Arrow; back to its pool (cleared) when the last user drops it.
struct PooledText {
    text: Vec<u8>,
    pool: Weak<Mutex<Vec<Vec<u8>>>>,
}

impl AsRef<[u8]> for PooledText {
    fn as_ref(&self) -> &[u8] {
        &self.text
    }
}

impl Drop for PooledText {
    fn drop(&mut self) {
        let Some(pool) = self.pool.upgrade() else { return };
        let mut idle = pool.lock().unwrap_or_else(|e| e.into_inner());
        if idle.len() < ChunkPool::KEEP {
            let mut text = std::mem::take(&mut self.text);
            text.clear();
            idle.push(text);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::Array;

    #[test]
    fn chunk_texts_go_back_to_the_pool_once_dropped() {
        let input: String = (0..30).map(|i| format!("{{\"id\":\"{i}\"}}\n")).collect();
        let mut split = Records::new(input.as_bytes());
        let first = split.next_chunk(10, 1 << 20).unwrap().unwrap();
        let second = split.next_chunk(10, 1 << 20).unwrap().unwrap();
        let first_text = first.texts.values().as_ptr();
        assert_ne!(first_text, second.texts.values().as_ptr(), "a chunk in use is not lent again");
        drop(first);
        let third = split.next_chunk(10, 1 << 20).unwrap().unwrap();
        assert_eq!(third.texts.values().as_ptr(), first_text, "the dropped chunk's buffer is used again");
        assert_eq!(third.texts.value(0), r#"{"id":"20"}"#);
        assert_eq!(third.texts.value(9), r#"{"id":"29"}"#);
        assert_eq!(second.texts.value(0), r#"{"id":"10"}"#, "the chunk still in use is untouched");
        drop((second, third));
        assert_eq!(split.pool.idle.lock().unwrap().len(), 2);
        assert!(split.next_chunk(10, 1 << 20).is_none());
    }

    /// Every record of `reader`, read `records` or `bytes` at a time.
    fn chunks(reader: impl Read, records: usize, bytes: usize) -> Vec<(String, u64)> {
        let mut split = Records::new(reader);
        let mut all = Vec::new();
        while let Some(chunk) = split.next_chunk(records, bytes) {
            let chunk = chunk.unwrap();
            assert!(!chunk.lines.is_empty() && chunk.lines.len() == chunk.texts.len());
            all.extend(chunk.texts.iter().map(|t| t.unwrap().to_string()).zip(chunk.lines));
        }
        all
    }

    fn split(text: &str) -> Vec<(String, u64)> {
        chunks(text.as_bytes(), 3, 1 << 20)
    }

    #[test]
    fn a_list_response_gives_its_values() {
        let text = "{\"@odata.context\": \"https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns\",\n \"value\": [\n  {\"id\": \"a\", \"x\": {\"y\": [1, {\"z\": \"}\"}]}},\n  {\"id\": \"b\"}\n ],\n \"@odata.nextLink\": \"https://x\"}\n";
        assert_eq!(
            split(text),
            [("{\"id\": \"a\", \"x\": {\"y\": [1, {\"z\": \"}\"}]}}".to_string(), 3), ("{\"id\": \"b\"}".to_string(), 4)]
        );
        // Two pages saved one after the other.
        assert_eq!(split(&format!("{text}{text}")).len(), 4);
    }

    #[test]
    fn a_bare_array_and_json_lines() {
        assert_eq!(
            split("\u{feff}[{\"id\":\"a\"},\n{\"id\":\"b\\\"}\"}]"),
            [("{\"id\":\"a\"}".into(), 1), ("{\"id\":\"b\\\"}\"}".into(), 2)]
        );
        assert_eq!(
            split("{\"id\":\"a\"}\n{\"id\":\"b\"}\n\n{\"id\":\"c\"}\n").iter().map(|r| r.1).collect::<Vec<_>>(),
            [1, 2, 4]
        );
        // A pretty-printed object is one record.
        assert_eq!(
            split("{\n  \"id\": \"a\",\n  \"v\": {\"k\": 1}\n}\n"),
            [("{\n  \"id\": \"a\",\n  \"v\": {\"k\": 1}\n}".into(), 1)]
        );
    }

    #[test]
    fn a_broken_json_line_is_a_record_of_its_own() {
        let records = split("{\"id\":\"a\"}\n{\"id\":\"b\", \"x\": {\n{\"id\":\"c\"}\n");
        assert_eq!(records, [("{\"id\":\"a\"}".into(), 1), ("{\"id\":\"b\", \"x\": {".into(), 2), ("{\"id\":\"c\"}".into(), 3)]);
        // Cut off at the end of the file.
        assert_eq!(split("[{\"id\":\"a\"}, {\"id\":"), [("{\"id\":\"a\"}".into(), 1), ("{\"id\":".into(), 1)]);
    }

    /// A reader that hands out a few bytes at a time, so that every state of the scanner
    /// meets a chunk boundary.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = self.1 % 5 + 1;
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    #[test]
    fn any_read_boundary_gives_the_same_records() {
        let texts = [
            "{\"@odata.context\": \"x\",\n \"value\": [\n  {\"id\": \"a\\\\\", \"x\": {\"y\": [1, {\"z\": \"}\\\"\"}]}},\n  {\"id\": \"b\"}\n ]}\n",
            "\u{feff}[{\"id\":\"a\"},\n{\"id\":\"b\\\"}\"}]",
            "{\"id\":\"a\"}\n{\"id\":\"b\", \"x\": {\n{\"id\":\"c\", \"n\": -1.5e3, \"t\": true}\n",
            "{\n  \"id\": \"a\",\n  \"v\": {\"k\": 1}\n}\n",
        ];
        for text in texts {
            for start in 0..5 {
                // Chunks cut after every record, and after 5 bytes of texts (records carried over).
                assert_eq!(chunks(Trickle(text.as_bytes(), start), 1, 1 << 20), split(text), "{text:?}");
                assert_eq!(chunks(Trickle(text.as_bytes(), start), 100, 5), split(text), "{text:?}");
            }
        }
        assert_eq!(split(texts[0]).len(), 2);
        assert_eq!(split(texts[2]).len(), 3);
    }

    #[test]
    fn a_json_line_is_one_record_and_text_that_is_not_utf8_names_its_line() {
        // JSON lines hold one value per line: two objects on one line are one text, which
        // the mapping rejects (so it is quarantined with its line, not silently split).
        assert_eq!(
            split("{\"id\":\"a\"}\r\n {\"id\":\"b\"}{\"id\":\"c\"}\n"),
            [("{\"id\":\"a\"}".into(), 1), ("{\"id\":\"b\"}{\"id\":\"c\"}".into(), 2)]
        );
        let mut bad = b"{\"id\":\"a\"}\n{\"id\":\"b\"}\n{\"id\":\"".to_vec();
        bad.extend_from_slice(&[0xff, b'"', b'}', b'\n']);
        let mut split = Records::new(&bad[..]);
        let error = split.next_chunk(10, 1 << 20).unwrap().unwrap_err();
        assert_eq!(error.to_string(), "line 3: the record is not UTF-8");
    }

    #[test]
    fn a_record_across_read_chunks() {
        let big = format!("{{\"id\":\"a\",\"pad\":\"{}\"}}", "x".repeat(3 * CHUNK));
        let text = format!("[{big},{{\"id\":\"b\"}}]");
        let records = split(&text);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, big);
    }

    #[test]
    fn a_record_that_never_ends_stops_the_split_and_names_its_line() {
        // A bare array whose second record loses its closing brace: everything after it would
        // be one record.
        let text = format!("[{{\"id\":\"a\"}},\n{{\"id\":\"b\",\"pad\":[\n{}", "1,\n".repeat(CHUNK));
        let mut split = Records::new(text.as_bytes());
        split.max_record = 1 << 20;
        let first = split.next_chunk(10, 1 << 20).unwrap().unwrap();
        assert_eq!(first.texts.value(0), "{\"id\":\"a\"}");
        assert_eq!(first.texts.len(), 1);
        let error = split.next_chunk(10, 1 << 20).unwrap().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::InvalidData);
        assert!(error.to_string().starts_with("line 2: a record starts here and runs on for more than 1 MiB"), "{error}");
        assert!(split.next_chunk(10, 1 << 20).is_none());
    }
}
