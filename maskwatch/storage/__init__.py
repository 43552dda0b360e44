"""Storage shared by the events service and the dashboard: SQL models and the snapshot store."""
