"""The violation dashboard: Flask behind gunicorn.

Entry points: dashboard.app.create_app(config, bus=..., engine=..., snapshots=...) builds an app;
dashboard.serve.serve(config) runs it under gunicorn; dashboard.serve.make_wsgi(config) embeds it.
"""
