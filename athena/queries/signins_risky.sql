-- title: Risky sign-ins
-- answers: Which sign-ins over the last 30 days (today included) had medium or high risk during sign-in or aggregated, or a risk state of atRisk or confirmedCompromised, newest first?
-- visual: none
-- tables: entra_signins
SELECT
  s.created_at,
  s.user_principal_name,
  s.app_display_name,
  s.ip_address,
  s.location.country_or_region AS country_or_region,
  s.status.error_code AS error_code,
  s.risk_level_during_sign_in,
  s.risk_level_aggregated,
  s.risk_state,
  s.risk_detail,
  s.sign_in_event_type,
  s.id
FROM entra_signins AS s
WHERE s.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
  AND (
    s.risk_level_during_sign_in IN ('medium', 'high')
    OR s.risk_level_aggregated IN ('medium', 'high')
    OR s.risk_state IN ('atRisk', 'confirmedCompromised')
  )
ORDER BY s.created_at DESC, s.user_principal_name
