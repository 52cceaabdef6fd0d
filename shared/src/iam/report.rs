//! Parsing the IAM credential report CSV, with every quirk IAM documents.
//!
//! Columns are found by header name, not position. Absent values come as `N/A`,
//! `no_information` or `not_supported`; booleans are lowercase; dates are ISO-8601 with an
//! offset; the root user's name is `<root_account>`. A key slot is occupied exactly when its
//! `access_key_N_last_rotated` holds a date (inactive keys still carry dates). A row that cannot
//! be parsed is returned in [`ParsedReport::rejected`] with its line number, never dropped.

use chrono::{DateTime, Utc};

/// The user name IAM gives the root user's row.
pub const ROOT_USER: &str = "<root_account>";

/// A report the parser cannot use at all (its header lacks a required column).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("credential report header lacks column {column:?} (header: {header:?})")]
pub struct ReportFormatError {
    pub column: &'static str,
    pub header: String,
}

/// One user row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportUser {
    /// 1-based line in the CSV (the header is line 1).
    pub line: usize,
    pub user: String,
    pub arn: String,
    pub user_creation_time: Option<DateTime<Utc>>,
    pub password_enabled: Option<bool>,
    pub mfa_active: Option<bool>,
    /// Occupied key slots, slot 1 first.
    pub keys: Vec<ReportKey>,
}

impl ReportUser {
    pub fn is_root(&self) -> bool {
        self.user == ROOT_USER
    }
}

/// One occupied access-key slot of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportKey {
    pub slot: i32,
    pub active: bool,
    /// For access keys IAM reports the creation time here.
    pub last_rotated: DateTime<Utc>,
    pub last_used_date: Option<DateTime<Utc>>,
    pub last_used_region: Option<String>,
    pub last_used_service: Option<String>,
}

/// A row that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedLine {
    pub line: usize,
    pub reason: String,
    pub raw: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedReport {
    pub users: Vec<ReportUser>,
    pub rejected: Vec<RejectedLine>,
}

const REQUIRED: [&str; 15] = [
    "user",
    "arn",
    "user_creation_time",
    "password_enabled",
    "mfa_active",
    "access_key_1_active",
    "access_key_1_last_rotated",
    "access_key_1_last_used_date",
    "access_key_1_last_used_region",
    "access_key_1_last_used_service",
    "access_key_2_active",
    "access_key_2_last_rotated",
    "access_key_2_last_used_date",
    "access_key_2_last_used_region",
    "access_key_2_last_used_service",
];

/// Parses a whole report. Only a header without the required columns fails the report.
pub fn parse(csv_text: &str) -> Result<ParsedReport, ReportFormatError> {
    let lines: Vec<&str> = csv_text.lines().collect();
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(csv_text.as_bytes());
    let header = reader.headers().cloned().unwrap_or_default();
    let mut index = [0usize; REQUIRED.len()];
    for (slot, column) in index.iter_mut().zip(REQUIRED) {
        *slot = header
            .iter()
            .position(|h| h.trim() == column)
            .ok_or_else(|| ReportFormatError { column, header: header.iter().collect::<Vec<_>>().join(",") })?;
    }
    let col = |name: &str| index[REQUIRED.iter().position(|c| *c == name).expect("known column")];

    let mut report = ParsedReport::default();
    for record in reader.records() {
        let (line, result) = match record {
            Ok(r) => {
                let line = r.position().map_or(0, |p| p.line() as usize);
                (line, parse_row(&r, line, &col))
            }
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                (line, Err(e.to_string()))
            }
        };
        match result {
            Ok(user) => report.users.push(user),
            Err(reason) => report.rejected.push(RejectedLine {
                line,
                reason,
                raw: lines.get(line.saturating_sub(1)).copied().unwrap_or_default().to_string(),
            }),
        }
    }
    Ok(report)
}

fn parse_row(r: &csv::StringRecord, line: usize, col: &dyn Fn(&str) -> usize) -> Result<ReportUser, String> {
    let get = |name: &str| -> Result<&str, String> {
        r.get(col(name)).map(str::trim).ok_or_else(|| format!("row has {} fields, column {name} is missing", r.len()))
    };
    let user = get("user")?;
    if user.is_empty() {
        return Err("empty user name".into());
    }
    let mut keys = Vec::new();
    for slot in [1, 2] {
        let field = |suffix: &str| format!("access_key_{slot}_{suffix}");
        let Some(last_rotated) = date(&field("last_rotated"), get(&field("last_rotated"))?)? else {
            continue;
        };
        keys.push(ReportKey {
            slot,
            active: boolean(&field("active"), get(&field("active"))?)?.unwrap_or(false),
            last_rotated,
            last_used_date: date(&field("last_used_date"), get(&field("last_used_date"))?)?,
            last_used_region: text(get(&field("last_used_region"))?),
            last_used_service: text(get(&field("last_used_service"))?),
        });
    }
    Ok(ReportUser {
        line,
        user: user.to_string(),
        arn: get("arn")?.to_string(),
        user_creation_time: date("user_creation_time", get("user_creation_time")?)?,
        password_enabled: boolean("password_enabled", get("password_enabled")?)?,
        mfa_active: boolean("mfa_active", get("mfa_active")?)?,
        keys,
    })
}

/// IAM's markers for "no value".
fn is_absent(v: &str) -> bool {
    v.is_empty() || v.eq_ignore_ascii_case("N/A") || v == "no_information" || v == "not_supported"
}

fn text(v: &str) -> Option<String> {
    (!is_absent(v)).then(|| v.to_string())
}

