"""The ``dlq`` commands on a terminal with rich installed: tables and a progress bar."""

from __future__ import annotations

from typing import TextIO

from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from taskqueue.operations.dlq_message import DlqMessage
from taskqueue.operations.output import (
    COLUMNS,
    PROBLEM_OUTCOMES,
    Line,
    for_terminal,
    full_record,
    pretty_body,
    summary_lines,
    table_row,
)
from taskqueue.operations.triage import MessageResult, TriageReport

# Rows are printed a page at a time, so a listing of any length keeps only one page in memory;
# fixed column widths (the error takes what is left) keep the pages aligned.
PAGE_ROWS = 50
_WIDTHS = (36, 16, 17, None, 19, 8, 8)
_STYLES = {Line.DONE: "bold", Line.PROBLEM: "red", Line.NOTE: "yellow"}


class RichOutput:
    def __init__(self, stream: TextIO) -> None:
        self.console = Console(file=stream)
        self._rows: list[tuple[str, ...]] = []
        self._pages = 0
        self._progress: Progress | None = None

    def message(self, dlq_message: DlqMessage, outcome: MessageResult, detail: str = "") -> None:
        if outcome is MessageResult.LISTED:
            self._rows.append(table_row(dlq_message))
            if len(self._rows) == PAGE_ROWS:
                self._flush_rows()
        elif outcome in PROBLEM_OUTCOMES:
            shown = for_terminal(f"{dlq_message.message_id}: {detail}")
            self.console.print(f"[red]{outcome}[/red] {escape(shown)}", highlight=False)

    def _flush_rows(self) -> None:
        if not self._rows:
            return
        table = Table(show_header=self._pages == 0, show_edge=False, box=None, header_style="bold", expand=True)
        for name, width in zip(COLUMNS, _WIDTHS, strict=True):
            table.add_column(
                name, width=width, ratio=None if width else 1, min_width=16, no_wrap=True, overflow="ellipsis"
            )
        for row in self._rows:
            table.add_row(*map(escape, row))
        self.console.print(table)
        self._rows.clear()
        self._pages += 1

    def progress(self, report: TriageReport) -> None:
        if report.command == "list":
            return  # the table is the progress
        if self._progress is None:
            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._progress.add_task("reading", total=report.visible_at_start or None)
        done = report.moved if report.command == "redrive" else report.deleted
        if report.dry_run:
            done = report.would_move
        self._progress.update(
            self._progress.task_ids[0],
            completed=report.scanned,
            description=f"{report.command}: {report.matched} matched, {done} done, {report.failed} failed",
        )

    def show(self, dlq_message: DlqMessage) -> None:
        record = full_record(dlq_message)
        self.console.print(f"[bold]message[/bold] {escape(for_terminal(dlq_message.message_id))}")
        # Highlighted as JSON, but from the escaped text: rich's own JSON would print the body's controls.
        self.console.print(JSONHighlighter()(for_terminal(pretty_body(dlq_message.body), lines=True)))
        table = Table("attribute", "type", "value", title="attributes", title_justify="left")
        for name, value in sorted(record["attributes"].items()):
            table.add_row(escape(for_terminal(name)), "system", escape(for_terminal(str(value))))
        for name, value in sorted(record["message_attributes"].items()):
            shown = str(value.get("StringValue", value.get("BinaryValue")))
            table.add_row(*(escape(for_terminal(cell)) for cell in (name, str(value["DataType"]), shown)))
        self.console.print(table)
        self.console.print(f"[bold]reason[/bold] {escape(for_terminal(dlq_message.reason))}\n[bold]error[/bold]")
        self.console.print(escape(for_terminal(dlq_message.error, lines=True)), highlight=False)

    def summary(self, report: TriageReport) -> None:
        if self._progress is not None:
            self._progress.stop()
        self._flush_rows()
        for line, text in summary_lines(report):
            style = _STYLES[line]
            self.console.print(f"[{style}]{escape(text)}[/{style}]", highlight=False)
