-- DataFusion variant of signins_conditional_access_failures.sql: DataFusion cannot
-- CROSS JOIN UNNEST a column of the left side (apache/datafusion#10048), so the policies are
-- unnested in the select list and read as one struct column. Same columns, same rows.
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
),
policies AS (
  SELECT
    f.created_at,
    f.user_principal_name,
    f.app_display_name,
    f.ip_address,
    f.error_code,
    f.failure_reason,
    f.id,
    unnest(f.applied_conditional_access_policies) AS p
  FROM failed AS f
)
SELECT
  created_at,
  user_principal_name,
  app_display_name,
  ip_address,
  error_code,
  failure_reason,
  p.display_name AS policy_name,
  id
FROM policies
WHERE p.result = 'failure'
ORDER BY created_at DESC, user_principal_name, policy_name
