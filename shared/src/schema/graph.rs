//! Mapping Microsoft Graph records (JSON) to lake rows (Arrow).
//!
//! Each Graph table is declared once, with Graph's camelCase property names
//! ([`GraphTable::graph_fields`]). The lake schema is derived from it: names become snake_case
//! (with a few explicit renames such as `createdDateTime` → `created_at`), and the columns
//! every Graph table carries are appended (`tenant_id`, `raw`, `ingested_at`, `run_id`, plus
//! per-table extras such as `sign_in_event_type`).
//!
//! [`GraphMapper`] decodes raw record texts with arrow-json's tape decoder straight into
//! the Graph-named arrays (no intermediate `serde_json::Value`), then re-labels them with the
//! lake names without copying data. Parsing is lenient: unknown properties are ignored (they
//! stay in `raw`), numbers and booleans where strings are expected are coerced, enums are
//! strings. A record that still cannot be decoded is returned to the caller for quarantine
//! and the rest of the batch goes on.

use std::sync::Arc;

use arrow_array::{Array, ArrayRef, BooleanArray, RecordBatch, StringArray, TimestampMillisecondArray, make_array};
use arrow_schema::{ArrowError, DataType, Field, Fields, Schema, SchemaRef};
use chrono::{DateTime, NaiveDate, Utc};

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
    use heck::ToSnakeCase;
    match RENAMES.iter().find(|(from, _)| *from == name) {
        Some((_, to)) => to.to_string(),
        None => name.to_snake_case(),
    }
}

