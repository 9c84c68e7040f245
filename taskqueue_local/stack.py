"""Bringing the local stack up and down: emulator, Terraform apply, Lambda endpoint and schedules.

``up`` starts two background processes, each in its own process group, and records them in
``.local/stack.json``: the emulator (moto) and ``serve`` (the local Lambda endpoint plus the
scheduler). ``down`` stops both groups by PID (after checking the PID is still ours), removes
the override file and the Terraform state, and leaves nothing running.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from taskqueue.schedules import (
    SCHEDULE_DEAD_LETTER_ARN_ENV,
    SCHEDULE_GROUP_ENV,
    SCHEDULER_ROLE_ARN_ENV,
    SchedulingConfig,
)

ROOT = Path(__file__).resolve().parents[1]
LOCAL_DIR = ROOT / ".local"
STATE_NAME = "stack.json"
OVERRIDE_NAME = "taskqueue_local_override.tf"
REGION = "us-east-1"
# Services the module and the examples touch; each is pointed at the emulator (ec2 and sns for the
# complete example's network and producers).
ENDPOINT_SERVICES = (
    "sqs",
    "lambda",
    "iam",
    "sts",
    "events",
    "scheduler",
    "logs",
    "cloudwatch",
    "dynamodb",
    "kms",
    "ec2",
    "sns",
)
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": REGION}

# Module settings for a local run: the example's own tasks, and retries quick enough to watch.
DEMO_PERIODIC_TASK = "heartbeat"
DEMO_MODULE_SETTINGS: dict[str, Any] = {
    "task_modules": ["example_tasks"],
    "backoff_base_seconds": 1,
    "backoff_max_seconds": 4,
    "max_receive_count": 4,
    "consumer_wait_time_seconds": 1,
    # Each task's outcome in the worker's log, which the demo follows (the default logs failures only).
    "logging_application_log_level": "DEBUG",
    # A periodic task the demo watches run: every 5 s at the schedules' default 120x (--schedule-speedup).
    "periodic_tasks": {
        DEMO_PERIODIC_TASK: {"schedule": "rate(10 minutes)", "task": "checksum", "payload": {"text": "beat"}}
    },
}

# EventBridge Scheduler schedules run this many times faster by default: a task 30 minutes out in 15 s.
DEFAULT_SCHEDULE_SPEEDUP = 120.0
# The example outputs a producer schedules with, and the variables the CLI reads them from.
SCHEDULING_OUTPUTS = {
    "schedule_group_name": SCHEDULE_GROUP_ENV,
    "scheduler_role_arn": SCHEDULER_ROLE_ARN_ENV,
    "schedule_dead_letter_queue_arn": SCHEDULE_DEAD_LETTER_ARN_ENV,
}

Log = Callable[[str], None]


class StackError(RuntimeError):
    pass


def local_client(service: str, endpoint_url: str, **config: Any) -> Any:
    """A boto3 client for the local stack: the emulator's dummy credentials, the given endpoint."""
    import boto3  # noqa: PLC0415 - keeps `down` and `env` light
    from botocore.config import Config  # noqa: PLC0415

    make: Any = boto3.client
    return make(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        config=Config(**config) if config else None,
    )


@dataclass
class Stack:
    example: str
    emulator_url: str
    lambda_url: str
    pids: dict[str, int]
    outputs: dict[str, Any]
    work_dir: str
    started_at: float = field(default_factory=time.time)
    schedule_speedup: float = 1.0  # how much faster EventBridge Scheduler schedules run (ScheduleRunner)

    def client_environment(self) -> dict[str, str]:
        """What a shell needs to use the stack with boto3, the AWS CLI or ``python -m taskqueue``."""
        scheduling = {
            variable: str(self.outputs[output])
            for output, variable in SCHEDULING_OUTPUTS.items()
            if self.outputs.get(output) is not None
        }
        return {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.emulator_url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url,
            "TASKQUEUE_QUEUE_URL": str(self.outputs.get("queue_url", "")),
            **scheduling,
        }

    def scheduling(self) -> SchedulingConfig | None:
        """The producer's scheduling settings, from the example's outputs (None when it has none)."""
        return SchedulingConfig.from_environment(self.client_environment())

    def save(self) -> None:
        state = Path(self.work_dir) / STATE_NAME
        state.parent.mkdir(parents=True, exist_ok=True)
        temporary = state.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(state)


