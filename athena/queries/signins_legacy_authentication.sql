-- title: Legacy authentication clients
-- answers: Which users signed in with legacy authentication clients (IMAP4, POP3, SMTP, Exchange ActiveSync, Other clients and the like) over the last 30 days (today included), and did they succeed?
-- visual: none
-- tables: entra_signins
SELECT
  s.user_principal_name,
  s.client_app_used,
  s.app_display_name,
  count(*) AS sign_ins,
  count(*) FILTER (WHERE s.status.error_code = 0) AS successes,
  count(*) FILTER (WHERE s.status.error_code <> 0) AS failures,
  min(s.created_at) AS first_at,
  max(s.created_at) AS last_at
FROM entra_signins AS s
WHERE s.dt >= date_format(current_date - interval '30' day, '%Y-%m-%d')
  AND s.client_app_used IN (
    'IMAP4',
    'POP3',
    'SMTP',
    'Authenticated SMTP',
    'Exchange ActiveSync',
    'Exchange Web Services',
    'Exchange Online PowerShell',
    'MAPI Over HTTP',
    'AutoDiscover',
    'Outlook Anywhere (RPC over HTTP)',
    'Offline Address Book',
    'Reporting Web Services',
    'Universal Outlook',
    'Other clients'
  )
GROUP BY s.user_principal_name, s.client_app_used, s.app_display_name
ORDER BY successes DESC, sign_ins DESC, s.user_principal_name, s.client_app_used
