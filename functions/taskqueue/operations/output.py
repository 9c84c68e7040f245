"""How the ``dlq`` commands print: JSON lines for scripts, a table and a progress bar for people.

JSON lines whenever stdout is not a terminal, or with ``--json``: one object per dead letter
(``"kind": "dead_letter"``), then one ``"kind": "summary"``. On a terminal, rich's table and
progress bar when rich is installed (the package's ``cli`` extra), else plain text: the Lambda
zips do not carry rich, and nothing here needs it.

Task names, error texts and bodies are a producer's text. JSON lines are ASCII, so any string (a lone
surrogate included) can be written and reads back exact; text for people goes through
:func:`for_terminal`, so no producer can write an escape sequence to an operator's screen.
"""

from __future__ import annotations

import base64
import enum
import json
import re
from collections.abc import Mapping
from typing import Any, Protocol, TextIO

from taskqueue.operations.dlq_message import DlqMessage
from taskqueue.operations.triage import MessageResult, TriageReport

COLUMNS = ("message id", "task", "reason", "error", "first enqueued", "receives", "size")
_PLAIN_WIDTHS = (36, 20, 17, 40, 20, 8, 8)
# Outcomes a person must hear about one by one: the message did not get where it was asked to go.
PROBLEM_OUTCOMES = frozenset({MessageResult.SEND_FAILED, MessageResult.DELETE_FAILED, MessageResult.HELD_BACK})


# What a terminal may act on rather than show: C0 and C1 controls (ESC, CSI, carriage return...), DEL,
# lone surrogates (no encoding takes them), line and paragraph separators, and bidirectional overrides.
_BEYOND_C0 = "\\x7f-\\x9f\\ud800-\\udfff\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069"
_UNSAFE = re.compile(f"[\\x00-\\x1f{_BEYOND_C0}]")
_UNSAFE_BUT_LINES = re.compile(f"[\\x00-\\x08\\x0b-\\x1f{_BEYOND_C0}]")  # keeps tab and newline


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def for_terminal(text: str, lines: bool = False) -> str:
    """``text`` with every character a terminal would act on written as an escape (``\\x1b``, ``\\u202e``);
    with ``lines``, newlines and tabs are kept (a body, a traceback)."""
    return (_UNSAFE_BUT_LINES if lines else _UNSAFE).sub(_escaped, text)


class Output(Protocol):
    def message(self, dlq_message: DlqMessage, outcome: MessageResult, detail: str = "") -> None: ...

    def progress(self, report: TriageReport) -> None: ...

    def show(self, dlq_message: DlqMessage) -> None: ...

    def summary(self, report: TriageReport) -> None: ...


def make_output(stream: TextIO, json_lines: bool) -> Output:
    if json_lines or not stream.isatty():
        return JsonLinesOutput(stream)
    try:
        from taskqueue.operations.rich_output import RichOutput  # noqa: PLC0415 - rich is an optional extra
    except ImportError:
        return PlainOutput(stream)
    return RichOutput(stream)


def listing(dlq_message: DlqMessage) -> dict[str, Any]:
    enqueued = dlq_message.first_enqueued
    return {
        "message_id": dlq_message.message_id,
        "task": dlq_message.task,
        "reason": dlq_message.reason,
        "error": dlq_message.error,
        "first_enqueued": enqueued.isoformat(timespec="seconds") if enqueued else None,
        "receive_count": dlq_message.receive_count,
        "size": dlq_message.size,
    }


def table_row(dlq_message: DlqMessage) -> tuple[str, ...]:
    """The listing's cells for people, each made safe for a terminal."""
    enqueued = dlq_message.first_enqueued  # UTC
    cells = (
        dlq_message.message_id,
        dlq_message.task or "",
        dlq_message.reason,
        dlq_message.error_first_line,
        enqueued.strftime("%Y-%m-%d %H:%M:%S") if enqueued else "",
        str(dlq_message.receive_count),
        str(dlq_message.size),
    )
    return tuple(for_terminal(cell) for cell in cells)


