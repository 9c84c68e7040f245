#!/usr/bin/env python3
"""Build the Lambda artifacts: dist/consumer.zip, dist/worker.zip and dist/manifest.json.

    python build.py {consumer,worker,all} [--out DIR] [--runtime python3.12|python3.13]
                    [--arch arm64|x86_64] [--bundle-boto3]
                    [--tasks DIR ...] [--requirements FILE ...]

Each zip holds the ``taskqueue`` package, the dependencies from the function's hashed
lock installed as Lambda-platform wheels (manylinux, the requested architecture and
CPython version, whatever the host is), and for the worker the user's task packages and
their hashed requirements. The zips are byte-for-byte reproducible: the same inputs give
the same sha256 in any directory, on any day. When the inputs (sources, locks, options,
this file, pip's version) have not changed since the last build, the artifact is reused.

Needs only the standard library and pip, so platform repos can run it with any
Python >= 3.11 that has pip. Expected failures print one line on stderr and exit 1
(exit 2 for a bad command line); no half-written artifact is left behind.
"""

from __future__ import annotations

import argparse
import base64
import email.parser
import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

# Bump when the artifact layout changes in a way the fingerprint would not notice.
BUILD_PY_VERSION = 1

ROOT = Path(__file__).resolve().parent
# The release, in one place: the module's `version` output and pyproject.toml read the same file.
VERSION_FILE = ROOT / "terraform" / "VERSION"
FUNCTIONS = ROOT / "functions"
PACKAGE = FUNCTIONS / "taskqueue"
BOTO3_LOCK = FUNCTIONS / "boto3-bundle" / "requirements.txt"
ARTIFACTS = ("consumer", "worker")
# The Terraform module points each function's handler at these modules.
HANDLERS = {"consumer": "taskqueue/consumer.py", "worker": "taskqueue/worker.py"}
# The operator's side of the package (the CLI, dead-letter triage) never runs in a function.
LEFT_OUT_OF_FUNCTIONS = ("taskqueue/operations/", "taskqueue/__main__.py")

RUNTIMES = {"python3.12": "3.12", "python3.13": "3.13"}
DEFAULT_RUNTIME = "python3.13"
# Lambda's architecture name -> the machine name in wheel tags.
ARCHES = {"arm64": "aarch64", "x86_64": "x86_64"}
DEFAULT_ARCH = "arm64"
# pip expands `--platform manylinux2014_<arch>` to manylinux2014 (plus manylinux2010/1 on
# x86_64) only: a wheel tagged just manylinux_2_28_<arch> would be refused although it runs
# on Lambda. The python3.12 and python3.13 runtimes run on Amazon Linux 2023 (glibc 2.34),
# so we also accept manylinux_2_17 .. manylinux_2_34, newest first as pip on that host would.
GLIBC_MINORS = range(34, 16, -1)
# Provided by the Lambda runtime; vendored only with --bundle-boto3.
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")

# What pip logs when an index cannot be reached (it then reports "no versions").
NETWORK_TROUBLE = re.compile(
    r"connection broken by|NewConnectionError|Failed to establish a new connection|ConnectTimeout"
    r"|ReadTimeout|ProxyError|SSLError|Temporary failure in name resolution"
)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip entry can hold
ZIP_COMPRESSLEVEL = 9
FILE_MODE = 0o644
EXEC_MODE = 0o755
# Never shipped: byte code is host- and time-dependent, dot-files are editor/tool state.
SKIPPED_SUFFIXES = (".pyc", ".pyo")
MANIFEST = "manifest.json"


class BuildError(Exception):
    """An expected failure: one line on stderr, exit status 1."""

    exit_status = 1


class UsageError(BuildError):
    """A bad option or option value: exit status 2, like argparse."""

    exit_status = 2


