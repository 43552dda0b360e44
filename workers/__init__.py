"""Stateless, batched face detection + mask classification workers (see issue: pipeline)."""
