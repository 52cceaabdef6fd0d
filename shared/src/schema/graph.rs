//! Mapping Microsoft Graph records (JSON) to lake rows (Arrow).
//!
//! Each Graph table is declared once, with Graph's camelCase property names
//! ([`GraphTable::graph_fields`]). The lake schema is derived from it: names become snake_case
//! (with a few explicit renames such as `createdDateTime` → `created_at`), and the columns
//! every Graph table carries are appended (`tenant_id`, `raw`, `ingested_at`, `run_id`, plus
//! per-table extras such as `sign_in_event_type`).
//!
//! [`GraphBatchBuilder`] decodes raw record texts with arrow-json's tape decoder straight into
//! the Graph-named arrays (no intermediate `serde_json::Value`), then re-labels them with the
//! lake names without copying data. Parsing is lenient: unknown properties are ignored (they
//! stay in `raw`), numbers and booleans where strings are expected are coerced, enums are
//! strings. A record that still cannot be decoded is returned to the caller for quarantine
//! and the rest of the batch goes on.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::{Array, ArrayRef, RecordBatch, StringArray, TimestampMillisecondArray, make_array};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef};
use chrono::{DateTime, Utc};

use super::timestamp;

/// Constructors for the compact schema declarations of the Graph tables.
pub(crate) mod dsl {
    use super::*;

    pub fn s(name: &str) -> Field {
        Field::new(name, DataType::Utf8, true)
    }
    pub fn b(name: &str) -> Field {
        Field::new(name, DataType::Boolean, true)
    }
    pub fn i32(name: &str) -> Field {
        Field::new(name, DataType::Int32, true)
    }
    pub fn f64(name: &str) -> Field {
        Field::new(name, DataType::Float64, true)
    }
    pub fn ts(name: &str) -> Field {
        Field::new(name, timestamp(), true)
    }
    pub fn strings(name: &str) -> Field {
        Field::new(name, DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))), true)
    }
    pub fn obj(name: &str, fields: Vec<Field>) -> Field {
        Field::new(name, DataType::Struct(Fields::from(fields)), true)
    }
    pub fn list(name: &str, fields: Vec<Field>) -> Field {
        let item = Field::new("item", DataType::Struct(Fields::from(fields)), true);
        Field::new(name, DataType::List(Arc::new(item)), true)
    }
}

/// A lake table filled from Graph.
#[derive(Debug)]
pub struct GraphTable {
    /// Graph-named top-level fields, in lake column order.
    pub graph_fields: fn() -> Vec<Field>,
    /// The Graph property that decides `dt` (`createdDateTime`, `activityDateTime`).
    pub time_property: &'static str,
    /// Extra string columns filled from the request context (e.g. `sign_in_event_type`),
    /// placed after `tenant_id`.
    pub context_columns: &'static [&'static str],
}

/// Names that are not plain snake_case of the Graph name.
const RENAMES: &[(&str, &str)] = &[("createdDateTime", "created_at"), ("activityDateTime", "activity_at")];

/// `countryOrRegion` → `country_or_region`, `riskEventTypes_v2` → `risk_event_types_v2`.
pub fn snake_case(name: &str) -> String {
    if let Some((_, to)) = RENAMES.iter().find(|(from, _)| *from == name) {
        return to.to_string();
    }
    let mut out = String::with_capacity(name.len() + 4);
    let chars: Vec<char> = name.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        if c.is_ascii_uppercase() {
            let prev_lower = i > 0 && (chars[i - 1].is_ascii_lowercase() || chars[i - 1].is_ascii_digit());
            let next_lower = chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
            let prev_upper = i > 0 && chars[i - 1].is_ascii_uppercase();
            if prev_lower || (prev_upper && next_lower) {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(*c);
        }
    }
    out
}

fn lake_type(graph: &DataType) -> DataType {
    match graph {
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| lake_field(f)).collect()),
        DataType::List(item) => DataType::List(Arc::new(Field::new(item.name(), lake_type(item.data_type()), item.is_nullable()))),
        other => other.clone(),
    }
}

fn lake_field(graph: &Field) -> Field {
    Field::new(snake_case(graph.name()), lake_type(graph.data_type()), graph.is_nullable())
}

impl GraphTable {
    /// The Graph-named schema arrow-json decodes into.
    pub fn graph_schema(&self) -> SchemaRef {
        Arc::new(Schema::new((self.graph_fields)()))
    }

