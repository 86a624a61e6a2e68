"""The statistics page and the CSV of the open data (W5).

Both are public reads. The CSV is the same for everyone: `Cache-Control: public`, an ETag from
the page's stamp (open_data.selectors), 304 for a client that holds it. The page carries the
visitor's CSRF token (the language switch), so it is cached privately, with an ETag of its own.
"""

import datetime as dt
import hashlib
import io

from django.conf import settings
from django.http import HttpRequest, HttpResponse, HttpResponseNotModified
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import get_conditional_response, patch_cache_control, quote_etag
from django.utils.dates import WEEKDAYS, WEEKDAYS_ABBR
from django.utils.http import urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET

from core import csv_safe, visits
from core.http_cache import public_read_response
from core.throttles import PublicReadThrottle, throttle_view
from open_data import charts, selectors
from open_data.forms import FiguresFilterForm

LICENCE_URL = "https://creativecommons.org/licenses/by/4.0/"
LICENCE_NAME = "CC BY 4.0"


def link_header(request: HttpRequest, url_name: str, page: selectors.Page) -> str:
    """The licence and the neighbouring pages as an HTTP Link header (RFC 8288)."""
    links = [f'<{LICENCE_URL}>; rel="license"']
    base = request.build_absolute_uri(reverse(url_name))
    for rel, params in (("next", page.next_params), ("prev", page.previous_params)):
        if params is not None:
            links.append(f'<{base}?{urlencode(params)}>; rel="{rel}"')
    return ", ".join(links)


def _bad_request_text(form: FiguresFilterForm) -> HttpResponse:
    lines = [f"{field}: {' '.join(errors)}" for field, errors in form.errors.items()]
    return HttpResponse(
        "\n".join(lines) + "\n", status=400, content_type="text/plain; charset=utf-8"
    )


@require_GET
@throttle_view(PublicReadThrottle, methods=("GET", "HEAD"))
def daily_csv(request: HttpRequest) -> HttpResponse:
    """GET /open-data/daily.csv: the daily figures (docs/open-data.md), one page of dates."""
    form = FiguresFilterForm(request.GET)
    if not form.is_valid():
        return _bad_request_text(form)
    page = selectors.Page.of(form.query())
    etag = quote_etag(page.stamp())
    if get_conditional_response(request, etag=etag) is not None:
        response = HttpResponseNotModified()
    else:
        buffer = io.StringIO()
        writer = csv_safe.writer(buffer, lineterminator="\r\n")
        writer.writerow(selectors.PUBLISHED_FIELDS)
        for row in page.rows():
            values = selectors.published_row(row)
            writer.writerow(
                "" if values[field] is None else values[field]
                for field in selectors.PUBLISHED_FIELDS
            )
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'inline; filename="kezek-daily-{page.first.isoformat()}-{page.last.isoformat()}.csv"'
        )
    response["ETag"] = etag
    response["Link"] = link_header(request, "open-data-daily-csv", page)
    return public_read_response(request, response)


# --- The page ----------------------------------------------------------------------------------


