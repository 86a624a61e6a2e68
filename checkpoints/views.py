"""The public pages of a checkpoint (W4): what a carrier needs to plan a trip before signing in."""

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from checkpoints.public_reads import public_checkpoint
from checkpoints.selectors import closures_ahead


@require_GET
def checkpoint_page(request: HttpRequest, code: str) -> HttpResponse:
    """Opening hours, the waiting area and how to reach it, the neighbour's checkpoint, contacts,
    and the current and coming closures (W4, C3). Blocks an operator left empty are omitted."""
    checkpoint = public_checkpoint(code)
    if checkpoint is None:
        raise Http404
    return render(
        request,
        "checkpoints/checkpoint.html",
        {"checkpoint": checkpoint, "closures": list(closures_ahead(checkpoint))},
    )
