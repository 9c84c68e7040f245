"""Terraform for the tests and the demo: the CLI, a local provider mirror and a CLI configuration using it.

Nothing here downloads a provider. :func:`setup` finds the ``terraform`` binary and a filesystem mirror
that holds ``registry.terraform.io/hashicorp/aws``, writes a CLI configuration that installs providers
from that mirror (``build/terraform/cli.tfrc``, git-ignored) and returns a :class:`TerraformSetup`
whose :meth:`~TerraformSetup.terraform` gives python-terraform objects running with it.

Where the mirror is found:

1. ``$TASKQUEUE_TF_PROVIDER_MIRROR``, when set (it must then hold the provider);
2. Terraform's implied local mirror directories (``~/.terraform.d/plugins``,
   ``$XDG_DATA_HOME/terraform/plugins``, ``<each of $XDG_DATA_DIRS>/terraform/plugins``);
3. a bounded search (a few levels deep, no symbolic links, a time and directory budget) below
   likely roots such as ``/opt``, ``/usr/local/share``, ``/usr/share`` and ``/srv``.

No ``plugin_cache_dir``: from an unpacked mirror, ``terraform init`` links the provider into
``.terraform`` instead of copying its hundreds of MB, which a cache would do once more.

python-terraform predates Terraform 1.x in places (``init()`` adds ``-reconfigure`` and an empty
``-var-file``, ``destroy()`` passes the removed ``-force``), so callers use its generic
:meth:`Terraform.cmd`, through :func:`run` here, for every command.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import python_terraform
from python_terraform import IsFlagged

REPO_ROOT = Path(__file__).resolve().parent.parent
BUILD_DIR = REPO_ROOT / "build" / "terraform"
MIRROR_ENV = "TASKQUEUE_TF_PROVIDER_MIRROR"
PROVIDER = "registry.terraform.io/hashicorp/aws"

SEARCH_ROOTS = ("/opt", "/usr/local/share", "/usr/share", "~/.terraform.d", "/srv", "/usr/local/lib")
SEARCH_DEPTH = 4
SEARCH_MAX_DIRECTORIES = 20_000
SEARCH_SECONDS = 3.0
# Trees that are big and never hold a provider mirror.
SEARCH_SKIP = frozenset(
    {
        "node_modules",
        "site-packages",
        "dist-packages",
        "__pycache__",
        "doc",
        "docs",
        "man",
        "locale",
        "icons",
        "fonts",
        "zoneinfo",
        "i18n",
    }
)


class TerraformUnavailable(RuntimeError):
    """Terraform or the provider mirror is missing; the message says which, and what to do."""


class TerraformError(RuntimeError):
    """A Terraform command failed."""

    def __init__(self, command: str, returncode: int, stdout: str, stderr: str) -> None:
        super().__init__(f"terraform {command} exited with {returncode}\n{stdout}\n{stderr}".rstrip())
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def _has_provider(directory: Path) -> bool:
    try:
        return (directory / PROVIDER).is_dir()
    except OSError:
        return False


def implied_mirror_dirs(env: Mapping[str, str] | None = None) -> list[Path]:
    """Terraform's implied local mirror directories on Unix, in its order."""
    env = os.environ if env is None else env
    home = Path(env.get("HOME", "~")).expanduser()
    data_home = Path(env.get("XDG_DATA_HOME") or home / ".local" / "share")
    data_dirs = [Path(d) for d in (env.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":") if d]
    return [
        home / ".terraform.d" / "plugins",
        data_home / "terraform" / "plugins",
        *(d / "terraform" / "plugins" for d in data_dirs),
    ]


