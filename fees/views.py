import datetime as dt

from django.shortcuts import render
from django.utils.translation import gettext as _

from core import clock, notices
from core.errors import ApplicationError
from fees.selectors import fee_table


def fees_page(request):
    """The public fee table (R3) for a date, today by default; operators also see what they
    must act on (core.notices: e.g. next year's MRP not entered yet)."""
    errors = []
    on = clock.local_today()
    if request.GET.get("date"):
        try:
            on = dt.date.fromisoformat(request.GET["date"])
        except ValueError:
            errors.append(_("Write the date as YYYY-MM-DD."))
    table = None
    try:
        table = fee_table(on)
    except ApplicationError as exc:
        errors.append(exc.message)
    context = {
        "on": on,
        "table": table,
        "errors": errors,
        "operator_notices": notices.notices_for(request.user),
    }
    return render(request, "fees/fees.html", context)
