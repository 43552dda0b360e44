"""The violation dashboard: Flask behind gunicorn.

Entry points: maskwatch.dashboard.app.create_app(config, bus=..., engine=..., snapshots=...) builds an app;
maskwatch.dashboard.serve.serve(config) runs it under gunicorn; maskwatch.dashboard.serve.make_wsgi(config) embeds it.
"""