def search_mirror(
    roots: Iterable[str | Path],
    *,
    max_depth: int = SEARCH_DEPTH,
    max_directories: int = SEARCH_MAX_DIRECTORIES,
    seconds: float = SEARCH_SECONDS,
) -> Path | None:
    """Breadth-first search below ``roots`` for a directory holding the AWS provider.

    Bounded: at most ``max_depth`` levels, ``max_directories`` listed directories and ``seconds``
    of time; symbolic links, hidden directories and known large trees are not entered.
    """
    deadline = time.monotonic() + seconds
    queue: deque[tuple[Path, int]] = deque()
    for root in roots:
        path = Path(root).expanduser()
        if path.is_dir():
            queue.append((path, 0))
    listed = 0
    while queue and listed < max_directories and time.monotonic() < deadline:
        directory, depth = queue.popleft()
        if _has_provider(directory):
            return directory
        if depth >= max_depth:
            continue
        listed += 1
        try:
            with os.scandir(directory) as entries:
                children = sorted(
                    Path(entry.path)
                    for entry in entries
                    if entry.is_dir(follow_symlinks=False)
                    and not entry.name.startswith(".")
                    and entry.name not in SEARCH_SKIP
                )
        except OSError:
            continue
        queue.extend((child, depth + 1) for child in children)
    return None


def find_provider_mirror(env: Mapping[str, str] | None = None) -> Path:
    """The directory of a filesystem mirror holding the AWS provider, or :class:`TerraformUnavailable`."""
    env = os.environ if env is None else env
    configured = env.get(MIRROR_ENV)
    if configured:
        path = Path(configured).expanduser()
        if _has_provider(path):
            return path.resolve()
        raise TerraformUnavailable(f"${MIRROR_ENV}={configured} does not contain {PROVIDER}")
    for directory in implied_mirror_dirs(env):
        if _has_provider(directory):
            return directory.resolve()
    found = search_mirror(SEARCH_ROOTS)
    if found is not None:
        return found.resolve()
    raise TerraformUnavailable(
        f"no provider mirror with {PROVIDER} found in Terraform's implied mirror directories or below "
        f"{', '.join(SEARCH_ROOTS)}: set ${MIRROR_ENV} to a directory that holds it"
    )


def cli_config_text(mirror: Path) -> str:
    """A CLI configuration that installs the AWS provider from ``mirror`` and nothing from the network."""
    return (
        "# Written by tools/terraform.py: providers come from the local mirror.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f"    path    = {_hcl_string(str(mirror))}\n"
        f'    include = ["{PROVIDER}"]\n'
        "  }\n"
        "  direct {\n"
        f'    exclude = ["{PROVIDER}"]\n'
        "  }\n"
        "}\n"
    )


def _hcl_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "$${") + '"'


def write_cli_config(mirror: Path, path: Path) -> Path:
    """Write the CLI configuration to ``path`` (atomically: parallel test workers share it)."""
    text = cli_config_text(mirror)
    if path.is_file() and path.read_text() == text:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    temporary.replace(path)
    return path


# python-terraform reads the environment of the process; commands run one at a time while
# the environment is swapped for theirs.
_environment_lock = threading.RLock()


@contextmanager
def _environment(overrides: Mapping[str, str | None]) -> Iterator[None]:
    with _environment_lock:
        saved = {name: os.environ.get(name) for name in overrides}
        try:
            for name, value in overrides.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


class Terraform(python_terraform.Terraform):  # type: ignore[misc]
    """python-terraform's wrapper, running every command with the given environment."""

    def __init__(self, working_dir: Path | str, env: Mapping[str, str | None], **kwargs: Any) -> None:
        super().__init__(working_dir=str(working_dir), **kwargs)
        self.env = dict(env)

    def cmd(self, cmd: str, *args: Any, **kwargs: Any) -> tuple[int, str | None, str | None]:
        with _environment(self.env):
            result: tuple[int, str | None, str | None] = super().cmd(cmd, *args, **kwargs)
        return result


