"""The soak's result: its invariants with their counts, as a table and as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from taskqueue_local.infrastructure.tables import table
from taskqueue_local.scenarios.soak.plan import SoakConfig
from taskqueue_local.scenarios.soak.sizing import Sizing
from taskqueue_local.scenarios.soak.verify import Invariant


@dataclass
class SoakResult:
    config: SoakConfig
    sizing: Sizing
    invariants: list[Invariant]
    counts: dict[str, Any]
    seconds: float

    @property
    def ok(self) -> bool:
        return all(invariant.ok for invariant in self.invariants)

    def table(self) -> str:
        invariants = table(
            "invariants",
            ("invariant", "expected", "measured", "result"),
            [(i.name, i.expected, i.measured, "PASS" if i.ok else "FAIL") for i in self.invariants],
            right=("expected", "measured"),
        )
        counts = [f"  {name}: {value}" for name, value in self.counts.items()]
        return "\n".join(["sizing:", self.sizing.describe(), "", invariants, "", *counts])

    def write_json(self, path: Path) -> None:
        document = {
            "invariants": [asdict(invariant) for invariant in self.invariants],
            "sizing": self.sizing.lines,
            "counts": self.counts,
            "seconds": self.seconds,
        }
        path.write_text(json.dumps(document, indent=2, default=str))