def load(work_dir: Path = LOCAL_DIR) -> Stack | None:
    state = work_dir / STATE_NAME
    if not state.exists():
        return None
    return Stack(**json.loads(state.read_text()))


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(url: str, seconds: float, process: subprocess.Popen[bytes], what: str, log_path: Path) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StackError(f"{what} exited with {process.returncode}; see {log_path}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return
        except OSError:
            time.sleep(0.2)
    raise StackError(f"{what} did not answer at {url} within {seconds:.0f} s; see {log_path}")


def start_process(
    name: str, command: list[str], log_dir: Path, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log_path = log_dir / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # its own process group, so `down` stops its children too
        )


def is_ours(pid: int) -> bool:
    """A process this package started: its own group's leader, running taskqueue_local."""
    try:
        return os.getpgid(pid) == pid and b"taskqueue_local" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def stop_process_group(pid: int, grace: float = 5.0) -> bool:
    """Stop a process started by ``start_process`` and its children; False when it was already gone."""
    if not is_ours(pid):
        return False
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 2.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if not is_ours(pid) or _reaped(pid):
                return True
            time.sleep(0.05)
    return True


def _reaped(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)
        return finished == pid
    except ChildProcessError:
        return False


def override_text(emulator_url: str, module_settings: Mapping[str, Any]) -> str:
    """The local-only override: the provider on the emulator, plus module settings for the run."""
    endpoints = "\n".join(f'    {service} = "{emulator_url}"' for service in ENDPOINT_SERVICES)
    settings = "\n".join(f"  {name} = {json.dumps(value)}" for name, value in module_settings.items())
    return f"""# Written by taskqueue_local for a local run; removed by `down`. Never commit it.
provider "aws" {{
  region                      = "{REGION}"
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true

  endpoints {{
{endpoints}
  }}
}}

module "task_queue" {{
{settings}
}}
"""


def build_artifacts(tasks_dir: Path, out_dir: Path, log: Log) -> None:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(ROOT / "build.py"), "all", "--tasks", str(tasks_dir), "--out", str(out_dir)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise StackError(f"build failed:\n{result.stdout}{result.stderr}")
    log(f"artifacts: {out_dir} ({time.monotonic() - started:.1f} s)")


def up(
    example: str = "basic",
    *,
    speedup: float = 12.0,
    schedule_speedup: float = DEFAULT_SCHEDULE_SPEEDUP,
    tasks_dir: Path = ROOT / "examples" / "example_tasks",
    module_settings: Mapping[str, Any] = DEMO_MODULE_SETTINGS,
    work_dir: Path = LOCAL_DIR,
    log: Log = print,
) -> Stack:
    from tools import terraform as tf  # noqa: PLC0415 - only `up` needs Terraform

    existing = load(work_dir)
    if existing is not None:
        if any(is_ours(pid) for pid in existing.pids.values()):
            raise StackError("a local stack is already up: run `python -m taskqueue_local down` first")
        down(work_dir, log=lambda message: None)

    if not (ROOT / "examples" / example / "main.tf").exists():
        raise StackError(f"no example named {example!r} in examples/")
    try:
        terraform_setup = tf.setup()
    except tf.TerraformUnavailable as error:
        raise StackError(f"Terraform is needed for the local stack: {error}") from None

    logs = work_dir / "logs"
    dist_dir = work_dir / "dist"
    build_artifacts(tasks_dir, dist_dir, log)

    stack = Stack(example, "", "", {}, {}, str(work_dir), schedule_speedup=schedule_speedup)
    try:
        stack.pids["emulator"], stack.emulator_url = start_emulator(logs)
        stack.save()
        log(f"emulator: {stack.emulator_url} (pid {stack.pids['emulator']})")
        stack.outputs = apply(terraform_setup, example, work_dir, stack.emulator_url, module_settings, log)
        stack.pids["lambda"], stack.lambda_url = start_lambda_endpoint(
            stack.emulator_url, [dist_dir], work_dir, logs, speedup, schedule_speedup
        )
        stack.save()
        log(
            f"lambda endpoint: {stack.lambda_url} (pid {stack.pids['lambda']}); rules run {speedup:g}x faster, "
            f"EventBridge Scheduler schedules {schedule_speedup:g}x (30 min -> {1800 / schedule_speedup:g} s)"
        )
    except BaseException:
        down(work_dir, log=lambda message: None)
        raise
    return stack


def _start_answering(name: str, command: list[str], health: str, log_dir: Path, seconds: float) -> int:
    """Start a process and wait until ``health`` answers; stopped again if it never does."""
    process = start_process(name, command, log_dir)
    try:
        wait_for(health, seconds, process, f"the {name} process", log_dir / f"{name}.log")
    except BaseException:
        stop_process_group(process.pid)
        raise
    return process.pid


def start_emulator(log_dir: Path) -> tuple[int, str]:
    """The patched moto server on a free loopback port, answering; (pid, URL)."""
    url = f"http://127.0.0.1:{free_port()}"
    command = [sys.executable, "-m", "taskqueue_local.emulator", "--port", url.rsplit(":", 1)[1]]
    return _start_answering("emulator", command, f"{url}/moto-api/", log_dir, 60), url


def start_lambda_endpoint(
    emulator_url: str,
    artifacts: list[Path],
    work_dir: Path,
    log_dir: Path,
    speedup: float = 1.0,
    schedule_speedup: float | None = None,
) -> tuple[int, str]:
    """``serve`` (the local Lambda endpoint and the schedules) in its own process, answering; (pid, URL)."""
    url = f"http://127.0.0.1:{free_port()}"
    command = [
        sys.executable,
        "-m",
        "taskqueue_local",
        "serve",
        "--emulator",
        emulator_url,
        "--port",
        url.rsplit(":", 1)[1],
        "--speedup",
        str(speedup),
        "--schedule-speedup",
        str(speedup if schedule_speedup is None else schedule_speedup),
        "--work-dir",
        str(work_dir),
    ]
    for directory in artifacts:
        command += ["--artifacts", str(directory)]
    return _start_answering("lambda", command, f"{url}/health", log_dir, 120), url


def workspace(example: str, work_dir: Path) -> Path:
    """A copy of the example to apply, so the override file never lands in the source tree.

    The copy sits at the same depth below a link to the module, so its ``../../terraform``
    source still resolves.
    """
    target = ExampleRun.at(example, work_dir).example_dir
    root = target.parent.parent
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(ROOT / "examples" / example, target, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    module_link = root / "terraform"
    if not module_link.is_symlink():
        module_link.symlink_to(ROOT / "terraform", target_is_directory=True)
    return target


@dataclass(frozen=True)
class ExampleRun:
    """Where an example is applied: its workspace copy, Terraform's data directory, its state, its variables."""

    example_dir: Path
    data_dir: Path
    state: Path
    variables: dict[str, str]

    @classmethod
    def at(cls, example: str, work_dir: Path) -> ExampleRun:
        terraform_dir = work_dir / "terraform"
        return cls(
            example_dir=work_dir / "workspace" / "examples" / example,
            data_dir=terraform_dir / example,
            # Beside the data directory, not in it: there terraform.tfstate is the backend's own
            # file, and a plan or `terraform output` would read the state as one.
            state=terraform_dir / f"{example}.tfstate",
            # The examples' region variable names the emulator's, which the override's provider uses.
            variables={"dist_dir": str(work_dir / "dist"), "region": REGION},
        )

    def terraform(self, terraform_setup: Any) -> Any:
        """A python-terraform object for the workspace copy (init is the caller's)."""
        return terraform_setup.terraform(self.example_dir, data_dir=self.data_dir)


def apply(
    terraform_setup: Any,
    example: str,
    work_dir: Path,
    emulator_url: str,
    module_settings: Mapping[str, Any],
    log: Log,
) -> dict[str, Any]:
    """Apply the example onto the emulator; returns its outputs."""
    from tools import terraform as tf  # noqa: PLC0415

    example_dir = workspace(example, work_dir)
    (example_dir / OVERRIDE_NAME).write_text(override_text(emulator_url, module_settings))
    run = ExampleRun.at(example, work_dir)
    state = run.state
    runner = run.terraform(terraform_setup)
    started = time.monotonic()
    tf.run(runner, "init", input=False)
    log(f"terraform init: {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    tf.run(runner, "apply", auto_approve=tf.IsFlagged, input=False, state=str(state), var=run.variables)
    log(f"terraform apply of examples/{example}: {time.monotonic() - started:.1f} s")
    # The outputs, from the state the apply wrote.
    outputs = json.loads(state.read_text()).get("outputs", {})
    return {name: value["value"] for name, value in outputs.items()}


def down(work_dir: Path = LOCAL_DIR, log: Log = print) -> None:
    stack = load(work_dir)
    if stack is None:
        log("no local stack is up")
        return
    for name, pid in stack.pids.items():
        if stop_process_group(pid):
            log(f"stopped {name} (pid {pid})")
    # The workspace and state describe resources of an emulator that no longer exists.
    shutil.rmtree(work_dir / "workspace" / "examples", ignore_errors=True)
    state = ExampleRun.at(stack.example, work_dir).state
    for path in state.parent.glob(f"{state.name}*"):
        path.unlink()
    (work_dir / STATE_NAME).unlink(missing_ok=True)
    log("local stack is down")