@dataclass(frozen=True)
class TerraformSetup:
    """A terraform binary, the provider mirror and the CLI configuration that uses it."""

    binary: str
    mirror: Path
    cli_config: Path
    env: dict[str, str] = field(default_factory=dict)

    def terraform(
        self,
        working_dir: Path | str,
        *,
        data_dir: Path | str | None = None,
        env: Mapping[str, str | None] | None = None,
    ) -> Terraform:
        """A python-terraform object for ``working_dir``.

        ``data_dir`` (``TF_DATA_DIR``) keeps ``.terraform`` out of the source tree and lets parallel
        runs in one directory keep apart; ``env`` adds variables (``AWS_ENDPOINT_URL`` for an
        emulator, say) or removes them (``None``).
        """
        environment: dict[str, str | None] = {**self.env}
        if data_dir is not None:
            Path(data_dir).mkdir(parents=True, exist_ok=True)
            environment["TF_DATA_DIR"] = str(data_dir)
        environment.update(env or {})
        return Terraform(working_dir, environment, terraform_bin_path=self.binary)


def setup(build_dir: Path = BUILD_DIR, env: Mapping[str, str] | None = None) -> TerraformSetup:
    """Find terraform and the mirror and write the CLI configuration; :class:`TerraformUnavailable` says
    what is missing."""
    env = os.environ if env is None else env
    binary = shutil.which("terraform", path=env.get("PATH"))
    if binary is None:
        raise TerraformUnavailable("the terraform CLI is not on PATH")
    mirror = find_provider_mirror(env)
    cli_config = write_cli_config(mirror, build_dir / "cli.tfrc")
    return TerraformSetup(
        binary=binary,
        mirror=mirror,
        cli_config=cli_config,
        env={
            "TF_CLI_CONFIG_FILE": str(cli_config),
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            # No call to checkpoint.hashicorp.com for version news.
            "CHECKPOINT_DISABLE": "1",
        },
    )


def run(terraform: Terraform, command: str, *args: Any, **options: Any) -> str:
    """Run ``terraform <command>`` through python-terraform's generic call.

    Returns the standard output; a non-zero exit raises :class:`TerraformError`.

    Options follow python-terraform: ``no_color=IsFlagged`` for ``-no-color`` (the default here),
    ``var={"name": "value"}`` for ``-var-file``, ``auto_approve=IsFlagged`` and so on.
    """
    options.setdefault("no_color", IsFlagged)
    try:
        returncode, stdout, stderr = terraform.cmd(command, *args, **options)
    finally:
        # python-terraform removes its temporary *.tfvars.json only when the command returns: a run cut
        # short (SIGINT, SIGTERM as SystemExit) would leave it behind.
        terraform.temp_var_files.clean_up()
    if returncode != 0:
        raise TerraformError(command, returncode, stdout or "", stderr or "")
    return stdout or ""


@dataclass(frozen=True)
class PlannedChange:
    """One resource a plan would change, and which of its top-level attributes differ."""

    address: str
    resource_type: str
    actions: tuple[str, ...]
    attributes: tuple[str, ...]


def planned_change(resource_change: Mapping[str, Any]) -> PlannedChange | None:
    """The change of one ``resource_changes`` entry of ``terraform show -json``; None for a no-op (or a read)."""
    change = resource_change["change"]
    actions = tuple(change["actions"])
    if actions in (("no-op",), ("read",)):
        return None
    before = change.get("before") or {}
    after = change.get("after") or {}
    unknown = change.get("after_unknown") or {}
    differing = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    # An attribute only known after apply differs too, whatever `after` says of it.
    differing |= {name for name, value in unknown.items() if value is True}
    return PlannedChange(
        address=resource_change["address"],
        resource_type=resource_change["type"],
        actions=actions,
        attributes=tuple(sorted(differing)),
    )


def planned_changes(terraform: Terraform, state: Path, variables: Mapping[str, str]) -> list[PlannedChange]:
    """What ``terraform plan`` would change against ``state`` (a local state file), resource by resource."""
    with tempfile.TemporaryDirectory(prefix="taskqueue-plan-") as directory:
        plan = Path(directory) / "plan"
        run(terraform, "plan", input=False, state=str(state), var=dict(variables), out=str(plan))
        document = json.loads(run(terraform, "show", str(plan), json=IsFlagged))
    changes = (planned_change(entry) for entry in document.get("resource_changes", []))
    return [change for change in changes if change is not None]
