"""Alerts: violations and camera-health incidents delivered at least once to webhooks and MQTT
through the database's outbox (alert_outbox), from the events service's shard 0."""
