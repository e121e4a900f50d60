"""Ports to the external services (abstract interfaces in `ports.py`), their httpx adapters and
in-memory fakes. Clients are built by `bootstrap`, never at import.
"""
