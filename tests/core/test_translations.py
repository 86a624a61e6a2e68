"""The interface catalogs (W1): every string is translated into Kazakh and Russian, and the
compiled .mo files are exactly what the .po sources say (a stale .mo fails here)."""

import ast
import dataclasses
import gettext
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation

BASE_DIR = Path(settings.BASE_DIR)
LOCALE_DIR = Path(settings.LOCALE_PATHS[0])
LANGUAGES = ("kk", "ru", "en")
TRANSLATED = ("kk", "ru")
PLACEHOLDER = re.compile(r"%(?:\(\w+\))?[sd]")


@dataclasses.dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = dataclasses.field(default_factory=dict)
    flags: set[str] = dataclasses.field(default_factory=set)
    line: int = 0

    @property
    def fuzzy(self) -> bool:
        return "fuzzy" in self.flags

    @property
    def translated(self) -> bool:
        return bool(self.msgstr) and all(self.msgstr.values())

    @property
    def key(self) -> str:
        return f"{self.msgctxt}\x04{self.msgid}" if self.msgctxt is not None else self.msgid


def parse_po(path: Path) -> list[Entry]:
    """A small PO reader: entries with context, plural forms and flags; obsolete (#~) skipped."""
    entries: list[Entry] = []
    entry = Entry()
    field: tuple[str, int | None] | None = None

    def flush():
        nonlocal entry, field
        if field is not None:
            entries.append(entry)
        entry, field = Entry(), None

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line:
            flush()
            continue
        if line.startswith("#"):
            if entry.msgstr:
                flush()
            if line.startswith("#,"):
                entry.flags |= {flag.strip() for flag in line[2:].split(",")}
            continue
        if line.startswith('"'):
            assert field is not None, f"{path}:{number}: text outside an entry"
            _append(entry, field, ast.literal_eval(line))
            continue
        keyword, _, rest = line.partition(" ")
        if keyword in ("msgctxt", "msgid") and entry.msgstr:
            flush()
        match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
        if match:
            field = ("msgstr", int(match.group(1)))
        elif keyword in ("msgctxt", "msgid", "msgid_plural", "msgstr"):
            field = (keyword, 0 if keyword == "msgstr" else None)
        else:
            raise AssertionError(f"{path}:{number}: unexpected line {raw!r}")
        if keyword == "msgid":
            entry.line = number
        _set(entry, field, "")
        _append(entry, field, ast.literal_eval(rest))
    flush()
    return entries


def _set(entry: Entry, field: tuple[str, int | None], value: str) -> None:
    name, index = field
    if name == "msgstr":
        entry.msgstr[index] = value
    else:
        setattr(entry, name, value)


def _append(entry: Entry, field: tuple[str, int | None], text: str) -> None:
    name, index = field
    if name == "msgstr":
        entry.msgstr[index] += text
    else:
        setattr(entry, name, getattr(entry, name) + text)


