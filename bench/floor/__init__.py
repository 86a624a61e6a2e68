"""The floor of the benchmark: the least a booking can cost on this stack.

A bare Django app served by the same gunicorn settings against the same PostgreSQL database as
Kezek. `POST /book` does only the essential SQL of a booking in one transaction: take a place
with the conditional update, insert the booking, two ledger transfers (fee and deposit) and the
two balance updates. `GET /const` answers a constant. Kezek's numbers are reported as ratios to
these two, measured in the same run.
"""
