"""Money as the API receives it: decimal strings or JSON numbers, never floats, cents only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from withdraw_service.domain.money import AmountError, format_amount, parse_amount

MAX = Decimal("250000.00")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("150.00", Decimal("150.00")),
        ("150", Decimal("150.00")),
        (" 150.5 ", Decimal("150.50")),
        (150, Decimal("150.00")),
        (Decimal("150.5"), Decimal("150.50")),
        ("0.01", Decimal("0.01")),
        ("250000.00", MAX),
        (Decimal("1.0"), Decimal("1.00")),
    ],
)
def test_accepts_dollar_amounts_with_at_most_two_decimals(raw: object, expected: Decimal) -> None:
    amount = parse_amount(raw, MAX)
    assert amount == expected
    assert amount.as_tuple().exponent == -2  # always exactly cents


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (150.5, "decimal string"),
        (True, "decimal string"),
        (False, "decimal string"),
        (None, "decimal string"),
        (["150"], "decimal string"),
        ("abc", "not a number"),
        ("", "not a number"),
        ("NaN", "not a number"),
        ("Infinity", "not a number"),
        (Decimal("NaN"), "not a number"),
        ("0", "positive"),
        ("0.00", "positive"),
        ("-1", "positive"),
        (-5, "positive"),
        ("1.001", "2 decimals"),
        (Decimal("0.005"), "2 decimals"),
        ("250000.01", r"maximum of 250000\.00"),
        (250001, "maximum"),
    ],
)
def test_refuses_what_is_not_a_positive_cent_amount_within_the_limit(
    raw: object, reason: str
) -> None:
    with pytest.raises(AmountError, match=reason):
        parse_amount(raw, MAX)


def test_the_maximum_is_the_one_configured() -> None:
    assert parse_amount("1000.00", Decimal("1000")) == Decimal("1000.00")
    with pytest.raises(AmountError, match=r"maximum of 999\.99"):
        parse_amount("1000.00", Decimal("999.99"))


@pytest.mark.parametrize("raw", ["1e30", 10**30, Decimal("1E+30")])
def test_a_huge_amount_is_refused_as_above_the_maximum(raw: object) -> None:
    with pytest.raises(AmountError, match="maximum"):
        parse_amount(raw, MAX)


@pytest.mark.parametrize(
    ("amount", "text"),
    [(Decimal("150"), "150.00"), (Decimal("150.5"), "150.50"), (Decimal("1E+3"), "1000.00")],
)
def test_amounts_are_formatted_as_plain_cent_strings(amount: Decimal, text: str) -> None:
    assert format_amount(amount) == text
