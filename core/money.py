"""Money is Decimal tenge with 2 places, never a float (R3)."""

from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Sum

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


def _to_tiyn(value, expression, connection):
    return None if value is None else tenge(value)


class MoneySum(Sum):
    """Sum of tenge amounts, exact on every database. SQLite adds decimals as binary floats and
    Django keeps 15 significant digits of the result (6990.42000000001); each term has two
    places, so rounding to the tiyn gives back the exact sum."""

    def get_db_converters(self, connection):
        return [*super().get_db_converters(connection), _to_tiyn]
