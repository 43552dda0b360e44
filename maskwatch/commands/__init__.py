"""Command bodies of the `maskwatch` CLI, one module per area; maskwatch.cli builds the parser."""
