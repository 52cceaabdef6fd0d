-- title: Failed sign-ins by country
-- answers: How many sign-ins failed from each country on each day of the last 30 days (today included), for how many users (sum the failures over days for a total)?
-- visual: QuickSight "Failed sign-ins by country" (bar)
-- tables: entra_signins
SELECT
  CAST(s.created_at AS date) AS day,
  COALESCE(NULLIF(s.location.country_or_region, ''), 'unknown') AS country_or_region,
  count(*) AS failures,
  count(DISTINCT s.user_principal_name) AS users
FROM entra_signins AS s
WHERE s.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
  AND s.status.error_code <> 0
GROUP BY CAST(s.created_at AS date), COALESCE(NULLIF(s.location.country_or_region, ''), 'unknown')
ORDER BY 1, 3 DESC, 2
