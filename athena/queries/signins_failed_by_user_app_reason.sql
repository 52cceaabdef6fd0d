-- title: Failed sign-ins by user, app and reason
-- answers: Which users failed to sign in to which apps and why over the last 30 days (today included), most failures first?
-- visual: none
-- tables: entra_signins
SELECT
  s.user_principal_name,
  s.app_display_name,
  s.status.error_code AS error_code,
  s.status.failure_reason AS failure_reason,
  count(*) AS failures,
  count(DISTINCT s.ip_address) AS ip_addresses,
  min(s.created_at) AS first_failure_at,
  max(s.created_at) AS last_failure_at
FROM entra_signins AS s
WHERE s.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
  AND s.status.error_code <> 0
GROUP BY s.user_principal_name, s.app_display_name, s.status.error_code, s.status.failure_reason
ORDER BY failures DESC, s.user_principal_name, s.app_display_name, error_code
