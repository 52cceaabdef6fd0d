-- title: Password resets and changes
-- answers: Whose passwords were reset or changed, by whom and with what result over the last 30 days (today included), newest first?
-- visual: none
-- tables: entra_directory_audits
WITH events AS (
  SELECT
    a.id,
    a.activity_at,
    a.activity_display_name,
    a.result,
    a.result_reason,
    a.logged_by_service,
    COALESCE(a.initiated_by."user".user_principal_name, a.initiated_by.app.display_name) AS initiated_by,
    CASE WHEN cardinality(a.target_resources) > 0 THEN a.target_resources[1] END AS first_target
  FROM entra_directory_audits AS a
  WHERE a.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
    AND a.category = 'UserManagement'
    AND lower(a.activity_display_name) LIKE '%password%'
)
SELECT
  activity_at,
  activity_display_name,
  result,
  result_reason,
  initiated_by,
  COALESCE(first_target.user_principal_name, first_target.display_name) AS target,
  logged_by_service,
  id
FROM events
ORDER BY activity_at DESC, id