@dataclass(frozen=True)
class Options:
    """The command line, checked."""

    out: Path
    runtime: str = DEFAULT_RUNTIME
    arch: str = DEFAULT_ARCH
    bundle_boto3: bool = False
    tasks: tuple[Path, ...] = ()
    requirements: tuple[Path, ...] = ()

    @property
    def python_version(self) -> str:
        return RUNTIMES[self.runtime]

    @property
    def machine(self) -> str:
        return ARCHES[self.arch]

    def platforms(self) -> list[str]:
        tags = [f"manylinux_2_{minor}_{self.machine}" for minor in GLIBC_MINORS]
        return [*tags, f"manylinux2014_{self.machine}"]

    def target(self) -> str:
        return f"CPython {self.python_version} on manylinux {self.machine} ({self.runtime}, {self.arch})"


@dataclass(frozen=True)
class SourceFile:
    path: Path
    arcname: str  # where it lands in the zip, e.g. "taskqueue/config.py"


@dataclass(frozen=True)
class Plan:
    """Everything one artifact is built from."""

    name: str
    options: Options
    source_roots: tuple[Path, ...]
    sources: tuple[SourceFile, ...]
    requirements: tuple[Path, ...]  # passed to pip with -r, in this order

    @property
    def zip_path(self) -> Path:
        return self.options.out / f"{self.name}.zip"

    def fingerprint(self, toolchain: dict[str, str]) -> str:
        """sha256 over every input: a change to any of them means a rebuild.

        Files are named by their place in the zip or their position on the command
        line, never by their absolute path, so another checkout gets the same value.
        """
        digest = hashlib.sha256()

        def add(*parts: str | bytes) -> None:
            for part in parts:
                data = part.encode() if isinstance(part, str) else part
                digest.update(b"%d:" % len(data) + data)

        add(str(BUILD_PY_VERSION), Path(__file__).read_bytes(), self.name)
        add(self.options.runtime, self.options.arch, str(self.options.bundle_boto3))
        for key in sorted(toolchain):
            add(key, toolchain[key])
        for source in self.sources:
            add(source.arcname, oct(file_mode(source.path)), read_bytes(source.path))
        for index, top in enumerate(self.requirements):
            for path in requirement_files(top):
                add(f"requirements[{index}]", read_bytes(path))
        return digest.hexdigest()


# --- command line ----------------------------------------------------------------------


def release_version() -> str:
    """The release these artifacts belong to (terraform/VERSION)."""
    return VERSION_FILE.read_text().strip()


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="build.py",
        description="Build deterministic, vendored Lambda zips and dist/manifest.json.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {release_version()}")
    parser.add_argument("target", choices=[*ARTIFACTS, "all"], help="which artifact(s) to build")
    parser.add_argument("--out", default="dist", help="output directory (default: dist)")
    parser.add_argument("--runtime", choices=sorted(RUNTIMES), default=DEFAULT_RUNTIME)
    parser.add_argument("--arch", choices=sorted(ARCHES), default=DEFAULT_ARCH)
    parser.add_argument(
        "--bundle-boto3",
        action="store_true",
        help="vendor the pinned boto3/botocore from functions/boto3-bundle instead of the runtime's",
    )
    parser.add_argument(
        "--tasks",
        action="append",
        default=[],
        metavar="DIR",
        help="worker only: a package of task modules, shipped at the zip root (repeatable)",
    )
    parser.add_argument(
        "--requirements",
        action="append",
        default=[],
        metavar="FILE",
        help="worker only: a hashed requirements file for the tasks (repeatable)",
    )
    return parser.parse_args(argv)


def options_from(args: argparse.Namespace) -> Options:
    if args.target == "consumer" and (args.tasks or args.requirements):
        raise UsageError("--tasks and --requirements apply to the worker; build `worker` or `all`")
    out = Path(args.out).resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a directory")
    return Options(
        out=out,
        runtime=args.runtime,
        arch=args.arch,
        bundle_boto3=args.bundle_boto3,
        tasks=tuple(checked_tasks_dir(value) for value in args.tasks),
        requirements=tuple(checked_requirements_file(value) for value in args.requirements),
    )


