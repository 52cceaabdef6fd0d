-- DataFusion variant of audits_consent_grants.sql: DataFusion cannot CROSS JOIN UNNEST a
-- column of the left side (apache/datafusion#10048), so the target resources and their
-- modified properties are unnested in the select list and read as struct columns. Same
-- columns, same rows.
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
unnested_targets AS (
  SELECT x.id, unnest(x.target_resources) AS t
  FROM consents AS x
),
targets AS (
  SELECT
    id,
    t.type AS target_type,
    t.display_name AS display_name,
    t.modified_properties AS modified_properties
  FROM unnested_targets
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
unnested_properties AS (
  SELECT id, unnest(modified_properties) AS m
  FROM targets
),
details AS (
  SELECT
    id,
    max(CASE WHEN m.display_name = 'ConsentContext.IsAdminConsent' THEN replace(m.new_value, '"', '') END) AS is_admin_consent,
    max(CASE WHEN m.display_name = 'ConsentAction.Permissions' THEN replace(m.new_value, '"', '') END) AS permissions
  FROM unnested_properties
  GROUP BY id
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
