//! `auditlake report`: the dashboard as one self-contained HTML file.
//!
//! The visuals are the QuickSight dashboard's, fed by the same query files (the built-in copy of
//! `athena/queries/`, see [`crate::queries`]) run by the local engine ([`LakeSql`]) with "today"
//! set to the report's last day. Charts are inline SVG ([`svg`]); the file fetches nothing, runs
//! no script and prints (figures do not break across pages).
//!
//! [`Report`] says what to draw ([`VISUALS`]); [`Report::render`] runs the queries and returns
//! the HTML with a summary of what each visual showed.

pub mod svg;

use std::collections::BTreeMap;
use std::fmt::Write;

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use crate::queries::{self, QueryFile};
use crate::query::{LakeSql, json_rows};
use svg::{BLUE, Bar, RED, Series, escape};

type Row = Map<String, Value>;

/// How a query's rows are drawn.
#[derive(Debug, Clone, Copy)]
enum Shape {
    /// The rows as a table.
    Table,
    /// One line per column over the `day` column.
    Lines(&'static [(&'static str, &'static str, &'static str)]),
    /// One bar per value of `category`, the sum of `value` over the days in range, with the sum
    /// of `part` drawn over it.
    Bars { category: &'static str, value: &'static str, part: Option<&'static str> },
}

/// The dashboard: (section, query file stem, shape), in page order.
const VISUALS: &[(&str, &str, Shape)] = &[
    ("AWS access keys", "iam_keys_older_than_90_days", Shape::Table),
    ("AWS access keys", "iam_keys_created_per_day", Shape::Lines(&[("keys_created", "keys created", BLUE)])),
    (
        "Entra sign-ins",
        "signins_per_day_by_result",
        Shape::Lines(&[("successes", "succeeded", BLUE), ("failures", "failed", RED)]),
    ),
    ("Entra sign-ins", "signins_failed_by_country", Shape::Bars { category: "country_or_region", value: "failures", part: None }),
    (
        "Entra sign-ins",
        "signins_by_event_type",
        Shape::Bars { category: "sign_in_event_type", value: "sign_ins", part: Some("failures") },
    ),
    (
        "Directory changes",
        "audits_changes_by_category",
        Shape::Bars { category: "category", value: "changes", part: Some("failures") },
    ),
];

/// What a report covers.
#[derive(Debug, Clone)]
pub struct Report {
    /// The lake, as the user named it.
    pub lake: String,
    /// First and last day shown (the queries' own windows still apply: 30 days, 90 for keys).
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub generated_at: DateTime<Utc>,
    /// A line shown above everything (the demo says its data is simulated).
    pub banner: Option<String>,
}

/// What one visual showed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct VisualSummary {
    pub query: String,
    pub title: String,
    pub rows: usize,
}

impl Report {
    /// Runs the visuals' queries over `engine` (whose "today" must be `self.to`) and renders.
    pub async fn render(&self, engine: &LakeSql) -> anyhow::Result<(String, Vec<VisualSummary>)> {
        if self.from > self.to {
            anyhow::bail!("--from {} is after --to {}", self.from, self.to);
        }
        let mut body = String::new();
        let mut summaries = Vec::new();
        let mut section = "";
        for (heading, stem, shape) in VISUALS {
            let query = queries::embedded_query(stem)?;
            let (schema, batches) =
                engine.run(query.local_sql()).await.map_err(|e| anyhow::anyhow!("{}: {e}", query.local_file_name()))?;
            let columns: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
            let rows = json_rows(&batches)?;
            let rows: Vec<Row> = rows.into_iter().filter(|r| self.in_range(r)).collect();
            if *heading != section {
                section = heading;
                let _ = write!(body, "<h2>{}</h2>", escape(heading));
            }
            body.push_str(&figure(&query, *shape, &columns, &rows));
            summaries.push(VisualSummary { query: query.stem.clone(), title: query.title.clone(), rows: rows.len() });
        }
        let freshness = self.freshness(engine).await?;
        Ok((self.page(&freshness, &body), summaries))
    }

    /// Rows with a `day` outside the range are left out (rows without one are kept).
    fn in_range(&self, row: &Row) -> bool {
        match row.get("day").and_then(Value::as_str).and_then(|d| d.parse::<NaiveDate>().ok()) {
            Some(day) => day >= self.from && day <= self.to,
            None => true,
        }
    }

    /// Per table: the newest record in range and how many there are.
    async fn freshness(&self, engine: &LakeSql) -> anyhow::Result<String> {
        let mut rows = String::new();
        for table in auditlake_core::schema::tables() {
            let sql = format!(
                "SELECT max({time}) AS newest, count(*) AS records FROM {name} WHERE dt >= '{from}' AND dt <= '{to}'",
                time = table.time_column,
                name = table.name,
                from = self.from,
                to = self.to
            );
            let (_, batches) = engine.run(&sql).await.with_context(|| format!("freshness of {}", table.name))?;
            let answer = json_rows(&batches)?.into_iter().next().unwrap_or_default();
            let newest = answer.get("newest").and_then(Value::as_str).and_then(|t| t.parse::<DateTime<Utc>>().ok());
            let records = answer.get("records").and_then(Value::as_u64).unwrap_or(0);
            let (newest, age) = match newest {
                Some(t) => (t.format("%Y-%m-%d %H:%M UTC").to_string(), age(self.generated_at - t)),
                None => ("no records in range".to_string(), String::new()),
            };
            let _ = write!(
                rows,
                "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"num\">{records}</td></tr>",
                table.name,
                escape(&newest),
                escape(&age)
            );
        }
        Ok(rows)
    }

