//! Checkpoints on S3 (moto, which enforces `If-None-Match` and `If-Match` on PutObject): two
//! writers that loaded the same version cannot both save, so a cursor never moves backwards.

#![allow(clippy::unwrap_used, reason = "a test states its expectations with unwrap")]

use std::collections::BTreeMap;

use auditlake_core::checkpoint::{Checkpoint, CheckpointError, CheckpointStore, Version};
use auditlake_core::lake::{Lake, LakeUrl};
use auditlake_testkit::moto::Moto;
use chrono::{DateTime, Utc};

/// A checkpoint as the pipeline builds it: the loaded one's generation, moved on by the save.
fn checkpoint(cursor: &str, run_id: &str, loaded: Option<&Checkpoint>) -> Checkpoint {
    Checkpoint {
        table: "entra_signins".into(),
        unit: "contoso.onmicrosoft.com".into(),
        cursor: cursor.parse().unwrap(),
        seen_ids: BTreeMap::new(),
        lanes: BTreeMap::new(),
        run_id: run_id.into(),
        updated_at: Utc::now(),
        generation: loaded.map_or(0, |c| c.generation),
    }
}

#[tokio::test]
async fn two_writers_of_the_same_version_one_wins_the_other_conflicts() {
    let moto = Moto::from_env();
    let account = moto.new_account().await;
    let bucket = format!("ckpt-{}", uuid::Uuid::new_v4().simple());
    moto.create_bucket(&bucket).await;
    let lake = Lake::open(&LakeUrl::parse(&format!("s3://{bucket}/lake")).unwrap(), &account.sdk).await.unwrap();
    let first = CheckpointStore::new(lake.clone());
    let second = CheckpointStore::new(lake);
    let (table, unit) = ("entra_signins", "contoso.onmicrosoft.com");

    // Both find no checkpoint; the first create wins (If-None-Match: *), the second conflicts.
    let (none_a, absent_a) = first.load(table, unit).await.unwrap();
    let (none_b, absent_b) = second.load(table, unit).await.unwrap();
    assert!(none_a.is_none() && none_b.is_none());
    assert_eq!((&absent_a, &absent_b), (&Version::Absent, &Version::Absent));
    let v1 = first.save(checkpoint("2026-11-01T00:00:00Z", "a", None), &absent_a).await.unwrap();
    let err = second.save(checkpoint("2026-10-01T00:00:00Z", "b", None), &absent_b).await.unwrap_err();
    assert!(matches!(err, CheckpointError::Conflict { .. }), "{err}");
    assert!(matches!(v1, Version::ETag(ref e) if !e.is_empty()), "{v1:?}");

    // Both load the same ETag; the first update wins (If-Match), the second conflicts.
    let (loaded_a, at_a) = first.load(table, unit).await.unwrap();
    let (loaded_b, at_b) = second.load(table, unit).await.unwrap();
    assert_eq!(at_a, at_b);
    first.save(checkpoint("2026-11-02T00:00:00Z", "a2", loaded_a.as_ref()), &at_a).await.unwrap();
    let err = second.save(checkpoint("2026-09-01T00:00:00Z", "b2", loaded_b.as_ref()), &at_b).await.unwrap_err();
    assert!(matches!(err, CheckpointError::Conflict { .. }), "{err}");
    assert!(err.to_string().contains("_state/entra_signins/contoso.onmicrosoft.com.json"), "{err}");

    // What is stored is the winner's.
    let (stored, _) = second.load(table, unit).await.unwrap();
    let stored = stored.unwrap();
    assert_eq!(stored.cursor, "2026-11-02T00:00:00Z".parse::<DateTime<Utc>>().unwrap());
    assert_eq!(stored.run_id, "a2");
    assert_eq!(stored.generation, 2);
}
