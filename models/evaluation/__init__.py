"""Evaluation: scene sets, metrics, person clips and the comparisons that promote a model (`maskwatch
evaluate`, `detect`, `clips`)."""
