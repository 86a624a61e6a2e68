from django.shortcuts import render

from core.content import faq_sections


def faq(request):
    return render(request, "core/faq.html", {"sections": faq_sections()})
