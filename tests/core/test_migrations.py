"""Indexes added to tables that already hold data are built without blocking writes: on
PostgreSQL an AddIndex locks the table against writes for the whole build, which at national
size stops bookings for minutes. New indexes use core.migration_operations.AddIndexWithoutBlocking
(CREATE INDEX CONCURRENTLY) in a migration that is not atomic."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Migrations written before the tables held a live service's data.
BEFORE_GO_LIVE = {
    "bookings/migrations/0002_booking_arrived_at_booking_arrived_by_and_more.py",
    "checkpoints/migrations/0003_capacity_and_slot_counters.py",
    "deposits/migrations/0002_statement_import.py",
}


def _operations(tree: ast.Module) -> list[str]:
    return [
        node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
    ]


def _atomic_false(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Assign)
        and any(getattr(target, "id", None) == "atomic" for target in node.targets)
        and getattr(node.value, "value", None) is False
        for node in ast.walk(tree)
    )


def test_new_indexes_are_built_without_blocking_writes():
    offenders = []
    for path in sorted(ROOT.glob("*/migrations/0*.py")):
        name = str(path.relative_to(ROOT))
        if path.name.startswith("0001_") or name in BEFORE_GO_LIVE:
            continue
        tree = ast.parse(path.read_text())
        operations = _operations(tree)
        if "AddIndex" in operations or "AddIndexConcurrently" in operations:
            offenders.append(f"{name}: AddIndex (use AddIndexWithoutBlocking)")
        if "AddIndexWithoutBlocking" in operations and not _atomic_false(tree):
            offenders.append(f"{name}: AddIndexWithoutBlocking needs atomic = False")
    assert offenders == []
