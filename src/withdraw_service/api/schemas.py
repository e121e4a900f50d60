"""Request bodies. Amounts arrive as strings or JSON numbers and are parsed to Decimal from the
raw text (`api/body.py`), never through a float.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt


class InitiateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    amount: Decimal | str | StrictInt = Field(description='USD, e.g. "150.00"; at most 2 decimals')
    product_number: str = Field(
        alias="productNumber", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9-]+$"
    )
    frontend_sima_ready: bool = Field(default=False, alias="frontendSimaReady")


class FinalizeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    otp_code: str = Field(alias="otpCode", pattern=r"^[0-9]{6}$")
    sima_stan: str | None = Field(default=None, alias="simaStan", max_length=64)


def envelope(data: Any) -> dict[str, Any]:
    """The seed's ResponseDTO: success bodies are `{"data": ...}`."""
    return {"data": data}