    fn page(&self, freshness: &str, body: &str) -> String {
        let banner = self.banner.as_deref().map(|b| format!("<p class=\"banner\">{}</p>", escape(b))).unwrap_or_default();
        format!(
            r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>auditlake report {from} to {to}</title>
<style>{STYLE}</style>
</head>
<body>
<header>
<h1>auditlake report</h1>
{banner}
<p>Lake <code>{lake}</code> · {from} to {to} · generated {generated}</p>
<table class="freshness"><thead><tr><th>table</th><th>newest record in range</th><th>age</th><th class="num">records</th></tr></thead><tbody>{freshness}</tbody></table>
</header>
<main>
{body}
</main>
<footer>Each visual names the query file it runs (<code>athena/queries/</code>, the same files as the Athena named queries and the QuickSight datasets). The queries keep their own windows: 30 days, 90 for keys created.</footer>
</body>
</html>
"#,
            from = self.from,
            to = self.to,
            lake = escape(&self.lake),
            generated = self.generated_at.format("%Y-%m-%d %H:%M UTC"),
        )
    }
}

/// "3 h", "2 d 4 h", "12 min".
fn age(d: chrono::Duration) -> String {
    let minutes = d.num_minutes().max(0);
    match minutes {
        m if m < 60 => format!("{m} min"),
        m if m < 48 * 60 => format!("{} h", m / 60),
        m => format!("{} d {} h", m / (24 * 60), m / 60 % 24),
    }
}

fn cell(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => escape(s),
        Some(v) => escape(&v.to_string()),
    }
}

fn number(row: &Row, column: &str) -> f64 {
    row.get(column).and_then(Value::as_f64).unwrap_or(0.0)
}

fn figure(query: &QueryFile, shape: Shape, columns: &[String], rows: &[Row]) -> String {
    let shown_as = query.visual.as_deref().map(|v| format!(" · {}", escape(v))).unwrap_or_default();
    let caption = format!(
        "<figcaption><strong>{}</strong><br><span class=\"answers\">{}</span><br><span class=\"source\">athena/queries/{}.sql{shown_as}</span></figcaption>",
        escape(&query.title),
        escape(&query.answers),
        escape(&query.stem)
    );
    let class = if matches!(shape, Shape::Table) { "table" } else { "chart" };
    let content = if rows.is_empty() {
        "<p class=\"empty\">No rows in this range.</p>".to_string()
    } else {
        match shape {
            Shape::Table => table(columns, rows),
            Shape::Lines(columns) => {
                let days: Vec<String> = rows.iter().map(|r| cell(r.get("day"))).collect();
                let series: Vec<Series> = columns
                    .iter()
                    .map(|(column, name, color)| Series {
                        name: (*name).to_string(),
                        values: rows.iter().map(|r| number(r, column)).collect(),
                        color,
                    })
                    .collect();
                svg::line_chart(&days, &series, &query.title)
            }
            Shape::Bars { category, value, part } => {
                let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
                for r in rows {
                    let label = r.get(category).and_then(Value::as_str).unwrap_or("unknown").to_string();
                    let entry = sums.entry(label).or_default();
                    entry.0 += number(r, value);
                    entry.1 += part.map(|p| number(r, p)).unwrap_or(0.0);
                }
                let mut bars: Vec<Bar> =
                    sums.into_iter().map(|(label, (v, p))| Bar { label, value: v, part: part.map(|_| p) }).collect();
                bars.sort_by(|a, b| b.value.total_cmp(&a.value).then_with(|| a.label.cmp(&b.label)));
                let value_name = value.replace('_', " ");
                svg::bar_chart(&bars, &value_name, part.map(|_| "failed"), &query.title)
            }
        }
    };
    format!("<figure class=\"{class}\" data-query=\"{}\">{caption}{content}</figure>", escape(&query.stem))
}

/// The rows as a table, columns in the query's order.
fn table(columns: &[String], rows: &[Row]) -> String {
    let mut html = String::from("<table><thead><tr>");
    for c in columns {
        let _ = write!(html, "<th>{}</th>", escape(c));
    }
    html.push_str("</tr></thead><tbody>");
    for r in rows {
        html.push_str("<tr>");
        for c in columns {
            let _ = write!(html, "<td>{}</td>", cell(r.get(c)));
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
    html
}

const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111827; margin: 24px auto; max-width: 820px; padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid #e5e7eb; padding-bottom: 4px; }
.banner { background: #fff7e6; border: 1px solid #f5c26b; padding: 6px 10px; border-radius: 4px; }
figure { margin: 12px 0 20px; break-inside: avoid; page-break-inside: avoid; }
figcaption { margin-bottom: 6px; }
.answers, .source, footer { color: #4b5563; font-size: 12px; }
.source { font-family: ui-monospace, monospace; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { text-align: left; padding: 3px 5px; border-bottom: 1px solid #e5e7eb; vertical-align: top; overflow-wrap: anywhere; }
figure.table table { font-size: 11px; table-layout: auto; }
th { background: #f3f4f6; }
.num { text-align: right; }
.empty { color: #6b7280; font-style: italic; }
svg text { font-size: 11px; fill: #374151; }
svg .axis { fill: #6b7280; }
footer { margin-top: 32px; border-top: 1px solid #e5e7eb; padding-top: 8px; }
@media print { body { margin: 0; max-width: none; } .banner { border-color: #999; } }
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_naturally() {
        assert_eq!(age(chrono::Duration::minutes(12)), "12 min");
        assert_eq!(age(chrono::Duration::hours(5)), "5 h");
        assert_eq!(age(chrono::Duration::hours(52)), "2 d 4 h");
    }

    #[test]
    fn every_visual_has_its_query_file() {
        for (_, stem, _) in VISUALS {
            let q = queries::embedded_query(stem).unwrap();
            assert!(q.visual.is_some(), "{stem} has a visual header");
        }
    }
}
