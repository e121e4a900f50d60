"""Where the Temporal binaries from the project's own packages live (nothing is downloaded)."""

from __future__ import annotations

import sys
from pathlib import Path

BIN = Path(sys.executable).parent
TEMPORAL_CLI = BIN / "temporal"
TEMPORAL_TEST_SERVER = BIN / "temporal-test-server"
ROOT = Path(__file__).resolve().parents[2]
RETRY_POLICIES = ROOT / "src" / "withdraw_service" / "retry-policies.yaml"
