"""The console backends' output (SMS and Telegram without a provider, as in `make run`): each
message as a framed block, its one-time code on a line of its own, so a person finds it among the
log lines of the web, the worker and beat."""

import re
import textwrap

WIDTH = 64
ONE_TIME_CODE = re.compile(r"\b\d{6}\b")


def framed(title: str, text: str) -> str:
    """`title` and `text` in a box of WIDTH characters, preceded by a line break (the log line's
    own prefix stays on the line before); a 6-digit code in `text` is repeated below it."""
    inner = WIDTH - 4
    lines = [title, ""]
    for paragraph in text.splitlines() or [""]:
        lines += textwrap.wrap(paragraph, inner) or [""]
    code = ONE_TIME_CODE.search(text)
    if code:
        lines += ["", f"CODE  {code.group()}"]
    rule = "─" * (WIDTH - 2)
    body = "\n".join(f"│ {line.ljust(inner)} │" for line in lines)
    return f"\n┌{rule}┐\n{body}\n└{rule}┘"
