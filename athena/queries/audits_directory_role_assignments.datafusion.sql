-- DataFusion variant of audits_directory_role_assignments.sql: DataFusion cannot
-- CROSS JOIN UNNEST a column of the left side (apache/datafusion#10048), so the target
-- resources and their modified properties are unnested in the select list and read as
-- struct columns. Same columns, same rows.
WITH assignments AS (
  SELECT
    a.id,
    a.activity_at,
    a.activity_display_name,
    a.result,
    COALESCE(a.initiated_by."user".user_principal_name, a.initiated_by.app.display_name) AS initiated_by,
    a.target_resources
  FROM entra_directory_audits AS a
  WHERE a.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
    AND a.category = 'RoleManagement'
    AND lower(a.activity_display_name) LIKE 'add %member to role%'
),
unnested_targets AS (
  SELECT x.id, unnest(x.target_resources) AS t
  FROM assignments AS x
),
targets AS (
  SELECT
    id,
    t.type AS target_type,
    t.display_name AS display_name,
    t.user_principal_name AS user_principal_name,
    t.modified_properties AS modified_properties
  FROM unnested_targets
),
members AS (
  SELECT
    id,
    COALESCE(
      max(user_principal_name),
      max(CASE WHEN lower(target_type) <> 'role' THEN display_name END)
    ) AS target
  FROM targets
  GROUP BY id
),
unnested_properties AS (
  SELECT id, unnest(modified_properties) AS m
  FROM targets
),
roles AS (
  SELECT
    id,
    max(replace(m.new_value, '"', '')) AS role_name
  FROM unnested_properties
  WHERE m.display_name = 'Role.DisplayName'
  GROUP BY id
)
SELECT
  x.activity_at,
  x.activity_display_name,
  x.result,
  x.initiated_by,
  members.target,
  roles.role_name,
  x.id
FROM assignments AS x
LEFT JOIN members ON members.id = x.id
LEFT JOIN roles ON roles.id = x.id
ORDER BY x.activity_at DESC, x.id
