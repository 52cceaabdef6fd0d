//! The OData subset Graph's audit-log endpoints accept: endpoints, query options, `$filter`,
//! ordering, and the paging state behind a `$skiptoken`.

use std::sync::Arc;

use chrono::{DateTime, NaiveDateTime, Utc};

/// A stored record: its JSON text plus the fields queries look at, parsed once.
#[derive(Debug)]
pub(crate) struct Record {
    pub id: String,
    /// `None` when the time is missing or unparsable: such a record never matches a time clause
    /// and sorts as the oldest.
    pub time: Option<DateTime<Utc>>,
    /// Sign-ins only: `signInEventTypes`, or derived from `isInteractive` when absent.
    pub event_types: Vec<String>,
    pub json: String,
}

impl Record {
    pub fn new(value: &serde_json::Value, time_property: &str) -> Record {
        let id = value.get("id").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let time = value.get(time_property).and_then(|v| v.as_str()).and_then(parse_time);
        let event_types = match value.get("signInEventTypes").and_then(|v| v.as_array()) {
            Some(types) => types.iter().filter_map(|t| t.as_str().map(str::to_owned)).collect(),
            None if value.get("isInteractive").and_then(|v| v.as_bool()) == Some(true) => {
                vec!["interactiveUser".to_owned()]
            }
            None => vec!["nonInteractiveUser".to_owned()],
        };
        Record { id, time, event_types, json: value.to_string() }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Version {
    V1,
    Beta,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Resource {
    SignIns,
    DirectoryAudits,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    pub version: Version,
    pub resource: Resource,
}

impl Endpoint {
    /// `/v1.0/auditLogs/signIns` and friends. Graph treats segments after the version
    /// case-insensitively (its own nextLinks say `signins`), so the fake does too.
    pub fn parse(path: &str) -> Option<Endpoint> {
        let mut segments = path.strip_prefix('/')?.split('/');
        let version = match segments.next()? {
            "v1.0" => Version::V1,
            "beta" => Version::Beta,
            _ => return None,
        };
        if !segments.next()?.eq_ignore_ascii_case("auditLogs") {
            return None;
        }
        let resource = segments.next()?;
        let resource = if resource.eq_ignore_ascii_case("signIns") {
            Resource::SignIns
        } else if resource.eq_ignore_ascii_case("directoryAudits") {
            Resource::DirectoryAudits
        } else {
            return None;
        };
        segments.next().is_none().then_some(Endpoint { version, resource })
    }

    pub fn time_property(self) -> &'static str {
        match self.resource {
            Resource::SignIns => "createdDateTime",
            Resource::DirectoryAudits => "activityDateTime",
        }
    }

    /// `@odata.context` of a page from this endpoint.
    pub fn context(self, base_url: &str) -> String {
        let version = match self.version {
            Version::V1 => "v1.0",
            Version::Beta => "beta",
        };
        let set = match self.resource {
            Resource::SignIns => "signIns",
            Resource::DirectoryAudits => "directoryAudits",
        };
        format!("{base_url}/{version}/$metadata#auditLogs/{set}")
    }
}

/// The query options of one request, still as text (`+` and `%20` already decoded to spaces).
#[derive(Debug, Default)]
pub(crate) struct Params {
    pub filter: Option<String>,
    pub top: Option<String>,
    pub orderby: Option<String>,
    pub skiptoken: Option<String>,
}

impl Params {
    /// Parses a raw query string. Errors are 400 messages.
    pub fn parse(raw: Option<&str>) -> Result<Params, String> {
        let pairs: Vec<(String, String)> = match raw {
            None => Vec::new(),
            Some(raw) => serde_urlencoded::from_str(raw).map_err(|_| "The query string is malformed.".to_owned())?,
        };
        let mut params = Params::default();
        for (name, value) in pairs {
            let slot = match name.as_str() {
                "$filter" => &mut params.filter,
                "$top" => &mut params.top,
                "$orderby" => &mut params.orderby,
                "$skiptoken" => &mut params.skiptoken,
                "$skip" => {
                    return Err("Query option '$skip' is not supported by the service.".to_owned());
                }
                // Options the fake does not model must not be silently ignored: a client relying
                // on them would pass here and fail against Graph (or the other way round).
                other if other.starts_with('$') => {
                    return Err(format!("Query option '{other}' is not supported by this fake."));
                }
                // Non-OData parameters are ignored, as Graph does.
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(format!(
                    "Query option '{name}' was specified more than once, but it must be specified at most once."
                ));
            }
        }
        Ok(params)
    }

    /// The page size: `$top`, or `max` when absent; 1..=max.
    pub fn page_size(&self, max: usize) -> Result<usize, String> {
        let Some(top) = &self.top else {
            return Ok(max.max(1));
        };
        match top.trim().parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(format!("Invalid page size specified: '{top}'. Must be between 1 and {max} inclusive.")),
        }
    }

    /// `true` for descending (Graph's default). `$orderby=<time property> [asc|desc]`; OData's
    /// default direction when one is named without a direction is ascending.
    pub fn descending(&self, endpoint: Endpoint) -> Result<bool, String> {
        let Some(orderby) = &self.orderby else {
            return Ok(true);
        };
        let words: Vec<&str> = orderby.split_whitespace().collect();
        let invalid = || format!("Invalid $orderby clause: '{orderby}'.");
        match words.as_slice() {
            [prop, rest @ ..] if prop.eq_ignore_ascii_case(endpoint.time_property()) => match rest {
                [] => Ok(false),
                [dir] if dir.eq_ignore_ascii_case("asc") => Ok(false),
                [dir] if dir.eq_ignore_ascii_case("desc") => Ok(true),
                _ => Err(invalid()),
            },
            _ => Err(invalid()),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cmp {
    Ge,
    Le,
    Gt,
    Lt,
    Eq,
}

/// A parsed `$filter`: every clause must hold.
#[derive(Debug, Default)]
pub(crate) struct Filter {
    pub times: Vec<(Cmp, DateTime<Utc>)>,
    pub event_types: Vec<String>,
}

impl Filter {
    /// Parses the supported grammar; `None` means "Invalid filter clause".
    pub fn parse(text: &str, endpoint: Endpoint) -> Option<Filter> {
        let mut filter = Filter::default();
        for clause in split_and(text)? {
            let clause = strip_parens(clause.trim());
            if let Some(event_type) = parse_event_type_clause(clause) {
                // v1.0's signIn has no signInEventTypes property (CSDL), and audits never do.
                if endpoint != (Endpoint { version: Version::Beta, resource: Resource::SignIns }) {
                    return None;
                }
                filter.event_types.push(event_type?);
                continue;
            }
            let words: Vec<&str> = clause.split_whitespace().collect();
            let [property, op, value] = words.as_slice() else {
                return None;
            };
            if !property.eq_ignore_ascii_case(endpoint.time_property()) {
                return None;
            }
            let op = match op.to_ascii_lowercase().as_str() {
                "ge" => Cmp::Ge,
                "le" => Cmp::Le,
                "gt" => Cmp::Gt,
                "lt" => Cmp::Lt,
                "eq" => Cmp::Eq,
                _ => return None,
            };
            let value = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')).unwrap_or(value);
            filter.times.push((op, parse_time(value)?));
        }
        Some(filter)
    }

    /// Whether a record passes. Sign-ins without an event-type clause are interactive only
    /// (v1.0 always; beta by default too).
    pub fn matches(&self, record: &Record, resource: Resource) -> bool {
        let times_ok = self.times.iter().all(|&(op, bound)| {
            record.time.is_some_and(|t| match op {
                Cmp::Ge => t >= bound,
                Cmp::Le => t <= bound,
                Cmp::Gt => t > bound,
                Cmp::Lt => t < bound,
                Cmp::Eq => t == bound,
            })
        });
        if !times_ok || resource != Resource::SignIns {
            return times_ok;
        }
        let has = |wanted: &str| record.event_types.iter().any(|t| t == wanted);
        if self.event_types.is_empty() { has("interactiveUser") } else { self.event_types.iter().all(|t| has(t)) }
    }
}

/// Splits at top-level ` and ` (case-insensitive), outside quotes and parentheses.
/// `None` when quotes or parentheses are unbalanced.
fn split_and(text: &str) -> Option<Vec<&str>> {
    let bytes = text.as_bytes();
    let (mut depth, mut in_quote, mut start, mut i) = (0i32, false, 0usize, 0usize);
    let mut parts = Vec::new();
    while i < bytes.len() {
        let c = bytes[i];
        if in_quote {
            // A doubled '' inside a literal closes and reopens the quote: same effect.
            in_quote = c != b'\'';
            i += 1;
            continue;
        }
        match c {
            b'\'' => in_quote = true,
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth < 0 {
                    return None;
                }
            }
            c if c.is_ascii_whitespace() && depth == 0 => {
                let mut j = i;
                while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                    j += 1;
                }
                if bytes.len() > j + 3 && bytes[j..j + 3].eq_ignore_ascii_case(b"and") && bytes[j + 3].is_ascii_whitespace() {
                    parts.push(&text[start..i]);
                    let mut k = j + 3;
                    while k < bytes.len() && bytes[k].is_ascii_whitespace() {
                        k += 1;
                    }
                    start = k;
                    i = k;
                } else {
                    i = j;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if in_quote || depth != 0 {
        return None;
    }
    parts.push(&text[start..]);
    Some(parts)
}

/// Removes parentheses that wrap the whole clause: `(a ge b)` → `a ge b`.
fn strip_parens(mut clause: &str) -> &str {
    while let Some(inner) = clause.strip_prefix('(').and_then(|c| c.strip_suffix(')')) {
        // `(a) and (b)` would strip wrongly; split_and already separated clauses, but check
        // the outer pair really matches.
        if split_and(inner).is_none() {
            break;
        }
        clause = inner.trim();
    }
    clause
}

/// `signInEventTypes/any(t: t eq 'nonInteractiveUser')`, any lambda variable name.
/// `None`: not such a clause; `Some(None)`: such a clause, but malformed.
fn parse_event_type_clause(clause: &str) -> Option<Option<String>> {
    const PREFIX: &str = "signInEventTypes/any(";
    let head = clause.get(..PREFIX.len())?;
    if !head.eq_ignore_ascii_case(PREFIX) {
        return None;
    }
    let parse = || {
        let inner = clause[PREFIX.len()..].strip_suffix(')')?;
        let (var, body) = inner.split_once(':')?;
        let var = var.trim();
        if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return None;
        }
        let words: Vec<&str> = body.split_whitespace().collect();
        let [v, op, literal] = words.as_slice() else {
            return None;
        };
        if *v != var || !op.eq_ignore_ascii_case("eq") {
            return None;
        }
        let value = literal.strip_prefix('\'')?.strip_suffix('\'')?;
        Some(value.replace("''", "'"))
    };
    Some(parse())
}

/// Parses an OData `DateTimeOffset`: RFC 3339 with 0–7 (or more) fractional digits and `Z` or an
/// offset; seconds may be omitted. Full precision is kept.
pub(crate) fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let without_z = text.strip_suffix('Z').or_else(|| text.strip_suffix('z'))?;
    NaiveDateTime::parse_from_str(without_z, "%Y-%m-%dT%H:%M").ok().map(|t| t.and_utc())
}

/// Graph's rendering of a time: UTC, 100 ns precision, trailing zeros of the fraction dropped
/// (`2021-06-30T16:34:32Z`, `2020-03-13T19:15:41.6195833Z`).
pub(crate) fn format_time(time: DateTime<Utc>) -> String {
    let ticks = time.timestamp_subsec_nanos() / 100;
    let base = time.format("%Y-%m-%dT%H:%M:%S");
    if ticks == 0 {
        format!("{base}Z")
    } else {
        let fraction = format!("{ticks:07}");
        format!("{base}.{}Z", fraction.trim_end_matches('0'))
    }
}

/// Percent-encodes a query value the way Graph's nextLinks do (spaces as `%20`, quotes and
/// commas escaped), so clients must decode `%xx` as well as `+`.
pub(crate) fn encode_component(value: &str) -> String {
    /// Everything but letters, digits and `-._~:` is escaped.
    const GRAPH_QUERY_VALUE: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~').remove(b':');
    percent_encoding::utf8_percent_encode(value, GRAPH_QUERY_VALUE).to_string()
}

/// Sorts by time then id, newest first when `descending`.
pub(crate) fn sort(records: &mut [Arc<Record>], descending: bool) {
    records.sort_by(|a, b| {
        let order = a.time.cmp(&b.time).then_with(|| a.id.cmp(&b.id));
        if descending { order.reverse() } else { order }
    });
}

/// Where a paging sequence stands; a `$skiptoken` names one of these.
#[derive(Clone, Debug)]
pub(crate) struct Cursor {
    pub tenant: String,
    pub endpoint: Endpoint,
    /// The path as the client sent it, reused in nextLinks.
    pub path: String,
    /// `$filter=…&$top=…&` exactly as the first request gave them (re-encoded), for nextLinks.
    pub link_prefix: String,
    /// The matching records when the sequence started: late records stay out of it.
    pub snapshot: Arc<Vec<Arc<Record>>>,
    pub offset: usize,
    pub page_size: usize,
    /// Non-empty pages served so far in this sequence.
    pub data_pages: usize,
    /// Serve an empty page (with a nextLink to the same offset) before the next real page.
    pub empty_next: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn beta_signins() -> Endpoint {
        Endpoint { version: Version::Beta, resource: Resource::SignIns }
    }

    #[test]
    fn filters_parse() {
        let f = Filter::parse(
            "createdDateTime ge 2026-11-28T00:00:00Z and (createdDateTime LE '2026-11-28T01:00:00.1234567Z') AND signInEventTypes/any(x:x eq 'nonInteractiveUser')",
            beta_signins(),
        );
        let f = f.unwrap_or_default();
        assert_eq!(f.times.len(), 2);
        assert_eq!(f.event_types, vec!["nonInteractiveUser".to_owned()]);
        assert!(Filter::parse("createdDateTime ge", beta_signins()).is_none());
        assert!(Filter::parse("createdDateTime ge 2026-13-28T00:00:00Z", beta_signins()).is_none());
        assert!(Filter::parse("userId eq 'x'", beta_signins()).is_none());
        assert!(Filter::parse("(createdDateTime ge 2026-11-28T00:00:00Z", beta_signins()).is_none());
        let v1 = Endpoint { version: Version::V1, resource: Resource::SignIns };
        assert!(Filter::parse("signInEventTypes/any(t: t eq 'interactiveUser')", v1).is_none());
    }

    #[test]
    fn times_round_trip_at_full_precision() {
        for text in ["2026-11-28T10:20:30.1234567Z", "2026-11-28T10:20:30Z", "2026-11-28T10:20:30.5Z"] {
            assert_eq!(parse_time(text).map(format_time).as_deref(), Some(text));
        }
        assert!(parse_time("2026-11-28T10:20:30.1234567Z") > parse_time("2026-11-28T10:20:30.1234566Z"));
    }
}
