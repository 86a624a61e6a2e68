"""The public FAQ (W2), kept as data per language in core/content/faq/<language>.json."""

import json
from functools import lru_cache
from pathlib import Path

from django.utils import translation

FAQ_DIR = Path(__file__).resolve().parent / "content" / "faq"


@lru_cache(maxsize=8)
def _faq(language: str) -> tuple[dict, ...]:
    return tuple(json.loads((FAQ_DIR / f"{language}.json").read_text(encoding="utf-8")))


def faq_sections() -> tuple[dict, ...]:
    """Sections [{"title", "items": [{"question", "answer": [paragraphs]}]}] in the language of
    the request, Russian when that language has no FAQ file."""
    language = (translation.get_language() or "ru")[:2]
    if not (FAQ_DIR / f"{language}.json").exists():
        language = "ru"
    return _faq(language)
