"""Settings of the simulated external services, passed in whole to `create_sim_app`.

Nothing here reads the environment: the command that starts the simulator builds a
`SimConfig` from its flags and hands it over.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class SimConfig:
    """How the simulator behaves; the defaults suit the embedded stack and the tests."""

    state_file: Path | None
    """Where the whole state is kept between restarts; None keeps it in memory only."""
    hang_seconds: float = 120.0
    """How long a `timeout` fault hangs when it names no delayMs (past any client timeout)."""
    dw_client_id: str = "sim-dw-client"
    dw_client_secret: str = "sim-dw-secret"
    dw_app_key: str = "sim-dw-app-key"
    otp_ttl_seconds: int = 300
    """How long an authorisation's OTP may be used, from initiate."""
    otp_max_attempts: int = 3
    """Wrong OTP codes allowed per authorisation; the last one expires it."""
    token_ttl_seconds: int = 3600
    """Lifetime of a DriveWealth access token (`expires_in`)."""
