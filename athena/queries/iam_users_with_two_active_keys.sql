-- title: Users with two active access keys
-- answers: Which IAM users hold two active access keys in the latest snapshot of their account (taken in the last 7 days)?
-- visual: none
-- tables: aws_iam_access_keys
WITH snapshot AS (
  SELECT
    k.account_id,
    k.user_name,
    k.status,
    k.created_at,
    k.last_used_at,
    k.dt,
    max(k.dt) OVER (PARTITION BY k.account_id) AS latest_dt
  FROM aws_iam_access_keys AS k
  WHERE k.dt >= date_format(current_date - interval '7' day, '%Y-%m-%d')
)
SELECT
  account_id,
  user_name,
  count(*) AS active_keys,
  min(created_at) AS oldest_key_created_at,
  max(created_at) AS newest_key_created_at,
  max(last_used_at) AS last_used_at,
  max(dt) AS snapshot_dt
FROM snapshot
WHERE dt = latest_dt
  AND status = 'Active'
GROUP BY account_id, user_name
HAVING count(*) >= 2
ORDER BY account_id, user_name
