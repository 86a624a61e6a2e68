from django.utils import translation
from django.utils.translation import gettext_noop


def localized(obj: object, field: str) -> str:
    """The value of `<field>_<current language>`, falling back to Russian, English, Kazakh."""
    language = (translation.get_language() or "ru")[:2]
    for code in (language, "ru", "en", "kk"):
        value = getattr(obj, f"{field}_{code}", "")
        if value:
            return value
    return ""


# Dates name weekdays through these msgids (django.utils.dates). Django's own Kazakh catalog
# abbreviates Tuesday "Сб", which Kazakh readers know as Saturday (Сенбі); the project's
# catalogs come first, so the abbreviations are given there, marked here to stay in them.
WEEKDAY_ABBREVIATIONS = (
    gettext_noop("Mon"),
    gettext_noop("Tue"),
    gettext_noop("Wed"),
    gettext_noop("Thu"),
    gettext_noop("Fri"),
    gettext_noop("Sat"),
    gettext_noop("Sun"),
)