def checked_tasks_dir(value: str) -> Path:
    path = Path(value).resolve()
    if not path.exists():
        raise UsageError(f"--tasks {value}: no such directory")
    if not path.is_dir():
        raise UsageError(f"--tasks {value}: is not a directory")
    # The directory lands at the zip root under its own name and is imported by that
    # name (TASKQUEUE_TASKS=my_tasks.jobs), so the name must be a Python identifier.
    if not path.name.isidentifier():
        raise UsageError(f"--tasks {value}: {path.name!r} is not a Python package name")
    if path.name == PACKAGE.name:
        raise UsageError(f"--tasks {value}: the name {PACKAGE.name!r} is taken by this project's package")
    return path


def checked_requirements_file(value: str) -> Path:
    path = Path(value).resolve()
    try:
        for included in requirement_files(path):
            check_hashed(included)
    except BuildError as error:
        raise UsageError(f"--requirements {value}: {error}") from None
    return path


# --- requirements files ----------------------------------------------------------------


def read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise BuildError(f"cannot read {shown(path)}: {error.strerror or error}") from None


def logical_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of a requirements file, continuations joined, comments dropped."""
    try:
        text = read_bytes(path).decode()
    except UnicodeDecodeError:
        raise BuildError(f"cannot read {shown(path)}: it is not UTF-8 text") from None
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = re.sub(r"(^|\s)#.*$", "", raw).rstrip()
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = (pending + line).strip(), ""
        if line:
            yield start, line
    if pending.strip():
        yield start, pending.strip()


def requirement_files(top: Path) -> list[Path]:
    """The file and, recursively, the files it pulls in with -r/-c, as pip reads them."""
    seen: list[Path] = []
    queue = [top]
    while queue:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.append(path)
        for _, line in logical_lines(path):
            match = re.match(r"(?:-r|--requirement|-c|--constraint)(?:\s*=\s*|\s+)(\S+)", line)
            if match and "://" not in match.group(1):
                # pip resolves nested files relative to the file that names them.
                queue.append((path.parent / match.group(1)).resolve())
    return seen


def requirement_names(path: Path) -> Iterator[str]:
    for _, line in logical_lines(path):
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match:
            yield canonical_name(match.group(0))


def check_hashed(path: Path) -> None:
    """Refuse a requirement without --hash: the build installs with --require-hashes."""
    for number, line in logical_lines(path):
        if not line.startswith("-") and "--hash" not in line:
            requirement = line.split()[0]
            raise BuildError(
                f"line {number} ({requirement}) has no --hash; every requirement must be pinned "
                "with hashes: compile the file with `pip-compile --generate-hashes`"
            )


def canonical_name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# --- planning ----------------------------------------------------------------------------


def plan_for(name: str, options: Options) -> Plan:
    lock = FUNCTIONS / name / "requirements.txt"
    if not lock.is_file():
        raise BuildError(f"{name}: {shown(lock)} is missing; run `make lock`")
    requirements = [lock]
    if options.bundle_boto3:
        requirements.append(BOTO3_LOCK)
    roots = [PACKAGE]
    if name == "worker":
        requirements += options.requirements
        roots += options.tasks
    check_task_names(roots)
    sources = tuple(
        source
        for root in roots
        for source in source_files(root)
        if not (root == PACKAGE and source.arcname.startswith(LEFT_OUT_OF_FUNCTIONS))
    )
    handler = HANDLERS[name]
    if handler not in {source.arcname for source in sources}:
        raise BuildError(f"{name}: the handler module {handler} is missing from {shown(PACKAGE)}")
    if not options.bundle_boto3:
        check_no_runtime_packages(name, options.requirements if name == "worker" else ())
    return Plan(name, options, tuple(roots), sources, tuple(requirements))


def check_task_names(roots: Sequence[Path]) -> None:
    names = [root.name for root in roots]
    for name in sorted({name for name in names if names.count(name) > 1}):
        raise UsageError(f"--tasks: two directories are named {name!r}; they would land on the same zip path")


def check_no_runtime_packages(name: str, requirements: Iterable[Path]) -> None:
    for path in requirements:
        for included in requirement_files(path):
            found = sorted(set(requirement_names(included)) & set(RUNTIME_PROVIDED))
            if found:
                raise UsageError(
                    f"--requirements {shown(path)}: pins {', '.join(found)}, which the Lambda runtime "
                    f"provides; leave it out (pip-compile --unsafe-package {found[0]}) or pass "
                    "--bundle-boto3 to vendor the pinned copy"
                )


def source_files(root: Path) -> list[SourceFile]:
    """The files under root as they land in the zip: <root name>/<relative path>."""
    found = []
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = [name for name in dirnames if not skipped(name)]
        for filename in filenames:
            if skipped(filename):
                continue
            path = Path(directory, filename)
            arcname = f"{root.name}/{path.relative_to(root).as_posix()}"
            found.append(SourceFile(path, arcname))
    return sorted(found, key=lambda source: source.arcname)


def skipped(name: str) -> bool:
    return name == "__pycache__" or name.startswith(".") or name.endswith(SKIPPED_SUFFIXES)


def toolchain() -> dict[str, str]:
    """Tools whose version can change the artifact's bytes, recorded and fingerprinted."""
    try:
        pip = importlib.metadata.version("pip")
    except importlib.metadata.PackageNotFoundError:
        raise BuildError(f"pip is not installed for {sys.executable}; build.py installs with it") from None
    return {"pip": pip, "zlib": zlib.ZLIB_RUNTIME_VERSION}


