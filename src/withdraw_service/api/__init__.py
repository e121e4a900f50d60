"""The public HTTP API (CONTRACT sections 2-4)."""
