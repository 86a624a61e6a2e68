"""Paginated lists of the API (API.md): `{"count", "next", "previous", "results"}`."""

from rest_framework.pagination import LimitOffsetPagination


class LimitOffsetWithCeiling(LimitOffsetPagination):
    """`?limit=&offset=` with the page size capped: a limit of any size is read as this ceiling,
    so a client can never ask the database for an unbounded page (or for a number too large for
    it to take, which SQLite refuses)."""

    max_limit = 500
