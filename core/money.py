"""Money is Decimal tenge with 2 places, never a float (R3)."""

from decimal import ROUND_HALF_UP, Decimal

TENGE = Decimal("0.01")
NARROW_NBSP = "\u202f"


def tenge(value: Decimal | int | str) -> Decimal:
    """An amount in tenge rounded to the tiyn; floats are refused so no binary error sneaks in."""
    if isinstance(value, float):
        raise TypeError("Money is never a float; pass Decimal, int or str.")
    return Decimal(value).quantize(TENGE, rounding=ROUND_HALF_UP)


def mrp_to_tenge(mrp: int, mrp_value: Decimal) -> Decimal:
    """An amount of `mrp` monthly calculation indices at `mrp_value` tenge each (R2)."""
    return tenge(Decimal(mrp) * mrp_value)


def format_tenge(amount: Decimal) -> str:
    """4325.00 → '4 325.00 ₸' with a narrow no-break space between thousands."""
    whole, _, cents = f"{tenge(amount):,.2f}".partition(".")
    return whole.replace(",", NARROW_NBSP) + "." + cents + " ₸"
