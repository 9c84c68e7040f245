"""Tables for the scenarios' and the benchmark's output, drawn by rich as plain text (a file, a pipe or a
terminal alike)."""

from __future__ import annotations

import io
from collections.abc import Sequence

WIDTH = 140


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[str] = ()) -> str:
    """``rows`` under ``columns``; the columns named in ``right`` are right-aligned (numbers)."""
    from rich.console import Console  # noqa: PLC0415 - the local stack's only use of it
    from rich.table import Table  # noqa: PLC0415

    drawn = Table(title=title or None)
    for column in columns:
        drawn.add_column(column, justify="right" if column in right else "left")
    for row in rows:
        drawn.add_row(*row)
    console = Console(file=io.StringIO(), width=WIDTH, record=True)
    console.print(drawn)
    return console.export_text().rstrip("\n")