    /// The lake schema: the Graph fields renamed, then the common columns.
    pub fn lake_schema(&self) -> SchemaRef {
        let mut fields: Vec<Field> = (self.graph_fields)().iter().map(lake_field).collect();
        let insert_at = fields.iter().position(|f| f.name() == "id").map_or(0, |i| i + 1);
        let mut extra = vec![Field::new("tenant_id", DataType::Utf8, false)];
        extra.extend(self.context_columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)));
        fields.splice(insert_at..insert_at, extra);
        fields.push(Field::new("raw", DataType::Utf8, false));
        fields.push(Field::new("ingested_at", timestamp(), false));
        fields.push(Field::new("run_id", DataType::Utf8, false));
        Arc::new(Schema::new(fields))
    }
}

/// Values shared by every row of a batch.
#[derive(Debug, Clone)]
pub struct RowContext<'a> {
    pub tenant_id: &'a str,
    /// One value per `GraphTable::context_columns`.
    pub context: &'a [&'a str],
    pub ingested_at: DateTime<Utc>,
    pub run_id: &'a str,
}

/// A record that could not be decoded, with the reason.
#[derive(Debug, Clone)]
pub struct Rejected {
    pub raw: String,
    pub reason: String,
}

/// Builds lake batches from raw Graph record texts.
pub struct GraphBatchBuilder {
    table: &'static GraphTable,
    graph_schema: SchemaRef,
    lake_schema: SchemaRef,
    raws: Vec<String>,
}

impl std::fmt::Debug for GraphBatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GraphBatchBuilder").field("pending", &self.raws.len()).finish()
    }
}

impl GraphBatchBuilder {
    pub fn new(table: &'static GraphTable) -> Self {
        GraphBatchBuilder { table, graph_schema: table.graph_schema(), lake_schema: table.lake_schema(), raws: Vec::new() }
    }

    pub fn lake_schema(&self) -> SchemaRef {
        self.lake_schema.clone()
    }

    pub fn push(&mut self, raw: &str) {
        self.raws.push(raw.to_string());
    }

    pub fn len(&self) -> usize {
        self.raws.len()
    }

    pub fn is_empty(&self) -> bool {
        self.raws.is_empty()
    }

    /// Decodes every pushed record. Records that fail are returned, the others form the batch.
    pub fn finish(&mut self, ctx: &RowContext<'_>) -> Result<(Option<RecordBatch>, Vec<Rejected>), ArrowError> {
        let raws = std::mem::take(&mut self.raws);
        if raws.is_empty() {
            return Ok((None, Vec::new()));
        }
        match self.decode(&raws) {
            Ok(graph) => Ok((Some(self.to_lake(graph, &raws, ctx)?), Vec::new())),
            // One bad record fails the whole decode: find it by decoding one at a time.
            Err(_) => {
                let mut good = Vec::new();
                let mut rejected = Vec::new();
                for raw in raws {
                    match self.decode(std::slice::from_ref(&raw)) {
                        Ok(_) => good.push(raw),
                        Err(e) => rejected.push(Rejected { raw, reason: e.to_string() }),
                    }
                }
                let batch = if good.is_empty() { None } else { Some(self.to_lake(self.decode(&good)?, &good, ctx)?) };
                Ok((batch, rejected))
            }
        }
    }

    fn decode(&self, raws: &[String]) -> Result<RecordBatch, ArrowError> {
        let mut decoder = arrow_json::ReaderBuilder::new(self.graph_schema.clone())
            .with_batch_size(raws.len())
            .with_coerce_primitive(true)
            .with_strict_mode(false)
            .build_decoder()?;
        for raw in raws {
            let bytes = raw.as_bytes();
            let read = decoder.decode(bytes)?;
            if read != bytes.len() {
                return Err(ArrowError::JsonError("record is not a single JSON object".into()));
            }
        }
        let batch = decoder.flush()?.ok_or_else(|| ArrowError::JsonError("no records decoded".into()))?;
        if batch.num_rows() != raws.len() {
            return Err(ArrowError::JsonError(format!("{} texts decoded into {} records", raws.len(), batch.num_rows())));
        }
        Ok(batch)
    }

    fn to_lake(&self, graph: RecordBatch, raws: &[String], ctx: &RowContext<'_>) -> Result<RecordBatch, ArrowError> {
        let rows = graph.num_rows();
        let lake_fields = self.lake_schema.fields();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(lake_fields.len());
        let mut graph_columns = graph.columns().iter();
        for field in lake_fields.iter() {
            let column: ArrayRef = match field.name().as_str() {
                "tenant_id" => Arc::new(StringArray::from(vec![ctx.tenant_id; rows])),
                "raw" => {
                    let mut b = StringBuilder::with_capacity(rows, raws.iter().map(String::len).sum());
                    raws.iter().for_each(|r| b.append_value(r));
                    Arc::new(b.finish())
                }
                "ingested_at" => Arc::new(
                    TimestampMillisecondArray::from(vec![ctx.ingested_at.timestamp_millis(); rows]).with_timezone("UTC"),
                ),
                "run_id" => Arc::new(StringArray::from(vec![ctx.run_id; rows])),
                name if self.table.context_columns.contains(&name) => {
                    let i = self.table.context_columns.iter().position(|c| *c == name).expect("contains");
                    Arc::new(StringArray::from(vec![ctx.context.get(i).copied(); rows]))
                }
                _ => {
                    let column = graph_columns.next().expect("lake schema has one column per Graph field");
                    relabel(column.as_ref(), field.data_type())
                }
            };
            columns.push(column);
        }
        RecordBatch::try_new(self.lake_schema.clone(), columns)
    }
}

