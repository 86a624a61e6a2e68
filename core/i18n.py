from django.utils import translation


def localized(obj: object, field: str) -> str:
    """The value of `<field>_<current language>`, falling back to Russian, English, Kazakh."""
    language = (translation.get_language() or "ru")[:2]
    for code in (language, "ru", "en", "kk"):
        value = getattr(obj, f"{field}_{code}", "")
        if value:
            return value
    return ""