def _po(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.po"


def _mo(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.mo"


def _messages(language: str) -> list[Entry]:
    return [entry for entry in parse_po(_po(language)) if entry.msgid]


def _header(language: str) -> str:
    (header,) = [entry for entry in parse_po(_po(language)) if entry.msgid == ""]
    return header.msgstr[0]


@pytest.mark.parametrize("language", LANGUAGES)
def test_w1_catalogs_exist_for_every_language(language):
    assert _po(language).is_file()
    assert _mo(language).is_file()
    assert f"Language: {language}\n" in _header(language)
    assert len(_messages(language)) > 100


@pytest.mark.parametrize("language", TRANSLATED)
def test_w1_no_msgid_is_left_untranslated(language):
    problems = [
        f"line {entry.line}: {entry.msgid!r}"
        for entry in _messages(language)
        if entry.fuzzy or not entry.translated
    ]
    assert not problems, f"{language}: untranslated or fuzzy:\n" + "\n".join(problems)


def test_w1_catalogs_share_the_same_msgids():
    keys = {language: {entry.key for entry in _messages(language)} for language in LANGUAGES}
    assert keys["kk"] == keys["ru"] == keys["en"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_w1_compiled_mo_matches_the_po(language):
    """Every translated, non-fuzzy .po entry is in the .mo with the same text, and the .mo holds
    nothing else: run `manage.py compilemessages` after editing a .po."""
    expected = {}
    for entry in _messages(language):
        if entry.fuzzy or not any(entry.msgstr.values()):
            continue
        if entry.msgid_plural is not None:
            for index, text in entry.msgstr.items():
                expected[(entry.key, index)] = text
        else:
            expected[entry.key] = entry.msgstr[0]
    with _mo(language).open("rb") as fp:
        catalog = dict(gettext.GNUTranslations(fp)._catalog)
    catalog.pop("", None)
    stale = {
        key: (expected.get(key), catalog.get(key))
        for key in expected.keys() | catalog.keys()
        if expected.get(key) != catalog.get(key)
    }
    assert not stale, f"{language}: .mo differs from .po (key: (po, mo)): {stale}"


@pytest.mark.parametrize("language", TRANSLATED)
def test_w1_translations_keep_the_placeholders(language):
    for entry in _messages(language):
        if entry.msgid_plural is None:
            wanted = sorted(PLACEHOLDER.findall(entry.msgid))
            for text in entry.msgstr.values():
                assert sorted(PLACEHOLDER.findall(text)) == wanted, entry.msgid
            continue
        # A plural form may drop the count the singular leaves out ("This refund" / "These
        # %(counter)s refunds"); it keeps every other placeholder and invents none. Which form
        # needs which is msgfmt --check-format's job (compilemessages runs it).
        singular = set(PLACEHOLDER.findall(entry.msgid))
        plural = set(PLACEHOLDER.findall(entry.msgid_plural))
        for text in entry.msgstr.values():
            found = set(PLACEHOLDER.findall(text))
            assert singular & plural <= found <= singular | plural, (entry.msgid, text)


def test_w1_plural_forms_russian_three_kazakh_two():
    assert "Plural-Forms: nplurals=3;" in _header("ru")
    assert "Plural-Forms: nplurals=2;" in _header("kk")
    for language, forms in {"ru": 3, "kk": 2, "en": 2}.items():
        for entry in _messages(language):
            if entry.msgid_plural is not None:
                assert sorted(entry.msgstr) == list(range(forms)), (language, entry.msgid)

    msgid, plural = "%(capacity)s vehicle a day each way", "%(capacity)s vehicles a day each way"
    expected_ru = {
        1: "1 автомобиль",
        3: "3 автомобиля",
        5: "5 автомобилей",
        11: "11 автомобилей",
        21: "21 автомобиль",
        22: "22 автомобиля",
        650: "650 автомобилей",
    }
    with translation.override("ru"):
        for count, start in expected_ru.items():
            text = translation.ngettext(msgid, plural, count) % {"capacity": count}
            assert text.startswith(start + " "), text
    with translation.override("kk"):
        for count in (1, 5):
            text = translation.ngettext(msgid, plural, count) % {"capacity": count}
            assert text == f"тәулігіне әр бағытта {count} көлік құралы"


def test_w1_model_choices_and_verbose_names_are_translated():
    from checkpoints.models import Checkpoint, Direction
    from fees.models import Service

    expected = {
        "kk": ("Жалпы кезек", "Кепілдік жарна", "Қазақстаннан шығу", "өткізу пункті"),
        "ru": ("Обычная очередь", "Гарантийный взнос", "Выезд из Казахстана", "пункт пропуска"),
        "en": ("Regular queue", "Guarantee deposit", "Exit from Kazakhstan", "checkpoint"),
    }
    for language, (regular, deposit, exit_, checkpoint) in expected.items():
        with translation.override(language):
            assert str(Service.REGULAR.label) == regular
            assert str(Service.DEPOSIT.label) == deposit
            assert str(Direction.EXIT.label) == exit_
            assert str(Checkpoint._meta.verbose_name) == checkpoint


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("language", "message"), [("kk", "Табылмады."), ("ru", "Не найдено."), ("en", "Not found.")]
)
def test_w1_api_errors_are_translated(client, language, message):
    response = client.get("/api/v1/no-such-thing", HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 404
    assert response.json()["error"] == {"code": "not_found", "message": message, "fields": {}}


def _source_folders() -> list[str]:
    """The folders makemessages reads: the project's own apps, config/ and templates/."""
    from django.apps import apps

    folders = {"config", "templates"}
    for app in apps.get_app_configs():
        path = Path(app.path).resolve()
        if path.parent == BASE_DIR.resolve():  # not the packages of the virtualenv, even inside
            folders.add(path.name)
    return sorted(folders)


def _catalog_ids(path: Path) -> set[tuple[str | None, str, str | None]]:
    return {
        (entry.msgctxt, entry.msgid, entry.msgid_plural) for entry in parse_po(path) if entry.msgid
    }


def _show(ids) -> str:
    return "\n".join(
        "  "
        + repr(msgid)
        + (f" (plural {plural!r})" if plural else "")
        + (f" [{ctx}]" if ctx else "")
        for ctx, msgid, plural in sorted(ids, key=lambda i: (i[1], i[0] or "", i[2] or ""))
    )


def test_w1_catalogs_hold_every_translatable_string_of_the_source(tmp_path):
    """Extract the strings afresh from a copy of the source (so the committed catalogs are never
    touched) and compare them with the committed Russian catalog: a string added to the code or
    templates without `make messages` fails here, and so does one left behind after its removal."""
    tools = ("xgettext", "msguniq", "msgmerge", "msgattrib")
    missing_tools = [tool for tool in tools if shutil.which(tool) is None]
    if missing_tools:
        pytest.skip(f"GNU gettext is not installed ({', '.join(missing_tools)} not found)")

    source = tmp_path / "source"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", "*.mo", "*.po")
    for folder in _source_folders():
        shutil.copytree(BASE_DIR / folder, source / folder, ignore=skip)
    shutil.copy2(BASE_DIR / "manage.py", source / "manage.py")
    (source / "locale").mkdir()
    (source / "static").mkdir()  # STATICFILES_DIRS; the django domain reads no JavaScript
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "KEZEK_VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(source),
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "ru", "--no-obsolete"],
        cwd=source,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"makemessages failed:\n{result.stdout}\n{result.stderr}"
    extracted = source / "locale" / "ru" / "LC_MESSAGES" / "django.po"
    assert extracted.is_file(), f"makemessages wrote no catalog:\n{result.stdout}\n{result.stderr}"

    in_source = _catalog_ids(extracted)
    in_catalog = _catalog_ids(_po("ru"))
    assert len(in_source) > 100, "too few strings extracted: is the copy of the source complete?"
    new, stale = in_source - in_catalog, in_catalog - in_source
    assert not new and not stale, (
        "locale/ differs from the source: run `make messages` (makemessages --no-obsolete, then "
        "translate into kk and ru and run compilemessages).\n"
        f"In the source but not in the catalogs ({len(new)}):\n{_show(new)}\n"
        f"In the catalogs but no longer in the source ({len(stale)}):\n{_show(stale)}"
    )


@pytest.mark.parametrize(
    ("language", "tuesday", "saturday"),
    [("kk", "Сс", "Сб"), ("ru", "Вт", "Сб"), ("en", "Tue", "Sat")],
)
def test_w1_weekday_abbreviations_name_each_day_apart(language, tuesday, saturday):
    """Dates on the calendar and the home page abbreviate weekdays; in Kazakh, Tuesday is not
    abbreviated as Saturday is (Django's own catalog gives both as "Сб")."""
    import datetime as dt

    from django.utils.formats import date_format

    with translation.override(language):
        shown = [date_format(dt.date(2026, 12, day), "D") for day in range(7, 14)]
    assert shown[1] == tuesday and shown[5] == saturday and len(set(shown)) == 7
