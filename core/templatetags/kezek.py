from decimal import Decimal

from django import template

from core.money import format_tenge
from fees.models import Service

register = template.Library()


@register.filter
def tenge(amount: Decimal) -> str:
    return format_tenge(amount)


@register.filter
def service_name(service: str) -> str:
    return str(Service(service).label)
