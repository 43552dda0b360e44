"""Studies: one-off research on the models, run as modules from a checkout; never in the wheel and never
imported by the product. A study that proves itself graduates into training/ or evaluation/ as a command."""
