-- title: Sign-ins per day by result
-- answers: How many sign-ins (all event types) succeeded and failed on each day of the last 30 days (today included), with zero on days without any?
-- visual: QuickSight "Sign-ins per day" (line)
-- tables: entra_signins, calendar
WITH daily AS (
  SELECT
    CAST(s.created_at AS date) AS day,
    count(*) AS sign_ins,
    count(*) FILTER (WHERE s.status.error_code = 0) AS successes,
    count(*) FILTER (WHERE s.status.error_code <> 0) AS failures
  FROM entra_signins AS s
  WHERE s.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
  GROUP BY CAST(s.created_at AS date)
)
SELECT
  c.day AS day,
  COALESCE(daily.sign_ins, 0) AS sign_ins,
  COALESCE(daily.successes, 0) AS successes,
  COALESCE(daily.failures, 0) AS failures
FROM calendar AS c
LEFT JOIN daily ON daily.day = c.day
WHERE c.day >= current_date - interval '30' day
  AND c.day <= current_date
ORDER BY 1
