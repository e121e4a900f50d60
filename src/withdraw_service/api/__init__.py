"""The public HTTP API (docs/api.md)."""
