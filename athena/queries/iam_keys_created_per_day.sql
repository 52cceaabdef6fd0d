-- title: Access keys created per day
-- answers: How many access keys were created on each day of the last 90 days (today included), with zero on days without any?
-- visual: QuickSight "Access keys created per day" (line)
-- tables: aws_iam_access_keys, calendar
WITH per_snapshot AS (
  -- Keys of one account created on one day, as one daily snapshot lists them.
  SELECT
    k.account_id,
    k.dt,
    CAST(k.created_at AS date) AS day,
    count(*) AS keys_created
  FROM aws_iam_access_keys AS k
  WHERE k.dt >= date_format(current_date - interval '90' day, '%Y-%m-%d')
    AND k.created_at >= current_date - interval '90' day
  GROUP BY k.account_id, k.dt, CAST(k.created_at AS date)
),
per_account AS (
  -- Each key counted once however many snapshots list it: the most any snapshot listed
  -- (keys deleted later drop out of later snapshots; ids are null for root keys).
  SELECT account_id, day, max(keys_created) AS keys_created
  FROM per_snapshot
  GROUP BY account_id, day
),
created AS (
  SELECT day, sum(keys_created) AS keys_created
  FROM per_account
  GROUP BY day
)
SELECT
  c.day AS day,
  COALESCE(created.keys_created, 0) AS keys_created
FROM calendar AS c
LEFT JOIN created ON created.day = c.day
WHERE c.day >= current_date - interval '90' day
  AND c.day <= current_date
ORDER BY 1
