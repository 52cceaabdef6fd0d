-- title: Successful sign-ins without MFA
-- answers: Which users signed in interactively and successfully with single-factor authentication over the last 30 days (today included), to which apps and with which clients?
-- visual: none
-- tables: entra_signins
SELECT
  s.user_principal_name,
  s.app_display_name,
  s.client_app_used,
  count(*) AS sign_ins,
  count(DISTINCT s.ip_address) AS ip_addresses,
  min(s.created_at) AS first_at,
  max(s.created_at) AS last_at
FROM entra_signins AS s
WHERE s.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
  AND s.sign_in_event_type = 'interactiveUser'
  AND s.status.error_code = 0
  AND s.authentication_requirement = 'singleFactorAuthentication'
GROUP BY s.user_principal_name, s.app_display_name, s.client_app_used
ORDER BY sign_ins DESC, s.user_principal_name, s.app_display_name, s.client_app_used