def attributes_for_json(attributes: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    shown: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        shown[name] = {"DataType": value.get("DataType")}
        if "StringValue" in value:
            shown[name]["StringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            shown[name]["BinaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
    return shown


def full_record(dlq_message: DlqMessage) -> dict[str, Any]:
    return {
        **listing(dlq_message),
        "body": dlq_message.body,
        "attributes": dict(dlq_message.attributes),
        "message_attributes": attributes_for_json(dlq_message.message_attributes),
    }


class Line(enum.Enum):
    DONE = "done"
    PROBLEM = "problem"
    NOTE = "note"


def summary_lines(report: TriageReport) -> list[tuple[Line, str]]:
    """The summary for people: what was done, what went wrong, then what to know (tasks seen included),
    made safe for a terminal."""
    return [(line, for_terminal(text)) for line, text in _summary_lines(report)]


def _summary_lines(report: TriageReport) -> list[tuple[Line, str]]:
    read = f"read {report.scanned} dead letters of about {report.visible_at_start}, {report.matched} matched"
    if report.command == "redrive" and report.dry_run:
        done = f"would move {report.would_move} to {report.destination_url} (dry run: nothing sent)"
    elif report.command == "redrive":
        done = f"moved {report.moved} to {report.destination_url}"
        if report.finished_earlier:
            done += f" ({report.finished_earlier} of them sent by an earlier run, deleted now)"
    elif report.command == "purge":
        done = f"deleted {report.deleted}"
    else:
        done = ""
    lines = [(Line.DONE, f"{report.command}: {read}" + (f"; {done}" if done else ""))]
    lines.append((Line.DONE, f"put back into the DLQ: {report.released}"))
    if report.failed:
        lines.append((Line.PROBLEM, f"{report.failed} failed: they stay in the DLQ"))
    if report.held_back:
        lines.append((Line.PROBLEM, f"{report.held_back} held back behind a failed message of their FIFO group"))
    if report.unread:
        lines.append((Line.PROBLEM, f"incomplete: about {report.unread} dead letters not read (see the note)"))
    if report.error:
        lines.append((Line.PROBLEM, f"error: {report.error}"))
    return lines + [(Line.NOTE, note) for note in report.notes]


class JsonLinesOutput:
    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def _write(self, document: Mapping[str, Any]) -> None:
        # ASCII: a lone surrogate from a body's task name is written as its escape, not refused by the stream.
        self.stream.write(json.dumps(document, default=str) + "\n")
        self.stream.flush()

    def message(self, dlq_message: DlqMessage, outcome: MessageResult, detail: str = "") -> None:
        document = {"kind": "dead_letter", "outcome": str(outcome), **listing(dlq_message)}
        if detail:
            document["detail"] = detail
        self._write(document)

    def progress(self, report: TriageReport) -> None:
        """Scripts get each message's line as it happens; no separate progress."""

    def show(self, dlq_message: DlqMessage) -> None:
        self._write({"kind": "dead_letter", "outcome": str(MessageResult.LISTED), **full_record(dlq_message)})

    def summary(self, report: TriageReport) -> None:
        self._write({"kind": "summary", **report.as_dict()})


class PlainOutput:
    """A terminal without rich: fixed-width columns, one line per message as it comes."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self._header_written = False

    def _line(self, cells: tuple[str, ...]) -> None:
        fitted = [cell if len(cell) <= w else cell[: w - 1] + "…" for cell, w in zip(cells, _PLAIN_WIDTHS, strict=True)]
        self.stream.write("  ".join(cell.ljust(w) for cell, w in zip(fitted, _PLAIN_WIDTHS, strict=True)).rstrip())
        self.stream.write("\n")

    def message(self, dlq_message: DlqMessage, outcome: MessageResult, detail: str = "") -> None:
        if outcome is MessageResult.LISTED:
            if not self._header_written:
                self._line(COLUMNS)
                self._header_written = True
            self._line(table_row(dlq_message))
        elif outcome in PROBLEM_OUTCOMES:
            self.stream.write(for_terminal(f"{outcome}: {dlq_message.message_id}: {detail}") + "\n")

    def progress(self, report: TriageReport) -> None:
        """No progress bar without rich: the summary says what was done."""

    def show(self, dlq_message: DlqMessage) -> None:
        record = full_record(dlq_message)
        self.stream.write(f"message id: {for_terminal(dlq_message.message_id)}\n")
        self.stream.write(f"body:\n{for_terminal(pretty_body(dlq_message.body), lines=True)}\n")
        self.stream.write("attributes:\n")
        for name, value in sorted(record["attributes"].items()):
            self.stream.write(for_terminal(f"  {name}: {value}") + "\n")
        self.stream.write("message attributes:\n")
        for name, value in sorted(record["message_attributes"].items()):
            shown = value.get("StringValue", value.get("BinaryValue"))
            self.stream.write(for_terminal(f"  {name} ({value['DataType']}): {shown}") + "\n")
        self.stream.write(f"reason: {for_terminal(dlq_message.reason)}\n")
        self.stream.write(f"error:\n{for_terminal(dlq_message.error, lines=True)}\n")

    def summary(self, report: TriageReport) -> None:
        self.stream.write("".join(f"{text}\n" for _, text in summary_lines(report)))


def pretty_body(body: str) -> str:
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return body