fn boolean(column: &str, v: &str) -> Result<Option<bool>, String> {
    if is_absent(v) {
        return Ok(None);
    }
    match v.to_ascii_lowercase().as_str() {
        "true" => Ok(Some(true)),
        "false" => Ok(Some(false)),
        _ => Err(format!("{column}: {v:?} is not true or false")),
    }
}

fn date(column: &str, v: &str) -> Result<Option<DateTime<Utc>>, String> {
    if is_absent(v) {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(v)
        .map(|d| Some(d.with_timezone(&Utc)))
        .map_err(|e| format!("{column}: {v:?} is not an ISO-8601 date ({e})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,password_next_rotation,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service,cert_1_active,cert_1_last_rotated,cert_2_active,cert_2_last_rotated";

    fn ts(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn documented_quirks() {
        let csv = format!(
            "{HEADER}\n\
<root_account>,arn:aws:iam::123456789012:root,2015-01-01T00:00:00+00:00,not_supported,2026-11-01T08:00:00+00:00,not_supported,not_supported,true,true,2016-02-03T04:05:06+00:00,no_information,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
alice,arn:aws:iam::123456789012:user/alice,2020-05-06T07:08:09+00:00,true,no_information,2020-05-06T07:08:09+00:00,N/A,false,false,2021-01-01T00:00:00+00:00,2026-11-20T10:00:00+00:00,us-east-1,s3,true,2025-06-01T12:00:00+02:00,N/A,N/A,N/A,false,N/A,false,N/A\n\
bob,arn:aws:iam::123456789012:user/bob,2020-05-06T07:08:09+00:00,false,not_supported,not_supported,not_supported,false,false,N/A,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let report = parse(&csv).unwrap();
        assert!(report.rejected.is_empty(), "{:?}", report.rejected);
        let [root, alice, bob] = &report.users[..] else { panic!("three users") };

        assert!(root.is_root());
        assert_eq!(root.password_enabled, None, "not_supported is no value");
        assert_eq!(root.mfa_active, Some(true));
        assert_eq!(root.keys.len(), 1);
        assert!(root.keys[0].active);
        assert_eq!(root.keys[0].last_used_date, None, "no_information is no value");

        assert_eq!(alice.line, 3);
        assert_eq!(alice.password_enabled, Some(true));
        assert_eq!(alice.keys.len(), 2);
        let (k1, k2) = (&alice.keys[0], &alice.keys[1]);
        assert_eq!((k1.slot, k1.active), (1, false), "inactive keys still carry dates");
        assert_eq!(k1.last_used_date, Some(ts("2026-11-20T10:00:00Z")));
        assert_eq!(k1.last_used_region.as_deref(), Some("us-east-1"));
        assert_eq!(k1.last_used_service.as_deref(), Some("s3"));
        assert_eq!(k2.slot, 2);
        assert_eq!(k2.last_rotated, ts("2025-06-01T10:00:00Z"), "offsets are honoured");
        assert_eq!(k2.last_used_date, None);

        assert!(bob.keys.is_empty(), "N/A last_rotated means the slot holds no key");
    }

    #[test]
    fn bad_rows_are_rejected_with_their_line_and_the_rest_parse() {
        let csv = format!(
            "{HEADER}\n\
carol,arn:aws:iam::1:user/carol,2020-05-06T07:08:09+00:00,maybe,N/A,N/A,N/A,false,true,2021-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
dave,arn:aws:iam::1:user/dave\n\
erin,arn:aws:iam::1:user/erin,2020-05-06T07:08:09+00:00,false,N/A,N/A,N/A,false,true,yesterday,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n\
frank,arn:aws:iam::1:user/frank,2020-05-06T07:08:09+00:00,FALSE,N/A,N/A,N/A,False,true,2021-01-01T00:00:00Z,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A,false,N/A,false,N/A\n"
        );
        let report = parse(&csv).unwrap();
        let lines: Vec<usize> = report.rejected.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 3, 4]);
        assert!(report.rejected[0].reason.contains("password_enabled") && report.rejected[0].reason.contains("maybe"));
        assert!(report.rejected[1].reason.contains("missing"));
        assert!(report.rejected[2].reason.contains("access_key_1_last_rotated"));
        assert!(report.rejected[1].raw.starts_with("dave,"));
        assert_eq!(report.users.len(), 1);
        assert_eq!(report.users[0].user, "frank");
        assert_eq!(report.users[0].line, 5);
        assert_eq!(report.users[0].password_enabled, Some(false));
    }

    #[test]
    fn columns_are_found_by_name_and_a_missing_one_fails_the_report() {
        let reordered = "arn,user,user_creation_time,password_enabled,mfa_active,access_key_1_active,access_key_1_last_rotated,access_key_1_last_used_date,access_key_1_last_used_region,access_key_1_last_used_service,access_key_2_active,access_key_2_last_rotated,access_key_2_last_used_date,access_key_2_last_used_region,access_key_2_last_used_service\n\
arn:aws:iam::1:user/x,x,N/A,false,false,true,2021-01-01T00:00:00+00:00,N/A,N/A,N/A,false,N/A,N/A,N/A,N/A\n";
        let report = parse(reordered).unwrap();
        assert_eq!(report.users[0].user, "x");
        assert_eq!(report.users[0].keys.len(), 1);

        let err = parse("user,arn\nx,y\n").unwrap_err();
        assert_eq!(err.column, "user_creation_time");
        assert!(parse("").is_err());
    }

    #[test]
    fn a_header_only_report_has_no_users() {
        let report = parse(&format!("{HEADER}\n")).unwrap();
        assert_eq!(report, ParsedReport::default());
    }
}