/// The same array with the lake's nested field names (layouts are identical, no data copied).
fn relabel(array: &dyn Array, target: &DataType) -> ArrayRef {
    make_array(relabel_data(array.to_data(), target))
}

fn relabel_data(data: arrow_data::ArrayData, target: &DataType) -> arrow_data::ArrayData {
    match target {
        DataType::Struct(fields) => {
            let children: Vec<arrow_data::ArrayData> =
                data.child_data().iter().zip(fields.iter()).map(|(c, f)| relabel_data(c.clone(), f.data_type())).collect();
            // An object that is empty or holds only nulls becomes a null struct, as a missing
            // one does (decoded arrays start at offset 0, so row i of a child is row i).
            let nulls: arrow_buffer::NullBuffer =
                (0..data.len()).map(|i| data.is_valid(i) && children.iter().any(|c| c.is_valid(i))).collect::<Vec<bool>>().into();
            data.into_builder()
                .data_type(target.clone())
                .child_data(children)
                .nulls(Some(nulls))
                .build()
                .expect("relabelling keeps the layout of an array decoded with the Graph schema")
        }
        DataType::List(item) => {
            let children = data.child_data().iter().map(|c| relabel_data(c.clone(), item.data_type())).collect();
            data.into_builder()
                .data_type(target.clone())
                .child_data(children)
                .build()
                .expect("relabelling keeps the layout of an array decoded with the Graph schema")
        }
        _ => data,
    }
}

/// The id and time of a record, read without decoding the rest; `None` when either is
/// missing or unreadable. Tolerates repeated keys (last wins), as the published examples have.
pub fn record_key(raw: &str, time_property: &str) -> Option<(String, DateTime<Utc>)> {
    #[derive(serde::Deserialize)]
    struct Key<'a> {
        #[serde(borrow)]
        id: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, rename = "createdDateTime")]
        created: Option<std::borrow::Cow<'a, str>>,
        #[serde(borrow, rename = "activityDateTime")]
        activity: Option<std::borrow::Cow<'a, str>>,
    }
    let (id, time) = match serde_json::from_str::<Key<'_>>(raw) {
        Ok(k) => (k.id.map(|c| c.into_owned()), if time_property == "createdDateTime" { k.created } else { k.activity }.map(|c| c.into_owned())),
        // Duplicate keys fail the borrowed parse; a map keeps the last value.
        Err(_) => {
            let v: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw).ok()?;
            (v.get("id")?.as_str().map(String::from), v.get(time_property)?.as_str().map(String::from))
        }
    };
    let time = DateTime::parse_from_rfc3339(&time?).ok()?.with_timezone(&Utc);
    Some((id.filter(|i| !i.is_empty())?, time))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snake_case_follows_design_names() {
        assert_eq!(snake_case("countryOrRegion"), "country_or_region");
        assert_eq!(snake_case("riskEventTypes_v2"), "risk_event_types_v2");
        assert_eq!(snake_case("createdDateTime"), "created_at");
        assert_eq!(snake_case("ipAddress"), "ip_address");
        assert_eq!(snake_case("userPrincipalName"), "user_principal_name");
        assert_eq!(snake_case("isInteractive"), "is_interactive");
        assert_eq!(snake_case("processingTimeInMilliseconds"), "processing_time_in_milliseconds");
        assert_eq!(snake_case("id"), "id");
    }

    #[test]
    fn record_keys_tolerate_repeated_keys() {
        let raw = r#"{"id":"a","createdDateTime":"2026-01-01T00:00:00Z","id":"b"}"#;
        assert_eq!(record_key(raw, "createdDateTime").unwrap().0, "b");
        assert!(record_key(r#"{"createdDateTime":"2026-01-01T00:00:00Z"}"#, "createdDateTime").is_none());
        assert!(record_key(r#"{"id":"x","createdDateTime":"yesterday"}"#, "createdDateTime").is_none());
        let (_, t) = record_key(r#"{"id":"x","createdDateTime":"2020-03-13T19:15:41.6195833Z"}"#, "createdDateTime").unwrap();
        assert_eq!(t.timestamp_subsec_nanos(), 619_583_300);
    }
}
