from django import forms

from core.errors import ApplicationError


def show_refusal(
    form: forms.Form, refusal: ApplicationError, field_map: dict | None = None
) -> None:
    """Put a service's refusal on the form: its message on top, field problems by their fields."""
    field_map = field_map or {}
    form.add_error(None, str(refusal.message))
    for name, problems in refusal.fields.items():
        field = field_map.get(name, name)
        if field in form.fields:
            for problem in problems if isinstance(problems, list) else [problems]:
                form.add_error(field, str(problem))
