-- title: Consent grants to applications
-- answers: Who consented to which application (admin or user consent, with the permissions granted) over the last 30 days (today included), newest first?
-- visual: none
-- tables: entra_directory_audits
WITH consents AS (
  SELECT
    a.id,
    a.activity_at,
    a.result,
    COALESCE(a.initiated_by."user".user_principal_name, a.initiated_by.app.display_name) AS initiated_by,
    a.target_resources
  FROM entra_directory_audits AS a
  WHERE a.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
    AND a.category = 'ApplicationManagement'
    AND a.activity_display_name = 'Consent to application'
),
targets AS (
  SELECT
    x.id,
    t.type AS target_type,
    t.display_name,
    t.modified_properties
  FROM consents AS x
  CROSS JOIN UNNEST(x.target_resources) AS t
),
apps AS (
  SELECT
    id,
    COALESCE(
      max(CASE WHEN lower(target_type) = 'serviceprincipal' THEN display_name END),
      max(display_name)
    ) AS application
  FROM targets
  GROUP BY id
),
details AS (
  -- Modified property values are JSON strings: the quotes are dropped.
  SELECT
    t.id,
    max(CASE WHEN m.display_name = 'ConsentContext.IsAdminConsent' THEN replace(m.new_value, '"', '') END) AS is_admin_consent,
    max(CASE WHEN m.display_name = 'ConsentAction.Permissions' THEN replace(m.new_value, '"', '') END) AS permissions
  FROM targets AS t
  CROSS JOIN UNNEST(t.modified_properties) AS m
  GROUP BY t.id
)
SELECT
  x.activity_at,
  x.result,
  x.initiated_by,
  apps.application,
  details.is_admin_consent,
  details.permissions,
  x.id
FROM consents AS x
LEFT JOIN apps ON apps.id = x.id
LEFT JOIN details ON details.id = x.id
ORDER BY x.activity_at DESC, x.id
