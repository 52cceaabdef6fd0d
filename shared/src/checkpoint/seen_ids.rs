//! The compact JSON form of a checkpoint's `seen_ids`.
//!
//! A large tenant writes hundreds of thousands of ids per overlap hour, and each one is kept in
//! the checkpoint until it leaves the overlap. As a plain `{"<id>": "<time>"}` map that costs
//! ~66 bytes an id. Here ids are grouped by minute, and Graph's GUID ids are stored as 16
//! bytes each (base64, ~21 characters); any other id (directory audits use `Directory_…`) is
//! kept verbatim in its minute's list:
//!
//! ```json
//! {"v": 1, "minutes": {"2026-11-28T10:06:00Z": {"guids": "ZupU6…", "ids": ["Directory_…"]}}}
//! ```
//!
//! An id's minute is its time rounded *up*: a loaded id may look up to a minute later than it
//! was, so pruning (`time >= cursor − overlap`) keeps it at least as long as it is needed,
//! never shorter. Checkpoints written before this format (the plain map) still load.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, DurationRound, TimeDelta, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

const GUID_BYTES: usize = 16;

#[derive(Serialize, Deserialize, Default)]
struct Minute {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    guids: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    ids: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Compact {
    v: u32,
    minutes: BTreeMap<DateTime<Utc>, Minute>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum AnyForm {
    Compact(Compact),
    /// The plain `{"<id>": "<time>"}` map of earlier checkpoints.
    Plain(BTreeMap<String, DateTime<Utc>>),
}

/// The id's 16 bytes when it is a GUID in Graph's canonical form (lowercase, hyphenated), so
/// that it renders back to exactly the same text.
fn guid_bytes(id: &str) -> Option<[u8; GUID_BYTES]> {
    let guid = uuid::Uuid::try_parse(id).ok()?;
    (guid.hyphenated().to_string() == id).then(|| *guid.as_bytes())
}

fn minute_up(time: DateTime<Utc>) -> DateTime<Utc> {
    // Only fails for times at the very end of chrono's range, which no log record has.
    time.duration_round_up(TimeDelta::minutes(1)).unwrap_or(time)
}

pub fn serialize<S: Serializer>(seen: &BTreeMap<String, DateTime<Utc>>, serializer: S) -> Result<S::Ok, S::Error> {
    let mut guids: BTreeMap<DateTime<Utc>, Vec<u8>> = BTreeMap::new();
    let mut minutes: BTreeMap<DateTime<Utc>, Minute> = BTreeMap::new();
    for (id, time) in seen {
        let minute = minute_up(*time);
        match guid_bytes(id) {
            Some(bytes) => guids.entry(minute).or_default().extend_from_slice(&bytes),
            None => minutes.entry(minute).or_default().ids.push(id.clone()),
        }
    }
    for (minute, bytes) in guids {
        minutes.entry(minute).or_default().guids = BASE64.encode(bytes);
    }
    Compact { v: 1, minutes }.serialize(serializer)
}

pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BTreeMap<String, DateTime<Utc>>, D::Error> {
    use serde::de::Error;
    let compact = match AnyForm::deserialize(deserializer)? {
        AnyForm::Plain(map) => return Ok(map),
        AnyForm::Compact(c) if c.v == 1 => c,
        AnyForm::Compact(c) => return Err(D::Error::custom(format!("seen_ids format v{} is newer than this auditlake", c.v))),
    };
    let mut seen = BTreeMap::new();
    for (minute, Minute { guids, ids }) in compact.minutes {
        let bytes = BASE64.decode(&guids).map_err(|e| D::Error::custom(format!("seen_ids guids of {minute}: {e}")))?;
        if bytes.len() % GUID_BYTES != 0 {
            return Err(D::Error::custom(format!(
                "seen_ids guids of {minute}: {} bytes is not a whole number of GUIDs",
                bytes.len()
            )));
        }
        for chunk in bytes.chunks_exact(GUID_BYTES) {
            let guid = uuid::Uuid::from_slice(chunk).map_err(D::Error::custom)?;
            seen.insert(guid.hyphenated().to_string(), minute);
        }
        for id in ids {
            seen.insert(id, minute);
        }
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Holder {
        #[serde(with = "super")]
        seen: BTreeMap<String, DateTime<Utc>>,
    }

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn ids_round_trip_with_times_rounded_up_to_the_minute() {
        let seen = BTreeMap::from([
            ("66ea54eb-6301-4ee5-be62-ff5a759b0100".to_string(), t("2026-11-28T10:05:30.250Z")),
            ("de7e60eb-ed89-4d73-8205-2227def6b7c9".to_string(), t("2026-11-28T10:05:59Z")),
            ("6701123a-b4c6-48af-8565-565c8bf7cabc".to_string(), t("2026-11-28T10:07:00Z")),
            // Not canonical GUIDs: kept verbatim.
            ("DE7E60EB-ED89-4D73-8205-2227DEF6B7C9".to_string(), t("2026-11-28T10:05:01Z")),
            ("Directory_ESM_27593473".to_string(), t("2026-11-28T10:06:10Z")),
        ]);
        let json = serde_json::to_string(&Holder { seen: seen.clone() }).unwrap();
        assert!(!json.contains("66ea54eb"), "GUIDs are stored as bytes: {json}");
        assert!(json.contains("Directory_ESM_27593473") && json.contains("DE7E60EB-ED89"), "{json}");
        let back: Holder = serde_json::from_str(&json).unwrap();
        assert_eq!(back.seen.keys().collect::<Vec<_>>(), seen.keys().collect::<Vec<_>>());
        for (id, time) in &seen {
            let loaded = back.seen[id];
            assert!(loaded >= *time && loaded - *time < chrono::Duration::minutes(1), "{id}: {time} → {loaded}");
        }
        assert_eq!(back.seen["6701123a-b4c6-48af-8565-565c8bf7cabc"], t("2026-11-28T10:07:00Z"));
    }

    #[test]
    fn compact_form_is_a_third_of_the_plain_map() {
        let seen: BTreeMap<String, DateTime<Utc>> = (0..10_000u32)
            .map(|i| {
                (uuid::Uuid::new_v4().to_string(), t("2026-11-28T10:00:00Z") + chrono::Duration::milliseconds(i as i64 * 360))
            })
            .collect();
        let compact = serde_json::to_string(&Holder { seen: seen.clone() }).unwrap().len();
        let plain = serde_json::to_string(&seen).unwrap().len();
        assert!(compact * 3 < plain, "compact {compact} bytes vs plain {plain}");
    }

    #[test]
    fn earlier_plain_maps_still_load_and_bad_input_is_named() {
        let old: Holder = serde_json::from_str(r#"{"seen":{"a":"2026-11-01T00:00:00Z"}}"#).unwrap();
        assert_eq!(old.seen["a"], t("2026-11-01T00:00:00Z"));
        let empty: Holder = serde_json::from_str(r#"{"seen":{}}"#).unwrap();
        assert!(empty.seen.is_empty());
        let err = serde_json::from_str::<Holder>(r#"{"seen":{"v":1,"minutes":{"2026-11-01T00:00:00Z":{"guids":"AAAA"}}}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a whole number of GUIDs"), "{err}");
        let err = serde_json::from_str::<Holder>(r#"{"seen":{"v":2,"minutes":{}}}"#).unwrap_err().to_string();
        assert!(err.contains("v2"), "{err}");
    }
}