# --- installing dependencies ---------------------------------------------------------------


def pip_install(plan: Plan, site: Path) -> None:
    options = plan.options
    command = [sys.executable, "-m", "pip", "install", "--target", str(site)]
    for platform in options.platforms():
        command += ["--platform", platform]
    command += [
        "--implementation",
        "cp",
        "--python-version",
        options.python_version,
        "--only-binary=:all:",
        "--require-hashes",
        # The locks are complete (pip-compile); check_dependencies verifies it for the target.
        "--no-deps",
        # Byte code would be compiled by the host's Python, for the host's Python.
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
    ]
    for requirements in plan.requirements:
        command += ["-r", str(requirements)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BuildError(f"{plan.name}: {pip_failure(result.stdout + result.stderr, options)}")


def pip_failure(output: str, options: Options) -> str:
    """pip's output on failure, turned into one line that names the culprit."""
    missing = re.search(r"No matching distribution found for (\S+)", output)
    trouble = NETWORK_TROUBLE.search(output)
    if missing and trouble:
        # Unreachable indexes look like "no versions at all" to pip's resolver.
        line = next(line for line in output.splitlines() if trouble.group(0) in line)
        return f"could not reach the package index for {missing.group(1)}: {line.strip()}"
    if missing:
        return (
            f"no wheel of {missing.group(1)} for {options.target()}: it publishes only an sdist "
            "or no wheel for this Python/architecture; pin a version that has one, or change --runtime/--arch"
        )
    if "Hashes are required in --require-hashes mode" in output:
        return "a requirement has no --hash; compile the requirements with `pip-compile --generate-hashes`"
    if "DO NOT MATCH THE HASHES" in output:
        return "a download does not match the hash in its lock file:\n" + errors_of(output)
    return "pip install failed:\n" + errors_of(output)


def errors_of(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("ERROR")]
    return "\n".join(lines or output.splitlines()[-20:])


def normalise_site(site: Path) -> None:
    """Remove what pip wrote that depends on the build machine rather than on the wheels."""
    # Console scripts: their shebang is this machine's interpreter, and Lambda never runs them.
    shutil.rmtree(site / "bin", ignore_errors=True)
    for path in sorted(site.rglob("*"), reverse=True):
        if path.name == "__pycache__" and path.is_dir():
            shutil.rmtree(path)
        elif path.suffix in SKIPPED_SUFFIXES or path.name == "direct_url.json":
            path.unlink()
    for record in site.glob("*.dist-info/RECORD"):
        lines = record.read_text().splitlines(keepends=True)
        record.write_text("".join(line for line in lines if keep_record_line(line)))


def keep_record_line(line: str) -> bool:
    path = line.split(",", 1)[0]
    # "../../bin/x" lines are the scripts removed above (their hash covers the shebang).
    return not (
        path.startswith("../")
        or "/__pycache__/" in path
        or path.endswith(SKIPPED_SUFFIXES)
        or path.endswith("/direct_url.json")
    )


def target_environment(options: Options) -> dict[str, str]:
    """PEP 508 marker values of the Lambda runtime, not of the host running the build."""
    version = options.python_version
    return {
        "implementation_name": "cpython",
        "implementation_version": f"{version}.0",
        "os_name": "posix",
        "platform_machine": options.machine,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_system": "Linux",
        "platform_version": "",
        "python_full_version": f"{version}.0",
        "python_version": version,
        "sys_platform": "linux",
        "extra": "",
    }


def check_dependencies(plan: Plan, site: Path) -> None:
    """pip ran with --no-deps: make sure every installed package's dependencies came too."""
    try:
        from pip._vendor.packaging.requirements import InvalidRequirement, Requirement  # noqa: PLC0415
    except ImportError:  # pip moved its vendored copy; pip itself already checked the hashes
        return
    installed = {}
    for metadata in sorted(site.glob("*.dist-info/METADATA")):
        headers = email.parser.HeaderParser().parsestr(metadata.read_text(errors="replace"))
        installed[canonical_name(headers["Name"] or "")] = headers.get_all("Requires-Dist") or []
    provided = set() if plan.options.bundle_boto3 else set(RUNTIME_PROVIDED)
    environment = target_environment(plan.options)
    for name in sorted(installed):
        for spec in installed[name]:
            try:
                requirement = Requirement(spec)
            except InvalidRequirement:
                continue
            if requirement.marker and not requirement.marker.evaluate(environment):
                continue
            needed = canonical_name(requirement.name)
            if needed not in installed and needed not in provided:
                raise BuildError(
                    f"{plan.name}: {name} needs {needed}, which no requirements file pins for "
                    f"{plan.options.target()}; regenerate the lock with pip-compile"
                )


# --- the zip -------------------------------------------------------------------------------


def file_mode(path: Path) -> int:
    return EXEC_MODE if path.stat().st_mode & 0o111 else FILE_MODE


def zip_entries(plan: Plan, site: Path) -> dict[str, Path]:
    """arcname -> file, for the vendored packages and the sources; a clash is an error."""
    entries = {path.relative_to(site).as_posix(): path for path in site.rglob("*") if path.is_file()}
    vendored_tops = {name.split("/", 1)[0] for name in entries}
    for root in plan.source_roots:
        if root.name in vendored_tops:
            raise BuildError(
                f"{plan.name}: {shown(root)} would overwrite the vendored {root.name!r} from the requirements"
            )
    entries.update({source.arcname: source.path for source in plan.sources})
    return entries


def write_zip(entries: dict[str, Path], destination: Path) -> None:
    """Sorted entries, fixed dates and modes, no extra fields: same files, same bytes."""
    directories = {name.rsplit("/", i)[0] + "/" for name in entries for i in range(1, name.count("/") + 1)}
    with zipfile.ZipFile(destination, "w") as archive:
        for name in sorted(directories | set(entries)):
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.create_system = 3  # Unix, so that unzip and Lambda honour the modes below
            if name in directories:
                info.external_attr = (0o040000 | EXEC_MODE) << 16 | 0x10  # S_IFDIR, MS-DOS dir bit
                archive.writestr(info, b"")
            else:
                info.external_attr = (0o100000 | file_mode(entries[name])) << 16  # S_IFREG
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, read_bytes(entries[name]), compresslevel=ZIP_COMPRESSLEVEL)


