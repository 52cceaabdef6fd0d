-- title: Directory changes by category
-- answers: How many directory audit events of each category were there on each day of the last 30 days (today included), and how many did not succeed?
-- visual: QuickSight "Directory changes by category" (bar)
-- tables: entra_directory_audits
SELECT
  CAST(a.activity_at AS date) AS day,
  COALESCE(a.category, 'unknown') AS category,
  count(*) AS changes,
  count(*) FILTER (WHERE a.result <> 'success') AS failures
FROM entra_directory_audits AS a
WHERE a.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
GROUP BY CAST(a.activity_at AS date), COALESCE(a.category, 'unknown')
ORDER BY 1, 2
