"""The violation dashboard: Flask behind gunicorn (see issue: dashboard)."""
