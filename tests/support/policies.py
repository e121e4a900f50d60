"""A copy of the shipped retry policies with every wait shrunk, for tiers that run on real
time (integration, e2e). Same shape, same non-retryable types, same attempt counts except
where noted, so the same branches are taken, only sooner."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.support.paths import RETRY_POLICIES

# Fewer attempts where a test must exhaust them over real HTTP timeouts.
ATTEMPTS = {"createDwRedemption": 3, "rollbackTransfer": 4, "finalizeTransfer": 3}


def write_fast_policies(target: Path) -> Path:
    config = yaml.safe_load(RETRY_POLICIES.read_text())
    for name, activity in config["activities"].items():
        activity["startToCloseTimeout"] = "10s"
        retry = activity.setdefault("retryPolicy", {})
        if retry.get("maximumAttempts", 1) > 1:
            retry["initialInterval"] = "50ms"
            retry["maximumInterval"] = "200ms"
        if name in ATTEMPTS:
            retry["maximumAttempts"] = ATTEMPTS[name]
    config["transferVerification"] = {"interval": "200ms", "maxAttempts": 3}
    target.write_text(yaml.safe_dump(config))
    return target
