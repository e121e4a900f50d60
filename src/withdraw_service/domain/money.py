"""Money: US dollars as `Decimal` with at most two decimals. Never a float, not even in transit."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

CENT = Decimal("0.01")
CURRENCY = "USD"


class AmountError(ValueError):
    """The amount is not a positive dollar figure with at most 2 decimals within the limit."""


def parse_amount(value: object, maximum: Decimal) -> Decimal:
    """Turn a request's amount (a string, an int or a JSON number kept as Decimal) into money.

    Floats are refused outright: by the time a value is a float it may already be wrong.
    """
    if isinstance(value, bool | float):
        raise AmountError('amount must be a decimal string or number, e.g. "150.00"')
    if isinstance(value, int | Decimal):
        amount = Decimal(value)
    elif isinstance(value, str):
        try:
            amount = Decimal(value.strip())
        except InvalidOperation:
            raise AmountError("amount is not a number") from None
    else:
        raise AmountError('amount must be a decimal string or number, e.g. "150.00"')
    if not amount.is_finite():
        raise AmountError("amount is not a number")
    if amount <= 0:
        raise AmountError("amount must be positive")
    if amount > maximum:  # before quantize: a 30-digit figure would overflow it
        raise AmountError(f"amount is above the maximum of {maximum:.2f}")
    if amount != amount.quantize(CENT):
        raise AmountError("amount has more than 2 decimals")
    return amount.quantize(CENT)


def format_amount(amount: Decimal) -> str:
    return f"{amount.quantize(CENT):f}"
