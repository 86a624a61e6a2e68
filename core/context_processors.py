from core import visits


def site(request) -> dict:
    """What every page's frame needs: the visit counters of the footer (W3)."""
    return {"visit_stats": visits.stats}
