-- title: Service principal and managed identity sign-ins by app
-- answers: Which service principals and managed identities signed in over the last 30 days (today included), how often, how often they failed, and from how many addresses?
-- visual: none
-- tables: entra_signins
SELECT
  s.sign_in_event_type,
  COALESCE(s.service_principal_name, s.app_display_name) AS service_principal_name,
  s.app_id,
  count(*) AS sign_ins,
  count(*) FILTER (WHERE s.status.error_code <> 0) AS failures,
  count(DISTINCT s.ip_address) AS ip_addresses,
  count(DISTINCT s.resource_display_name) AS resources,
  min(s.created_at) AS first_at,
  max(s.created_at) AS last_at
FROM entra_signins AS s
WHERE s.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
  AND s.sign_in_event_type IN ('servicePrincipal', 'managedIdentity')
GROUP BY s.sign_in_event_type, COALESCE(s.service_principal_name, s.app_display_name), s.app_id
ORDER BY 4 DESC, 1, 2
