"""gunicorn configuration: bind and concurrency from the environment (via asyncportal.env)."""

from __future__ import annotations

from asyncportal import env

bind = f"{env.str_('BIND_HOST', '127.0.0.1')}:{env.int_('PORT', 8000)}"
workers = env.int_("WEB_CONCURRENCY", 2)
timeout = 30
graceful_timeout = 25
accesslog = "-"
# Keep request lines free of query strings: they may carry personal data.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'
forwarded_allow_ips = env.str_("FORWARDED_ALLOW_IPS", "127.0.0.1")
