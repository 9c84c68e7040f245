"""build.py: deterministic, vendored, target-platform Lambda zips.

Builds run build.py in a subprocess, as `make build` and CI do, from copies of the
repository's sources in pytest's temporary directories. They need PyPI (or a mirror in
pip's configuration); pip's cache makes the repeats quick.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
COMPILED_LOCK = FIXTURES / "compiled-requirements.txt"
HANDLERS = ("taskqueue/consumer.py", "taskqueue/worker.py")
VENDORED = ("aws_lambda_powertools/__init__.py", "jmespath/__init__.py", "typing_extensions.py")


def load_build_module():
    # Imported under another name: `build` is also pypa/build, which pip-tools installs.
    spec = importlib.util.spec_from_file_location("build_py", ROOT / "build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def copy_checkout(destination: Path) -> Path:
    """build.py, functions/ and the release's VERSION somewhere else, as a fresh clone would have them."""
    destination.mkdir(parents=True)
    shutil.copy2(ROOT / "build.py", destination / "build.py")
    (destination / "terraform").mkdir()
    shutil.copy2(ROOT / "terraform" / "VERSION", destination / "terraform" / "VERSION")
    shutil.copytree(ROOT / "functions", destination / "functions", ignore=shutil.ignore_patterns("__pycache__"))
    return destination


