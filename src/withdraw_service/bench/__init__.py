"""`withdraw-service bench`: withdrawals through the public API against the bare withdraw shape
on the same Temporal server, in one run (docs/performance.md)."""
