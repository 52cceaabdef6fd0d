-- title: Sign-in from a new country for the user
-- answers: Which users signed in successfully over the last 30 days (today included) from a country they had not signed in from in the 30 days before (users with no earlier sign-in in the lake are left out)?
-- visual: none
-- tables: entra_signins
WITH user_signins AS (
  SELECT
    s.user_principal_name,
    s.location.country_or_region AS country_or_region,
    s.location.city AS city,
    s.created_at,
    s.ip_address,
    s.app_display_name,
    s.sign_in_event_type
  FROM entra_signins AS s
  WHERE s.dt >= date_format(current_date - interval '60' day, '%Y-%m-%d')
    AND s.sign_in_event_type IN ('interactiveUser', 'nonInteractiveUser')
    AND s.status.error_code = 0
    AND s.user_principal_name IS NOT NULL
    AND s.location.country_or_region IS NOT NULL
    AND s.location.country_or_region <> ''
),
ordered AS (
  SELECT
    u.*,
    lag(u.created_at) OVER (PARTITION BY u.user_principal_name ORDER BY u.created_at) AS previous_sign_in_at,
    lag(u.country_or_region) OVER (PARTITION BY u.user_principal_name ORDER BY u.created_at) AS previous_country,
    lag(u.created_at) OVER (
      PARTITION BY u.user_principal_name, u.country_or_region ORDER BY u.created_at
    ) AS previous_from_country_at
  FROM user_signins AS u
)
SELECT
  user_principal_name,
  country_or_region,
  city,
  created_at AS first_seen_at,
  ip_address,
  app_display_name,
  sign_in_event_type,
  previous_country,
  previous_sign_in_at
FROM ordered
WHERE created_at >= current_date - interval '30' day
  AND previous_sign_in_at IS NOT NULL
  AND (
    previous_from_country_at IS NULL
    OR previous_from_country_at < created_at - interval '30' day
  )
ORDER BY first_seen_at DESC, user_principal_name
