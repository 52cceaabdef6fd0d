-- title: Directory role assignments
-- answers: Who added which member to which directory role (Add member to role, eligible, scoped and PIM variants) over the last 30 days (today included), newest first?
-- visual: none
-- tables: entra_directory_audits
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
targets AS (
  SELECT
    x.id,
    t.type AS target_type,
    t.display_name,
    t.user_principal_name,
    t.modified_properties
  FROM assignments AS x
  CROSS JOIN UNNEST(x.target_resources) AS t
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
roles AS (
  -- The role name is the Role.DisplayName modified property of the member target, a JSON string.
  SELECT
    t.id,
    max(replace(m.new_value, '"', '')) AS role_name
  FROM targets AS t
  CROSS JOIN UNNEST(t.modified_properties) AS m
  WHERE m.display_name = 'Role.DisplayName'
  GROUP BY t.id
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
