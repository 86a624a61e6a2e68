import datetime as dt

from django.shortcuts import render
from django.utils.translation import gettext as _

from core import clock
from core.errors import ApplicationError
from fees.selectors import fee_table


def fees_page(request):
    """The public fee table (R3) for a date, today by default."""
    error = None
    on = clock.local_today()
    if request.GET.get("date"):
        try:
            on = dt.date.fromisoformat(request.GET["date"])
        except ValueError:
            error = _("Write the date as YYYY-MM-DD.")
    table = None
    try:
        table = fee_table(on)
    except ApplicationError as exc:
        error = exc.message
    return render(request, "fees/fees.html", {"on": on, "table": table, "error": error})