def _page_etag(request: HttpRequest, stamp: str) -> str:
    """The data's stamp and all else the page shows that can change: the language, who is signed
    in, the CSRF token of its forms, the visit cookie and the footer's counts."""
    user = request.user
    parts = [
        stamp,
        get_language(),
        str(user.pk if user.is_authenticated else ""),
        request.COOKIES.get(settings.CSRF_COOKIE_NAME, ""),
        request.COOKIES.get(visits.COOKIE, ""),
        repr(sorted(visits.stats().items())),
    ]
    return quote_etag(hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32])


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _context(form: FiguresFilterForm, page: selectors.Page) -> dict:
    query = page.query
    by_date = {row.date: selectors.published_row(row) for row in page.rows()}
    dates = _days(page.first, page.last)
    rows = [by_date.get(date) for date in dates]

    def series(field: str) -> list:
        return [row[field] if row else None for row in rows]

    lines = [
        (_("Places offered"), "#5c6b7a", "6 4", series("places_offered")),
        (_("Booked"), "#00597a", "", series("booked")),
        (_("Crossed"), "#1d6b35", "2 3", series("crossed")),
    ]
    requested = series("requested")
    if any(value is not None for value in requested):
        # Where a draw released the places (F1), the demand beside what was offered and booked.
        lines.insert(1, (_("Requested in the draw"), "#8a4b00", "8 3 2 3", requested))
    places = charts.line_chart(dates, lines)
    waits = charts.line_chart(
        dates,
        [
            (_("Median wait"), "#00597a", "", series("wait_median_minutes")),
            (_("90th percentile"), "#a61b1b", "6 4", series("wait_p90_minutes")),
        ],
    )
    grid = selectors.load_by_weekday_and_hour(
        checkpoint=query.checkpoint, direction=query.direction, first=page.first, last=page.last
    )
    heat = charts.heatmap(grid)
    span = dt.timedelta(days=(page.last - page.first).days + 1)
    params = query.params()
    return {
        "form": form,
        "query": query,
        "page": page,
        "rows": [row for row in rows if row],
        "days_with_figures": len(by_date),
        "places_chart": places,
        "waits_chart": waits,
        "heatmap": heat,
        "heat_cells": [(cell, WEEKDAYS[cell.weekday]) for cell in heat.cells],
        "heat_columns": [(x, WEEKDAYS_ABBR[weekday]) for x, weekday in heat.columns],
        # The table of the heatmap: one row an hour, one column a weekday.
        "heat_table": [(hour, [grid[weekday][hour] for weekday in range(7)]) for hour in range(24)],
        "weekdays": [WEEKDAYS_ABBR[weekday] for weekday in range(7)],
        "csv_url": f"{reverse('open-data-daily-csv')}?{urlencode(params)}",
        "json_url": f"{reverse('api-open-data-daily')}?{urlencode(params)}",
        "earlier": urlencode(
            query.params(**{"from": page.first - span, "to": page.first - dt.timedelta(days=1)})
        )
        if page.previous_params is not None
        else None,
        "later": urlencode(
            query.params(**{"from": page.last + dt.timedelta(days=1), "to": page.last + span})
        )
        if page.last < selectors.yesterday()
        else None,
        "licence_url": LICENCE_URL,
        "licence_name": LICENCE_NAME,
    }


@require_GET
@throttle_view(PublicReadThrottle, methods=("GET", "HEAD"))
def statistics_page(request: HttpRequest) -> HttpResponse:
    """GET /statistics/: charts and tables of one checkpoint and direction over a range (W5)."""
    form = FiguresFilterForm(request.GET or None, require_checkpoint=True)
    valid = not form.is_bound or form.is_valid()
    query = form.query() if form.is_bound and valid else form.default_query()
    if query.checkpoint is None:
        response = render(
            request,
            "open_data/statistics.html",
            {"form": form, "empty": True},
            status=200 if valid else 400,
        )
        response["Cache-Control"] = "private, no-store"
        return response
    page = selectors.Page.of(query)
    etag = _page_etag(request, f"{page.stamp()}-{valid}")
    if get_conditional_response(request, etag=etag) is not None:
        response = HttpResponseNotModified()
    else:
        # A valid or empty query shows the range it drew in the form's fields; a refused one
        # shows what was typed, with the errors.
        shown = (
            form
            if not valid
            else FiguresFilterForm(
                {
                    **query.params(),
                    "checkpoint": query.checkpoint.code,
                    "direction": query.direction,
                },
                require_checkpoint=True,
            )
        )
        response = render(
            request,
            "open_data/statistics.html",
            _context(shown, page),
            status=200 if valid else 400,
        )
    response["ETag"] = etag
    patch_cache_control(response, private=True, max_age=settings.PUBLIC_READ_MAX_AGE)
    return response
