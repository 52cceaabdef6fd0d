-- title: Conditional Access failures
-- answers: Which sign-ins failed Conditional Access over the last 30 days (today included), and which policies failed them, newest first?
-- visual: none
-- tables: entra_signins
WITH failed AS (
  SELECT
    s.id,
    s.created_at,
    s.user_principal_name,
    s.app_display_name,
    s.ip_address,
    s.status.error_code AS error_code,
    s.status.failure_reason AS failure_reason,
    s.applied_conditional_access_policies
  FROM entra_signins AS s
  WHERE s.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
    AND s.conditional_access_status = 'failure'
)
SELECT
  f.created_at,
  f.user_principal_name,
  f.app_display_name,
  f.ip_address,
  f.error_code,
  f.failure_reason,
  p.display_name AS policy_name,
  f.id
FROM failed AS f
CROSS JOIN UNNEST(f.applied_conditional_access_policies) AS p
WHERE p.result = 'failure'
ORDER BY f.created_at DESC, f.user_principal_name, policy_name
