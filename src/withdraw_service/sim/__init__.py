"""Simulated external services (Session, Flex, Transfer Service, Transfer Checker,
DriveWealth) as one FastAPI app with a ledger, an OTP inbox and fault injection."""

from withdraw_service.sim.app import create_sim_app
from withdraw_service.sim.config import SimConfig

__all__ = ["SimConfig", "create_sim_app"]
