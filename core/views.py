from django.shortcuts import render

from checkpoints.selectors import countries_with_checkpoints
from core.content import faq_sections


def home(request):
    return render(request, "core/home.html", {"countries": countries_with_checkpoints()})


def faq(request):
    return render(request, "core/faq.html", {"sections": faq_sections()})
