//! Splits Graph JSON exports into record texts, streaming, with the line each record starts on.
//!
//! Three shapes are accepted, told apart as they are read:
//! - a Graph list response, `{"@odata.context": …, "value": [ {record}, … ], …}` (several such
//!   objects one after another too, as a paged download saved to one file);
//! - a bare array of records, `[ {record}, … ]`, as the Entra portal downloads them;
//! - JSON lines: one record per line (or records simply one after another).
//!
//! Hand-written rather than a JSON library's streaming reader: serde_json streams only
//! top-level values, and the records here sit one or two levels down inside a value that can
//! be gigabytes long; we need each record's exact text (it is stored as `raw`) and its line
//! number, and nothing else. The scanner only tracks strings, nesting and the top-level keys;
//! the records themselves are parsed later by the collectors' mapping, which quarantines what
//! it cannot read.

use std::io::Read;

/// One record's text and the 1-based line its first byte is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawRecord {
    pub text: String,
    pub line: u64,
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

/// A streaming splitter over any reader; an iterator of records or read errors.
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
    /// Depth at which the current record's `{` was read, and its bytes so far.
    record: Option<(usize, u64, Vec<u8>)>,
    /// Top-level object keys: collecting one, the last one read, and whether a value follows.
    key: Option<Vec<u8>>,
    last_key: Vec<u8>,
    expect_key: bool,
    /// Whether the file is JSON lines: the first record began and ended on one line. Then a
    /// line that ends inside a record is a broken record on its own, not the start of a
    /// pretty-printed one.
    line_records: Option<bool>,
    broken: Option<RawRecord>,
}

/// Bytes read from the input at a time.
const CHUNK: usize = 1 << 20;

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
            key: None,
            last_key: Vec::new(),
            expect_key: false,
            line_records: None,
            broken: None,
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

    fn finish_record(&mut self) -> Option<std::io::Result<RawRecord>> {
        let (_, line, bytes) = self.record.take()?;
        if self.top == Top::Between && self.line_records.is_none() {
            self.line_records = Some(line == self.line);
        }
        Some(match String::from_utf8(bytes) {
            Ok(text) => Ok(RawRecord { text, line }),
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, format!("line {line}: the record is not UTF-8"))),
        })
    }

    /// Scans one byte; returns a finished record.
    fn scan(&mut self, b: u8) -> Option<std::io::Result<RawRecord>> {
        if let Some((_, _, bytes)) = &mut self.record {
            bytes.push(b);
        }
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
            return None;
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
                    self.record = Some((self.depth, self.line, vec![b'{']));
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
                    self.record = None;
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
                        return self.finish_record();
                    }
                } else if b == b'}' && self.record.as_ref().is_some_and(|(d, _, _)| *d == self.depth) {
                    return self.finish_record();
                }
            }
            b',' if self.depth == 1 && self.top == Top::Object => self.expect_key = true,
            b':' if self.depth == 1 && self.top == Top::Object => self.expect_key = false,
            b'\n' => {
                self.line += 1;
                // A JSON line that ends inside its record: that line is broken; start afresh.
                if self.line_records == Some(true) && self.depth > 0 && self.top == Top::Object {
                    let (_, line, bytes) = self.record.take().unwrap_or((0, self.line - 1, Vec::new()));
                    self.depth = 0;
                    self.top = Top::Between;
                    self.broken = Some(RawRecord { text: String::from_utf8_lossy(&bytes).trim_end().to_string(), line });
                }
            }
            _ => {}
        }
        None
    }
}

/// A record the scanner had to cut off (a JSON line that ended inside it): the mapping
/// rejects its text, so it is quarantined with its line like any other bad record.
impl<R: Read> Iterator for Records<R> {
    type Item = std::io::Result<RawRecord>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(broken) = self.broken.take() {
                return Some(Ok(broken));
            }
            if self.at == self.filled {
                if self.done {
                    // A record still open at the end of the input was cut off.
                    return self
                        .record
                        .take()
                        .map(|(_, line, bytes)| Ok(RawRecord { text: String::from_utf8_lossy(&bytes).into_owned(), line }));
                }
                match self.reader.read(&mut self.chunk) {
                    Ok(0) => self.done = true,
                    Ok(n) => {
                        self.filled = n;
                        self.at = 0;
                        if !self.started {
                            self.started = true;
                            // A UTF-8 byte order mark, as Windows tools write.
                            if self.chunk[..n].starts_with(&[0xEF, 0xBB, 0xBF]) {
                                self.at = 3;
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Some(Err(e)),
                }
                continue;
            }
            let b = self.chunk[self.at];
            self.at += 1;
            if let Some(record) = self.scan(b) {
                return Some(record);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(text: &str) -> Vec<(String, u64)> {
        Records::new(text.as_bytes()).map(|r| r.unwrap()).map(|r| (r.text, r.line)).collect()
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

    #[test]
    fn a_record_across_read_chunks() {
        let big = format!("{{\"id\":\"a\",\"pad\":\"{}\"}}", "x".repeat(3 * CHUNK));
        let text = format!("[{big},{{\"id\":\"b\"}}]");
        let records = split(&text);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].0, big);
    }
}
