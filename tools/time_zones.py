"""Write terraform/time_zones.tf: the IANA time zone names a periodic task's ``timezone`` may take.

Terraform has no time zone database, so the module checks ``periodic_tasks`` against this list at plan
time. ``python -m tools.time_zones`` writes it from this machine's database (Python's ``zoneinfo``);
``--check`` only reports whether the file lists a name the database does not know (exit status 1).
"""

from __future__ import annotations

import argparse
import re
import sys
import zoneinfo
from pathlib import Path

TIME_ZONES_TF = Path(__file__).resolve().parent.parent / "terraform" / "time_zones.tf"
# Files of the database that are no zone the Scheduler takes.
NOT_ZONES = frozenset({"localtime", "Factory", "posixrules"})


def time_zones() -> list[str]:
    return sorted(zoneinfo.available_timezones() - NOT_ZONES)


def render(names: list[str]) -> str:
    lines = "\n".join(f'    "{name}",' for name in names)
    return (
        "# Written by `python -m tools.time_zones` from the IANA time zone database: the names a periodic\n"
        "# task's timezone may take (Terraform has no time zone database of its own). Do not edit.\n\n"
        f"locals {{\n  scheduler_time_zones = [\n{lines}\n  ]\n}}\n"
    )


def listed(path: Path = TIME_ZONES_TF) -> list[str]:
    return re.findall(r'^ {4}"([^"]+)",$', path.read_text(), flags=re.MULTILINE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report names the database does not know")
    args = parser.parse_args(argv)
    if args.check:
        unknown = sorted(set(listed()) - zoneinfo.available_timezones())
        for name in unknown:
            print(f"{TIME_ZONES_TF.name}: {name} is not in this machine's time zone database", file=sys.stderr)
        return 1 if unknown else 0
    names = time_zones()
    TIME_ZONES_TF.write_text(render(names))
    print(f"wrote {len(names)} time zones to {TIME_ZONES_TF}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