fn lake_type(graph: &DataType) -> DataType {
    match graph {
        DataType::Struct(fields) => DataType::Struct(fields.iter().map(|f| lake_field(f)).collect()),
        DataType::List(item) => {
            DataType::List(Arc::new(Field::new(item.name(), lake_type(item.data_type()), item.is_nullable())))
        }
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
        fields.push(Field::new(RAW, DataType::Utf8, false));
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
    /// Its position among the records given to [`GraphMapper::map`].
    pub index: usize,
    pub raw: String,
    pub reason: String,
}

/// What [`GraphMapper::map`] made of a page of records.
#[derive(Debug, Default)]
pub struct Mapped {
    /// The records that decoded, in input order, with the lake schema; `None` when none did.
    pub batch: Option<RecordBatch>,
    /// The records that did not, with the reason.
    pub rejected: Vec<Rejected>,
}

/// Maps raw Graph record texts (one page at a time) to lake batches.
///
/// The records come as a string array, which becomes the `raw` column as it is (no copy: an
/// import splits its file straight into such arrays); arrow-json decodes the columns from the
/// same text, and the record's id and time are read back from the decoded columns
/// ([`RecordKeys`]) instead of parsing the text a second time.
#[derive(Debug)]
pub struct GraphMapper {
    table: &'static GraphTable,
    graph_schema: SchemaRef,
    lake_schema: SchemaRef,
    /// The decoder of the last page, kept for the next one: building a decoder for the whole
    /// schema and growing its buffers again for every page costs ~15 % of the decode time. A
    /// decoder that failed is dropped, never reused.
    decoder: Option<(arrow_json::reader::Decoder, usize)>,
}

impl GraphMapper {
    pub fn new(table: &'static GraphTable) -> Self {
        GraphMapper { table, graph_schema: table.graph_schema(), lake_schema: table.lake_schema(), decoder: None }
    }

    /// Decodes `records`. Records that fail are returned with the reason, the others form
    /// the batch.
    pub fn map(&mut self, records: &StringArray, ctx: &RowContext<'_>) -> Result<Mapped, ArrowError> {
        if records.is_empty() {
            return Ok(Mapped::default());
        }
        let all: Vec<usize> = (0..records.len()).collect();
        match self.decode(records, &all) {
            Ok(graph) => Ok(Mapped { batch: Some(self.to_lake(graph, records.clone(), ctx)?), rejected: Vec::new() }),
            // One bad record fails the whole decode: find it by decoding one at a time.
            Err(_) => {
                let mut good = Vec::new();
                let mut rejected = Vec::new();
                for index in all {
                    match self.decode(records, &[index]) {
                        Ok(_) => good.push(index),
                        Err(e) => rejected.push(Rejected { index, raw: text(records, index).to_string(), reason: e.to_string() }),
                    }
                }
                let batch = if good.is_empty() {
                    None
                } else {
                    let graph = self.decode(records, &good)?;
                    let raws = StringArray::from_iter_values(good.iter().map(|&i| text(records, i)));
                    Some(self.to_lake(graph, raws, ctx)?)
                };
                Ok(Mapped { batch, rejected })
            }
        }
    }

    /// Decodes the records at `indices` of `records`.
    fn decode(&mut self, records: &StringArray, indices: &[usize]) -> Result<RecordBatch, ArrowError> {
        let (mut decoder, batch_size) = match self.decoder.take() {
            Some((decoder, batch_size)) if batch_size >= indices.len() => (decoder, batch_size),
            _ => {
                let batch_size = indices.len().max(1000);
                let decoder = arrow_json::ReaderBuilder::new(self.graph_schema.clone())
                    .with_batch_size(batch_size)
                    .with_coerce_primitive(true)
                    .with_strict_mode(false)
                    .build_decoder()?;
                (decoder, batch_size)
            }
        };
        for &i in indices {
            let bytes = text(records, i).as_bytes();
            let read = decoder.decode(bytes)?;
            if read != bytes.len() || decoder.has_partial_record() {
                return Err(ArrowError::JsonError("record is not a single JSON object".into()));
            }
        }
        let batch = decoder.flush()?.ok_or_else(|| ArrowError::JsonError("no records decoded".into()))?;
        if batch.num_rows() != indices.len() {
            return Err(ArrowError::JsonError(format!("{} texts decoded into {} records", indices.len(), batch.num_rows())));
        }
        self.decoder = Some((decoder, batch_size));
        Ok(batch)
    }

    /// The lake batch of the decoded `graph` batch, with `raws` (its records' texts) as `raw`.
    fn to_lake(&self, graph: RecordBatch, raws: StringArray, ctx: &RowContext<'_>) -> Result<RecordBatch, ArrowError> {
        let rows = graph.num_rows();
        let lake_fields = self.lake_schema.fields();
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(lake_fields.len());
        let mut graph_columns = graph.columns().iter();
        for field in lake_fields.iter() {
            let column: ArrayRef = match field.name().as_str() {
                "tenant_id" => Arc::new(StringArray::from(vec![ctx.tenant_id; rows])),
                RAW => Arc::new(raws.clone()),
                "ingested_at" => {
                    Arc::new(TimestampMillisecondArray::from(vec![ctx.ingested_at.timestamp_millis(); rows]).with_timezone("UTC"))
                }
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

/// Record `i` of `records`; a null record is an empty text (which does not decode).
fn text(records: &StringArray, i: usize) -> &str {
    if records.is_valid(i) { records.value(i) } else { "" }
}

/// The id and time of a record the mapping rejected, when its text still shows them (so it
/// can be quarantined under its own day, and recognised when it comes again).
pub fn record_key(raw: &str, time_property: &str) -> Option<(String, DateTime<Utc>)> {
    let record: serde_json::Map<String, serde_json::Value> = serde_json::from_str(raw).ok()?;
    let id = record.get("id")?.as_str().filter(|id| !id.is_empty())?;
    let time = DateTime::parse_from_rfc3339(record.get(time_property)?.as_str()?).ok()?.with_timezone(&Utc);
    Some((id.to_string(), time))
}

/// The lake column holding each record as received.
pub const RAW: &str = "raw";

/// The columns that identify the records of a batch made by [`GraphMapper`].
#[derive(Debug, Clone, Copy)]
pub struct RecordKeys<'a> {
    pub ids: &'a StringArray,
    /// The table's time property (`created_at`, `activity_at`).
    pub times: &'a TimestampMillisecondArray,
    pub raws: &'a StringArray,
}

impl<'a> RecordKeys<'a> {
    /// Reads the key columns of `batch`, a batch of `table` made by [`GraphMapper`].
    pub fn of(batch: &'a RecordBatch, table: &GraphTable) -> Result<Self, ArrowError> {
        fn column<'b, T: 'static>(batch: &'b RecordBatch, name: &str) -> Result<&'b T, ArrowError> {
            batch
                .column_by_name(name)
                .and_then(|c| c.as_any().downcast_ref::<T>())
                .ok_or_else(|| ArrowError::SchemaError(format!("batch has no {name} column of the lake type")))
        }
        Ok(RecordKeys {
            ids: column(batch, "id")?,
            times: column(batch, &snake_case(table.time_property))?,
            raws: column(batch, RAW)?,
        })
    }

    /// The id and time of row `i`; `None` when the record has no id or no time.
    pub fn get(&self, i: usize) -> Option<(&'a str, DateTime<Utc>)> {
        let id = self.ids.is_valid(i).then(|| self.ids.value(i)).filter(|id| !id.is_empty())?;
        let time = self.times.is_valid(i).then(|| DateTime::from_timestamp_millis(self.times.value(i))).flatten()?;
        Some((id, time))
    }
}

/// Splits the rows of `batch` marked in `keep` by the UTC day of `times` (the batch's time
/// column), oldest day first. Without `keep` every row is taken; rows without a time are
/// always left out (the collector quarantines them first). A batch that falls on one day and
/// keeps every row is returned as it is, without copying.
pub fn split_by_day(
    batch: &RecordBatch,
    times: &TimestampMillisecondArray,
    keep: Option<&BooleanArray>,
) -> Result<Vec<(NaiveDate, RecordBatch)>, ArrowError> {
    const DAY_MS: i64 = 86_400_000;
    let day_of = |i: usize| times.is_valid(i).then(|| times.value(i).div_euclid(DAY_MS));
    let kept = |i: usize| keep.is_none_or(|k| k.is_valid(i) && k.value(i));
    let mut days: Vec<i64> = (0..batch.num_rows()).filter(|&i| kept(i)).filter_map(day_of).collect();
    days.sort_unstable();
    days.dedup();
    let to_date = |d: i64| {
        DateTime::from_timestamp_millis(d * DAY_MS)
            .map(|t| t.date_naive())
            .ok_or_else(|| ArrowError::ComputeError(format!("day {d} is out of range")))
    };
    let all_kept = (0..batch.num_rows()).all(|i| kept(i) && day_of(i).is_some());
    if days.len() == 1 && all_kept {
        return Ok(vec![(to_date(days[0])?, batch.clone())]);
    }
    days.into_iter()
        .map(|d| {
            let mask: BooleanArray = (0..batch.num_rows()).map(|i| Some(kept(i) && day_of(i) == Some(d))).collect();
            Ok((to_date(d)?, arrow_select::filter::filter_record_batch(batch, &mask)?))
        })
        .collect()
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

    fn mapped(records: &[&str]) -> Mapped {
        let ctx = RowContext { tenant_id: "t", context: &["interactiveUser"], ingested_at: Utc::now(), run_id: "r" };
        GraphMapper::new(&crate::schema::entra_signins::GRAPH).map(&StringArray::from(records.to_vec()), &ctx).unwrap()
    }

    #[test]
    fn record_keys_come_from_the_decoded_columns_last_key_wins() {
        let m = mapped(&[
            r#"{"id":"a","createdDateTime":"2020-03-13T19:15:41.6195833Z","id":"b"}"#,
            r#"{"createdDateTime":"2026-01-01T00:00:00Z"}"#,
            r#"{"id":"","createdDateTime":"2026-01-01T00:00:00Z"}"#,
            r#"{"id":"x"}"#,
        ]);
        assert!(m.rejected.is_empty());
        let batch = m.batch.unwrap();
        let keys = RecordKeys::of(&batch, &crate::schema::entra_signins::GRAPH).unwrap();
        let (id, t) = keys.get(0).unwrap();
        assert_eq!(id, "b");
        assert_eq!(t.to_rfc3339(), "2020-03-13T19:15:41.619+00:00");
        assert!(keys.get(1).is_none() && keys.get(2).is_none() && keys.get(3).is_none());
        assert!(keys.raws.value(3).contains(r#""id":"x""#));
    }

    #[test]
    fn batches_split_by_day_and_keep_only_marked_rows() {
        let m = mapped(&[
            r#"{"id":"1","createdDateTime":"2026-11-27T23:59:59.999Z"}"#,
            r#"{"id":"2","createdDateTime":"2026-11-28T00:00:00Z"}"#,
            r#"{"id":"3","createdDateTime":"2026-11-27T10:00:00Z"}"#,
            r#"{"id":"4","createdDateTime":"2026-11-28T10:00:00Z"}"#,
        ]);
        let batch = m.batch.unwrap();
        let keys = RecordKeys::of(&batch, &crate::schema::entra_signins::GRAPH).unwrap();
        let keep = BooleanArray::from(vec![true, true, true, false]);
        let days = split_by_day(&batch, keys.times, Some(&keep)).unwrap();
        let ids = |b: &RecordBatch| {
            let k = RecordKeys::of(b, &crate::schema::entra_signins::GRAPH).unwrap();
            (0..b.num_rows()).map(|i| k.get(i).unwrap().0.to_string()).collect::<Vec<_>>()
        };
        assert_eq!(days.len(), 2);
        assert_eq!(days[0].0.to_string(), "2026-11-27");
        assert_eq!(ids(&days[0].1), ["1", "3"]);
        assert_eq!(days[1].0.to_string(), "2026-11-28");
        assert_eq!(ids(&days[1].1), ["2"]);
        let one_day = batch.slice(1, 1);
        let whole =
            split_by_day(&one_day, RecordKeys::of(&one_day, &crate::schema::entra_signins::GRAPH).unwrap().times, None).unwrap();
        assert_eq!(whole.len(), 1);
        assert_eq!(whole[0].1.num_rows(), 1);
    }

    #[test]
    fn a_reused_mapper_is_not_disturbed_by_a_bad_page() {
        let ctx = RowContext { tenant_id: "t", context: &["interactiveUser"], ingested_at: Utc::now(), run_id: "r" };
        let mut mapper = GraphMapper::new(&crate::schema::entra_signins::GRAPH);
        let good =
            [r#"{"id":"1","createdDateTime":"2026-11-28T10:00:00Z"}"#, r#"{"id":"2","createdDateTime":"2026-11-28T10:00:01Z"}"#];
        let good = StringArray::from(good.to_vec());
        assert_eq!(mapper.map(&good, &ctx).unwrap().batch.unwrap().num_rows(), 2);
        // A truncated record must not swallow the record after it.
        let bad =
            [r#"{"id":"3","createdDateTime":"2026-11-28T10:00:02Z""#, r#"{"id":"4","createdDateTime":"2026-11-28T10:00:03Z"}"#];
        let mapped = mapper.map(&StringArray::from(bad.to_vec()), &ctx).unwrap();
        assert_eq!(mapped.rejected.len(), 1);
        assert_eq!(mapped.rejected[0].index, 0);
        assert!(mapped.rejected[0].raw.contains(r#""id":"3""#));
        let batch = mapped.batch.unwrap();
        let keys = RecordKeys::of(&batch, &crate::schema::entra_signins::GRAPH).unwrap();
        assert_eq!(keys.get(0).unwrap().0, "4");
        let again = mapper.map(&good, &ctx).unwrap().batch.unwrap();
        let keys = RecordKeys::of(&again, &crate::schema::entra_signins::GRAPH).unwrap();
        assert_eq!((keys.get(0).unwrap().0, keys.get(1).unwrap().0), ("1", "2"));
    }
}
