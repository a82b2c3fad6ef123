"""One vocabulary: the condition types, reasons, Event reasons, queue reasons, audit
actions and phases that core/, engine/ and metrics.py write or compare are the
StrEnums of `jobwarden.api.enums` (and Kubernetes' own in `core.reasons`), never a
string literal that could be misspelt in one place."""

from __future__ import annotations

import ast
from enum import StrEnum
from pathlib import Path

import pytest

from jobwarden.api import enums
from jobwarden.core import reasons

PACKAGE = Path(enums.__file__).resolve().parents[1]
SCANNED = sorted(
    [
        *(PACKAGE / "core").glob("*.py"),
        *(PACKAGE / "engine").glob("*.py"),
        PACKAGE / "metrics.py",
    ]
)
VOCABULARY: tuple[type[StrEnum], ...] = (
    enums.ConditionType,
    enums.ConditionStatus,
    enums.Reason,
    enums.EventReason,
    enums.EventType,
    enums.QueueReason,
    enums.AuditAction,
    enums.AuditOutcome,
    enums.CancelOutcome,
    enums.RunPhase,
    enums.ScheduledJobPhase,
    enums.BackfillPhase,
    enums.SkipReason,
    enums.Trigger,
    reasons.PodReason,
    reasons.PodConditionType,
    reasons.PodPhase,
)
#: Where a module defines the vocabulary itself.
DEFINITIONS = {PACKAGE / "core" / "reasons.py"}


def _words() -> dict[str, str]:
    words: dict[str, str] = {}
    for enum in VOCABULARY:
        for member in enum:
            words.setdefault(member.value, f"{enum.__name__}.{member.name}")
    return words


def _literals(path: Path) -> list[tuple[int, str]]:
    """String constants of a module, without docstrings, f-string text, `__all__` and
    the values of enum definitions."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):  # a message's text
            skip.update(id(part) for part in ast.walk(node))
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.Expr):
            skip.add(id(body[0].value))  # a docstring (or a bare string statement)
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            skip.update(id(n) for n in ast.walk(node.value))
        if isinstance(node, ast.ClassDef) and any(
            isinstance(b, ast.Name) and b.id.endswith("Enum") for b in node.bases
        ):
            skip.update(id(n) for n in ast.walk(node))
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip
    ]


@pytest.mark.parametrize("path", [p for p in SCANNED if p not in DEFINITIONS], ids=lambda p: p.name)
def test_no_vocabulary_word_is_spelt_as_a_string(path: Path) -> None:
    words = _words()
    found = [
        f"{path.name}:{line}: {text!r} is {words[text]}"
        for line, text in _literals(path)
        if text in words
    ]
    assert not found, "use the enum member:\n" + "\n".join(found)


def test_the_scan_sees_a_literal(tmp_path: Path) -> None:
    """The check can fail: a condition type written as a string is caught (and a
    docstring, an f-string's text and an enum's own definition are not)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        '"""Ready"""\n'
        "from enum import StrEnum\n"
        'class Kind(StrEnum):\n    READY = "Ready"\n'
        'if status["type"] == "Ready":\n    text = f"Ready {1}"\n'
    )
    assert [text for _, text in _literals(probe) if text in _words()] == ["Ready"]
