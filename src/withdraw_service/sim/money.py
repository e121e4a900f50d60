"""Money and JSON helpers: amounts are Decimal quantized to cents, never float.

`render_json` writes Decimals as exact JSON numbers with two decimals, the way DriveWealth
answers (`"amount": 150.00`), which the standard encoder cannot do without going via float.
`parse_json` reads request bodies with JSON numbers as Decimal for the same reason.
"""

from __future__ import annotations

import json
from decimal import Decimal, InvalidOperation
from typing import Any

CENT = Decimal("0.01")


class AmountError(ValueError):
    """An amount that is not a positive decimal with at most two decimals."""


def cents(value: Decimal) -> Decimal:
    """`value` rounded to the cent grid (only ever applied to already-exact amounts)."""
    return value.quantize(CENT)


def money_text(value: Decimal) -> str:
    """The contract's string form of an amount: `"150.00"`."""
    return f"{cents(value):f}"


def parse_amount(value: object, *, allow_zero: bool = False) -> Decimal:
    """A request's amount (decimal string or JSON number) as an exact, quantized Decimal."""
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise AmountError("amount must be a decimal string or a number")
    try:
        amount = Decimal(value)
        if not amount.is_finite():
            raise AmountError("amount must be a finite number")
        quantized = amount.quantize(CENT)
    except InvalidOperation as exc:
        raise AmountError("amount is not a valid decimal number") from exc
    if quantized != amount:
        raise AmountError("amount must have at most 2 decimals")
    if quantized < 0 or (quantized == 0 and not allow_zero):
        raise AmountError("amount must be positive")
    return quantized


def parse_json(raw: bytes) -> Any:
    """Decode a request body, JSON numbers with a fraction becoming Decimal (never float)."""
    return json.loads(raw, parse_float=Decimal)


def render_json(value: object) -> str:
    """Encode `value` as JSON; Decimals become numbers with exactly two decimals."""
    if isinstance(value, Decimal):
        return money_text(value)
    if isinstance(value, dict):
        items = (f"{json.dumps(str(key))}:{render_json(item)}" for key, item in value.items())
        return "{" + ",".join(items) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(render_json(item) for item in value) + "]"
    return json.dumps(value)
