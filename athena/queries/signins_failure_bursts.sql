-- title: Failed sign-in bursts
-- answers: Which users had 10 or more failed sign-ins within one clock hour over the last 30 days (today included), and from how many addresses?
-- visual: none
-- tables: entra_signins
SELECT
  s.user_principal_name,
  date_trunc('hour', s.created_at) AS hour,
  count(*) AS failures,
  count(DISTINCT s.ip_address) AS ip_addresses,
  count(DISTINCT s.app_display_name) AS apps,
  min(s.created_at) AS first_failure_at,
  max(s.created_at) AS last_failure_at
FROM entra_signins AS s
WHERE s.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
  AND s.status.error_code <> 0
GROUP BY s.user_principal_name, date_trunc('hour', s.created_at)
HAVING count(*) >= 10
ORDER BY failures DESC, s.user_principal_name, hour