def run_build(checkout: Path, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(checkout / "build.py"), *args],
        cwd=cwd or checkout,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def build_ok(checkout: Path, *args: str, cwd: Path | None = None) -> str:
    result = run_build(checkout, *args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def names(archive: Path) -> list[str]:
    with zipfile.ZipFile(archive) as opened:
        return opened.namelist()


@dataclass
class Built:
    checkout: Path
    out: Path

    def manifest(self) -> dict:
        return json.loads((self.out / "manifest.json").read_text())


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """`build.py all` with the default options, in a checkout no test modifies."""
    checkout = copy_checkout(tmp_path_factory.mktemp("checkout-a") / "repo")
    build_ok(checkout, "all", "--out", "dist")
    return Built(checkout, checkout / "dist")


def make_wheel(directory: Path, name: str, tag: str, requires: tuple[str, ...] = ()) -> str:
    """A minimal wheel on disk; returns its sha256 for a hashed requirements line."""
    directory.mkdir(parents=True, exist_ok=True)
    info = f"{name}-1.0.dist-info"
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
    metadata += "".join(f"Requires-Dist: {requirement}\n" for requirement in requires)
    files = {
        f"{name}/__init__.py": "",
        f"{info}/METADATA": metadata,
        f"{info}/WHEEL": f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n",
    }
    record = [f"{path},sha256={record_hash(text)},{len(text)}" for path, text in files.items()]
    files[f"{info}/RECORD"] = "\n".join([*record, f"{info}/RECORD,,", ""])
    wheel = directory / f"{name}-1.0-{tag}.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
    return sha256(wheel)


def record_hash(text: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()


def local_requirements(tmp_path: Path, name: str, tag: str, requires: tuple[str, ...] = ()) -> Path:
    wheels = tmp_path / "wheels"
    digest = make_wheel(wheels, name, tag, requires)
    requirements = tmp_path / f"{name}.txt"
    requirements.write_text(f"--find-links {wheels}\n{name}==1.0 --hash=sha256:{digest}\n")
    return requirements


# --- determinism ---------------------------------------------------------------------------


def test_two_checkouts_in_different_places_give_identical_artifacts(built: Built, tmp_path: Path) -> None:
    other = copy_checkout(tmp_path / "elsewhere" / "deeper" / "repo")
    # Another day and another umask: timestamps and group/other bits must not matter.
    for path in (other / "functions").rglob("*"):
        os.utime(path, (1_000_000_000, 1_000_000_000))
        if path.is_file():
            path.chmod(0o600)
    build_ok(other, "all", "--out", "dist")
    for name in ("consumer", "worker"):
        assert sha256(other / "dist" / f"{name}.zip") == sha256(built.out / f"{name}.zip")
    assert (other / "dist" / "manifest.json").read_text() == (built.out / "manifest.json").read_text()


@pytest.mark.parametrize("name", ["consumer", "worker"])
def test_zip_entries_are_normalised(built: Built, name: str) -> None:
    with zipfile.ZipFile(built.out / f"{name}.zip") as archive:
        infos = archive.infolist()
    assert [info.filename for info in infos] == sorted(info.filename for info in infos)
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0), info.filename
        assert info.extra == b"", info.filename
        assert info.create_system == 3, info.filename
        mode = info.external_attr >> 16
        if info.is_dir():
            assert mode == 0o040755, info.filename
        else:
            assert mode in (0o100644, 0o100755), info.filename
            assert info.compress_type == zipfile.ZIP_DEFLATED, info.filename


# --- contents ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["consumer", "worker"])
def test_zip_holds_the_package_handlers_and_vendored_dependencies(built: Built, name: str) -> None:
    entries = set(names(built.out / f"{name}.zip"))
    package = built.checkout / "functions" / "taskqueue"
    sources = {
        f"taskqueue/{path.relative_to(package).as_posix()}"
        for path in package.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    operations = {source for source in sources if source.startswith(("taskqueue/operations/", "taskqueue/__main__"))}
    assert operations, "the operator's package should exist in the checkout"
    assert set(HANDLERS) <= sources - operations <= entries
    assert not operations & entries  # the CLI and triage never run in a function
    assert set(VENDORED) <= entries
    assert any(entry.startswith("aws_lambda_powertools-") and entry.endswith(".dist-info/WHEEL") for entry in entries)


@pytest.mark.parametrize("name", ["consumer", "worker"])
def test_zip_leaves_out_boto3_byte_code_and_build_machine_files(built: Built, name: str) -> None:
    entries = names(built.out / f"{name}.zip")
    tops = {entry.split("/", 1)[0] for entry in entries}
    assert not tops & {"boto3", "botocore", "s3transfer", "bin"}
    assert not [entry for entry in entries if "__pycache__" in entry or entry.endswith((".pyc", ".pyo"))]
    assert not [entry for entry in entries if entry.endswith("/direct_url.json")]


def test_installed_tree_holds_no_path_of_the_build_machine(built: Built) -> None:
    # jmespath ships a script (bin/jp.py) whose shebang pip rewrites to this interpreter:
    # the script and its RECORD line must be gone.
    machine_paths = {str(built.checkout), str(ROOT), sys.prefix, os.path.realpath(sys.executable)}
    with zipfile.ZipFile(built.out / "worker.zip") as archive:
        for info in archive.infolist():
            data = archive.read(info)
            leaked = [path for path in machine_paths if path.encode() in data]
            assert not leaked, f"{info.filename} contains {leaked}"
            if info.filename.endswith(".dist-info/RECORD"):
                assert b"../" not in data, info.filename


def test_manifest_describes_each_artifact(built: Built) -> None:
    manifest = built.manifest()
    assert manifest["build_py_version"] == 1
    assert set(manifest["artifacts"]) == {"consumer", "worker"}
    for name, entry in manifest["artifacts"].items():
        artifact = built.out / f"{name}.zip"
        digest = hashlib.sha256(artifact.read_bytes()).digest()
        assert entry["path"] == f"dist/{name}.zip"
        assert entry["size"] == artifact.stat().st_size
        assert entry["sha256"] == digest.hex()
        assert entry["base64sha256"] == base64.b64encode(digest).decode()
        inputs = entry["inputs"]
        assert inputs["sources"] == ["functions/taskqueue"]
        assert inputs["requirements"] == [f"functions/{name}/requirements.txt"]
        assert (inputs["runtime"], inputs["arch"], inputs["bundle_boto3"]) == ("python3.13", "arm64", False)
        assert len(inputs["fingerprint"]) == 64
        assert inputs["pip"]


def test_bundle_boto3_vendors_the_pinned_copy(built: Built, tmp_path: Path) -> None:
    build_ok(built.checkout, "worker", "--bundle-boto3", "--out", str(tmp_path))
    entries = set(names(tmp_path / "worker.zip"))
    assert {"boto3/__init__.py", "botocore/__init__.py", "s3transfer/__init__.py"} <= entries
    assert set(VENDORED) <= entries
    assert json.loads((tmp_path / "manifest.json").read_text())["artifacts"]["worker"]["inputs"]["requirements"][
        -1
    ].endswith("functions/boto3-bundle/requirements.txt")


# --- target platform ----------------------------------------------------------------------


@pytest.mark.parametrize(("arch", "runtime"), [("x86_64", "python3.12"), ("arm64", "python3.13")])
def test_compiled_extension_is_the_manylinux_wheel_of_the_target(
    built: Built, tmp_path: Path, arch: str, runtime: str
) -> None:
    tasks = tmp_path / "my_tasks"
    (tasks / "__pycache__").mkdir(parents=True)
    (tasks / "__init__.py").write_text("")
    (tasks / "jobs.py").write_text("def resize(payload):\n    return payload\n")
    (tasks / "__pycache__" / "jobs.cpython-311.pyc").write_bytes(b"\0")
    (tasks / ".pytest_cache").mkdir()
    requirements = tasks / "requirements.txt"
    shutil.copy(COMPILED_LOCK, requirements)

    out = tmp_path / "dist"
    build_ok(
        built.checkout, "worker", "--tasks", str(tasks), "--requirements", str(requirements),
        "--arch", arch, "--runtime", runtime, "--out", str(out),
    )  # fmt: skip

    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[arch]
    nodot = runtime.removeprefix("python").replace(".", "")
    with zipfile.ZipFile(out / "worker.zip") as archive:
        entries = archive.namelist()
        wheel = next(entry for entry in entries if entry.startswith("markupsafe-") and entry.endswith("/WHEEL"))
        tags = [line.split(": ", 1)[1] for line in archive.read(wheel).decode().splitlines() if line.startswith("Tag")]
    assert [entry for entry in entries if entry.endswith(".so")] == [
        f"markupsafe/_speedups.cpython-{nodot}-{machine}-linux-gnu.so"
    ]
    assert tags
    for tag in tags:
        assert tag.startswith(f"cp{nodot}-cp{nodot}-manylinux"), tag
        assert tag.endswith(f"_{machine}"), tag
    assert {"my_tasks/__init__.py", "my_tasks/jobs.py", "my_tasks/requirements.txt"} <= set(entries)
    assert not [entry for entry in entries if entry.startswith(("my_tasks/__pycache__", "my_tasks/.pytest"))]
    inputs = json.loads((out / "manifest.json").read_text())["artifacts"]["worker"]["inputs"]
    assert not [path for path in inputs["sources"] + inputs["requirements"] if Path(path).is_absolute()]


def test_platform_tags_cover_amazon_linux_2023_newest_first() -> None:
    build = load_build_module()
    platforms = build.Options(out=Path("dist"), arch="x86_64").platforms()
    assert platforms[0] == "manylinux_2_34_x86_64"
    assert platforms[-1] == "manylinux2014_x86_64"
    assert "manylinux_2_28_x86_64" in platforms
    assert not [platform for platform in platforms if "aarch64" in platform]


# --- incremental ---------------------------------------------------------------------------


def test_noop_rebuild_reuses_the_artifacts_quickly(built: Built) -> None:
    before = {path.name: path.stat().st_mtime_ns for path in built.out.iterdir()}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    stdout = build_ok(built.checkout, "all", "--out", "dist")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # The build's CPU time, not the wall clock's: a busy machine stretches the wall clock (0.45 s for 0.12 s
    # of CPU with the other core loaded, so 1 s of wall clock is within reach), not a no-op build's work.
    cpu_seconds = after.ru_utime - children.ru_utime + after.ru_stime - children.ru_stime
    print(f"no-op rebuild: {cpu_seconds:.2f} s of CPU")
    assert "consumer: up to date (dist/consumer.zip)" in stdout
    assert "worker: up to date (dist/worker.zip)" in stdout
    assert cpu_seconds < 1.0
    assert {path.name: path.stat().st_mtime_ns for path in built.out.iterdir()} == before


def test_any_changed_input_rebuilds(tmp_path: Path) -> None:
    checkout = copy_checkout(tmp_path / "repo")
    build_ok(checkout, "all", "--out", "dist")
    first = json.loads((checkout / "dist" / "manifest.json").read_text())["artifacts"]

    with (checkout / "functions" / "taskqueue" / "config.py").open("a") as source:
        source.write("\n# changed\n")
    stdout = build_ok(checkout, "consumer", "--out", "dist")
    assert "consumer: built" in stdout
    with (checkout / "functions" / "consumer" / "requirements.txt").open("a") as lock:
        lock.write("# changed\n")
    assert "consumer: built" in build_ok(checkout, "consumer", "--out", "dist")
    assert "consumer: built" in build_ok(checkout, "consumer", "--arch", "x86_64", "--out", "dist")
    assert "consumer: up to date" in build_ok(checkout, "consumer", "--arch", "x86_64", "--out", "dist")

    artifacts = json.loads((checkout / "dist" / "manifest.json").read_text())["artifacts"]
    assert artifacts["consumer"]["inputs"]["arch"] == "x86_64"
    assert artifacts["consumer"]["sha256"] != first["consumer"]["sha256"]
    assert artifacts["worker"] == first["worker"]  # building one artifact keeps the other's entry


# --- bad input -----------------------------------------------------------------------------


def bad_input_cases(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (arguments, expected message); all are rejected before anything is built."""
    (tmp_path / "a_file").write_text("")
    (tmp_path / "my-tasks").mkdir()
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9==1.0\n")
    (tmp_path / "unhashed.txt").write_text("six==1.17.0\n")
    (tmp_path / "with-boto3.txt").write_text("boto3==1.44.8 \\\n    --hash=sha256:" + "0" * 64 + "\n")
    missing = str(tmp_path / "missing")
    return {
        "missing tasks dir": (["worker", "--tasks", missing], f"--tasks {missing}: no such directory"),
        "tasks is a file": (["worker", "--tasks", str(tmp_path / "a_file")], "is not a directory"),
        "tasks name": (
            ["worker", "--tasks", str(tmp_path / "my-tasks")],
            "'my-tasks' is not a Python package",
        ),
        "unknown runtime": (
            ["all", "--runtime", "python3.9"],
            "argument --runtime: invalid choice: 'python3.9'",
        ),
        "unknown arch": (["all", "--arch", "aarch64"], "argument --arch: invalid choice: 'aarch64'"),
        "missing requirements": (["worker", "--requirements", missing], "cannot read"),
        "requirements is a dir": (["worker", "--requirements", str(tmp_path)], "cannot read"),
        "requirements not text": (["worker", "--requirements", str(tmp_path / "latin1.txt")], "not UTF-8"),
        "requirements unhashed": (
            ["worker", "--requirements", str(tmp_path / "unhashed.txt")],
            "line 1 (six==1.17.0) has no --hash",
        ),
        "requirements pin boto3": (
            ["worker", "--requirements", str(tmp_path / "with-boto3.txt")],
            "--bundle-boto3",
        ),
        "tasks for the consumer": (["consumer", "--tasks", str(tmp_path)], "apply to the worker"),
    }


def test_each_bad_input_exits_2_with_a_clear_message_and_writes_nothing(built: Built, tmp_path: Path) -> None:
    for case, (arguments, message) in bad_input_cases(tmp_path).items():
        out = tmp_path / "out" / case.replace(" ", "-")
        result = run_build(built.checkout, *arguments, "--out", str(out))
        assert result.returncode == 2, (case, result.stderr)
        assert message in result.stderr, (case, result.stderr)
        assert "Traceback" not in result.stderr, case
        assert not out.exists(), case


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_requirements_file(built: Built, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("")
    requirements.chmod(0)
    result = run_build(built.checkout, "worker", "--requirements", str(requirements), "--out", str(tmp_path / "o"))
    assert result.returncode == 2
    assert "Permission denied" in result.stderr


def test_dependency_without_a_wheel_for_the_target_is_named(built: Built, tmp_path: Path) -> None:
    # Only an x86_64 wheel exists; the default target is arm64. An earlier good build must survive.
    out = tmp_path / "dist"
    out.mkdir()
    for name in ("worker.zip", "manifest.json"):
        shutil.copy(built.out / name, out / name)
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    requirements = local_requirements(tmp_path, "taskqueue_fixture_x86_only", "cp313-cp313-manylinux2014_x86_64")

    result = run_build(built.checkout, "worker", "--requirements", str(requirements), "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert "no wheel of taskqueue_fixture_x86_only==1.0 for CPython 3.13 on manylinux aarch64" in result.stderr
    assert "Traceback" not in result.stderr
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_incomplete_requirements_name_the_missing_dependency(built: Built, tmp_path: Path) -> None:
    requirements = local_requirements(tmp_path, "taskqueue_fixture_needy", "py3-none-any", ("ghost-dependency>=1",))
    out = tmp_path / "dist"
    result = run_build(built.checkout, "worker", "--requirements", str(requirements), "--out", str(out))
    assert result.returncode == 1, result.stderr
    assert "taskqueue-fixture-needy needs ghost-dependency" in result.stderr
    assert list(out.iterdir()) == []


def test_dependency_markers_are_evaluated_for_the_target_python(built: Built, tmp_path: Path) -> None:
    # Needed on the host's Python 3.11 but not on the python3.13 runtime: not required.
    requirements = local_requirements(
        tmp_path, "taskqueue_fixture_marked", "py3-none-any", ('ghost-dependency; python_version < "3.12"',)
    )
    build_ok(built.checkout, "worker", "--requirements", str(requirements), "--out", str(tmp_path / "dist"))
    assert "taskqueue_fixture_marked/__init__.py" in names(tmp_path / "dist" / "worker.zip")


@pytest.mark.parametrize("name", ["consumer", "worker"])
def test_handlers_import_from_the_unpacked_artifact(built: Built, tmp_path: Path, name: str) -> None:
    # The vendored dependencies are pure Python, so the host can import them; PYTHONPATH puts
    # the artifact ahead of the virtualenv, as /var/task is ahead of the runtime's packages.
    with zipfile.ZipFile(built.out / f"{name}.zip") as archive:
        archive.extractall(tmp_path)
    code = (
        f"import sys, taskqueue.{name} as module, aws_lambda_powertools, jmespath\n"
        "assert callable(module.handler)\n"
        "assert not [m for m in sys.modules if m.startswith('taskqueue.operations')], 'a handler imports the CLI'\n"
        "print(module.__file__, aws_lambda_powertools.__file__, jmespath.__file__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "PYTHONPATH": str(tmp_path), "AWS_DEFAULT_REGION": "eu-west-1"},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert all(path.startswith(str(tmp_path)) for path in result.stdout.split()), result.stdout


def test_pip_failures_become_one_line_that_names_the_package() -> None:
    build = load_build_module()
    options = build.Options(out=Path("dist"), runtime="python3.12", arch="x86_64")
    no_wheel = (
        "ERROR: Could not find a version that satisfies the requirement lxml==6.0.0 (from versions: none)\n"
        "ERROR: No matching distribution found for lxml==6.0.0\n"
    )
    message = build.pip_failure(no_wheel, options)
    assert message.startswith("no wheel of lxml==6.0.0 for CPython 3.12 on manylinux x86_64")
    offline = (
        "WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError(\"Failed to "
        "establish a new connection: [Errno 111] Connection refused\")': /simple/lxml/\n" + no_wheel
    )
    assert build.pip_failure(offline, options).startswith("could not reach the package index for lxml==6.0.0")
    unhashed = "ERROR: Hashes are required in --require-hashes mode, but they are missing from some requirements."
    assert "pip-compile --generate-hashes" in build.pip_failure(unhashed, options)
