-- title: Access keys unused for 90 days
-- answers: Which active access keys were last used more than 90 days ago, or never used and older than 90 days, in the latest snapshot of each account (taken in the last 7 days)?
-- visual: none
-- tables: aws_iam_access_keys
WITH snapshot AS (
  SELECT
    k.account_id,
    k.user_name,
    k.access_key_id,
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
  user_name,
  access_key_id,
  key_slot,
  created_at,
  age_days,
  last_used_at,
  days_since_last_used,
  last_used_service,
  CASE WHEN last_used_at IS NULL THEN 'never used' ELSE 'unused over 90 days' END AS finding,
  dt AS snapshot_dt
FROM snapshot
WHERE dt = latest_dt
  AND status = 'Active'
  AND (
    days_since_last_used > 90
    OR (last_used_at IS NULL AND age_days > 90)
  )
ORDER BY COALESCE(days_since_last_used, age_days) DESC, account_id, user_name, key_slot
