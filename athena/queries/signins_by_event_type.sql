-- title: Sign-ins by event type
-- answers: How many interactive, non-interactive, service principal and managed identity sign-ins were there on each day of the last 30 days (today included), and how many failed?
-- visual: QuickSight "Sign-ins by event type" (bar)
-- tables: entra_signins
SELECT
  CAST(s.created_at AS date) AS day,
  COALESCE(s.sign_in_event_type, 'unknown') AS sign_in_event_type,
  count(*) AS sign_ins,
  count(*) FILTER (WHERE s.status.error_code <> 0) AS failures
FROM entra_signins AS s
WHERE s.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
GROUP BY CAST(s.created_at AS date), COALESCE(s.sign_in_event_type, 'unknown')
ORDER BY 1, 2
