-- title: Root user access keys
-- answers: Which accounts have an active access key on the root user in the latest snapshot of each account (taken in the last 7 days)?
-- visual: none
-- tables: aws_iam_access_keys
WITH snapshot AS (
  SELECT
    k.account_id,
    k.user_name,
    k.key_slot,
    k.status,
    k.created_at,
    k.age_days,
    k.last_used_at,
    k.days_since_last_used,
    k.last_used_service,
    k.dt,
    max(k.dt) OVER (PARTITION BY k.account_id) AS latest_dt
  FROM aws_iam_access_keys AS k
  WHERE k.dt >= date_format(current_date - interval '7' day, '%Y-%m-%d')
)
SELECT
  account_id,
  key_slot,
  created_at,
  age_days,
  last_used_at,
  days_since_last_used,
  last_used_service,
  dt AS snapshot_dt
FROM snapshot
WHERE dt = latest_dt
  AND user_name = '<root_account>'
  AND status = 'Active'
ORDER BY account_id, key_slot
