"""Locks written down (docs/locking.md): every row lock is a named function of an app's
`locks.py`, built on core.locks.for_update, which refuses to lock outside a transaction."""

import ast
from pathlib import Path

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError

from checkpoints.models import Country
from core.locks import for_update
from tests.test_import_cycles import project_modules

ROOT = Path(__file__).resolve().parent.parent


def calls_named(path: Path, name: str) -> list[int]:
    """Lines of `path` that call `name(…)` or `….name(…)`."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            called = node.func
            if getattr(called, "attr", None) == name or getattr(called, "id", None) == name:
                lines.append(node.lineno)
    return lines


def test_only_core_locks_calls_select_for_update():
    found = {
        f"{module}:{line}"
        for module, path in project_modules().items()
        for line in calls_named(path, "select_for_update")
        if module != "core.locks"
    }
    assert found == set()


def test_only_the_apps_locks_modules_take_locks():
    found = {
        f"{module}:{line}"
        for module, path in project_modules().items()
        for line in calls_named(path, "for_update")
        if not module.endswith(".locks")
    }
    assert found == set()


@pytest.mark.django_db(transaction=True)
def test_a_lock_outside_a_transaction_is_refused_on_every_database():

    with pytest.raises(TransactionManagementError, match=r"transaction\.atomic"):
        for_update(Country.objects.all())
    with transaction.atomic():
        assert list(for_update(Country.objects.all())) == []