# --- building and reusing ------------------------------------------------------------------


def shown(path: Path) -> str:
    """A path for messages and the manifest: relative to the working directory, never absolute."""
    return Path(os.path.relpath(path, Path.cwd())).as_posix()


def digests(path: Path) -> tuple[str, str]:
    raw = hashlib.sha256(read_bytes(path)).digest()
    return raw.hex(), base64.b64encode(raw).decode()


def manifest_entry(plan: Plan, fingerprint: str, tools: dict[str, str]) -> dict[str, object]:
    sha256, base64sha256 = digests(plan.zip_path)
    return {
        "path": shown(plan.zip_path),
        "size": plan.zip_path.stat().st_size,
        "sha256": sha256,
        "base64sha256": base64sha256,
        "inputs": {
            "sources": [shown(root) for root in plan.source_roots],
            "requirements": [shown(path) for path in plan.requirements],
            "runtime": plan.options.runtime,
            "arch": plan.options.arch,
            "bundle_boto3": plan.options.bundle_boto3,
            **tools,
            "fingerprint": fingerprint,
        },
    }


def read_manifest(out: Path) -> dict[str, dict[str, object]]:
    """The artifacts recorded by the last build; anything unreadable means "rebuild"."""
    try:
        manifest = json.loads((out / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(manifest, dict) or manifest.get("build_py_version") != BUILD_PY_VERSION:
        return {}
    artifacts = manifest.get("artifacts")
    return artifacts if isinstance(artifacts, dict) else {}


def write_manifest(out: Path, artifacts: dict[str, dict[str, object]]) -> None:
    present = {name: entry for name, entry in sorted(artifacts.items()) if (out / f"{name}.zip").is_file()}
    text = json.dumps(
        {"build_py_version": BUILD_PY_VERSION, "version": release_version(), "artifacts": present},
        indent=2,
        sort_keys=True,
    )
    atomic_write(out / MANIFEST, (text + "\n").encode())


def atomic_write(destination: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{destination.name}-", dir=destination.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, destination)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def up_to_date(plan: Plan, entry: object, fingerprint: str) -> bool:
    if not isinstance(entry, dict) or not plan.zip_path.is_file():
        return False
    inputs = entry.get("inputs")
    recorded = inputs.get("fingerprint") if isinstance(inputs, dict) else None
    return recorded == fingerprint and entry.get("sha256") == digests(plan.zip_path)[0]


def build_zip(plan: Plan) -> None:
    """Install, normalise and zip in a temporary directory next to the output, then rename."""
    with tempfile.TemporaryDirectory(prefix=f".{plan.name}-", dir=plan.options.out) as temporary:
        site = Path(temporary, "site")
        pip_install(plan, site)
        normalise_site(site)
        check_dependencies(plan, site)
        staged = Path(temporary, plan.zip_path.name)
        write_zip(zip_entries(plan, site), staged)
        os.chmod(staged, FILE_MODE)
        os.replace(staged, plan.zip_path)


def build(plan: Plan, artifacts: dict[str, dict[str, object]]) -> None:
    tools = toolchain()
    fingerprint = plan.fingerprint(tools)
    if up_to_date(plan, artifacts.get(plan.name), fingerprint):
        print(f"{plan.name}: up to date ({shown(plan.zip_path)})")
        return
    started = time.monotonic()
    build_zip(plan)
    artifacts[plan.name] = manifest_entry(plan, fingerprint, tools)
    write_manifest(plan.options.out, artifacts)
    size = plan.zip_path.stat().st_size
    print(
        f"{plan.name}: built {shown(plan.zip_path)} ({size / 1e6:.2f} MB, "
        f"sha256 {artifacts[plan.name]['sha256']}) in {time.monotonic() - started:.1f} s"
    )


def main(argv: Sequence[str] | None = None) -> int:
    # A CI cancellation (SIGTERM) unwinds like Ctrl-C, so temporary files are removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse_args(argv)
    try:
        options = options_from(args)
        names = ARTIFACTS if args.target == "all" else (args.target,)
        plans = [plan_for(name, options) for name in names]
        options.out.mkdir(parents=True, exist_ok=True)
        artifacts = read_manifest(options.out)
        for plan in plans:
            build(plan, artifacts)
    except BuildError as error:
        print(f"build.py: error: {error}", file=sys.stderr)
        return error.exit_status
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
