"""The Terraform-applied local stack: the emulator, ``terraform apply`` of examples, the data plane.

``up`` starts two background processes, each in its own process group, and records them in
``<work dir>/stack.json``: the emulator (moto) and ``serve`` (the data plane: the local Lambda
endpoint, the EventBridge rules, the event source mappings). Every example is applied onto the same
emulator before the data plane starts, so one stack can run both trigger modes side by side.
``down`` stops both groups by PID (after checking each PID is still a process it started), removes the workspace and
the Terraform state, and leaves nothing running.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from taskqueue.operations.arguments import LOCAL_TASKS_ENV
from taskqueue.schedules import (
    SCHEDULE_DEAD_LETTER_ARN_ENV,
    SCHEDULE_GROUP_ENV,
    SCHEDULER_ROLE_ARN_ENV,
    SchedulingConfig,
)
from taskqueue.status import STATUS_TABLE_ENV
from taskqueue.worker import WORKER_STARTED_MESSAGE
from taskqueue_local.deployment.artifacts import build
from taskqueue_local.deployment.deployment import EVENT_SOURCE_MAPPING, SCHEDULE, Deployment, Queues
from taskqueue_local.deployment.outcomes import WorkerLog
from taskqueue_local.infrastructure.clients import CREDENTIALS, REGION, Endpoints, local_client
from taskqueue_local.infrastructure.processes import (
    ROOT,
    StackError,
    is_stack_process,
    start_data_plane,
    start_emulator,
    stop_process_group,
)

# Where `up` keeps the stack's state, logs and build: .local in the checkout, or $TASKQUEUE_LOCAL_DIR.
LOCAL_DIR_ENV = "TASKQUEUE_LOCAL_DIR"
LOCAL_DIR = Path(os.environ.get(LOCAL_DIR_ENV) or ROOT / ".local")
STATE_NAME = "stack.json"
OVERRIDE_NAME = "taskqueue_local_override.tf"
# The example each trigger mode applies by default.
MODE_EXAMPLES = {SCHEDULE: "basic", EVENT_SOURCE_MAPPING: "event-source-mapping"}
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
DEFAULT_TASKS = ROOT / "examples" / "example_tasks"

# Module settings for any local run: retries quick enough to watch.
LOCAL_MODULE_SETTINGS: dict[str, Any] = {
    "backoff_base_seconds": 1,
    "backoff_max_seconds": 4,
    "max_receive_count": 4,
    # Each task's outcome in the worker's log, which the demo follows (the default logs failures only).
    "logging_application_log_level": "DEBUG",
}
# The demo's: its own tasks, and a periodic task it watches run (every 5 s at the schedules' default
# 120x, --schedule-speedup). Deployed only with the demo's tasks: its task is one of theirs.
DEMO_PERIODIC_TASK = "heartbeat"
# The demo's rate-limited task (rate_limit="1/s", burst=2), in a module of its own: it needs flow_control.
DEMO_RATE_LIMITED_TASK = "partner_api"
DEMO_MODULE_SETTINGS: dict[str, Any] = {
    "task_modules": ["example_tasks", "example_tasks.partner_api"],
    **LOCAL_MODULE_SETTINGS,
    # The rate-limited task's limit, held across every worker invocation (the module's flow-control table).
    "flow_control": True,
    # The demo ends by showing what became of a few tasks (python -m taskqueue status).
    "track_status": "all",
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
# Only the schedule mode has a consumer: a short long poll, so that a drain-mode run ends soon.
SCHEDULE_MODULE_SETTINGS: dict[str, Any] = {"consumer_wait_time_seconds": 1}

Log = Callable[[str], None]


def local_module_settings(tasks_dir: Path) -> dict[str, Any]:
    """The module settings for a local run of the task package ``tasks_dir``: the worker imports the package
    by its directory's name (build.py puts it at the zip's root); the demo's periodic task only with the
    demo's own tasks."""
    if tasks_dir.resolve() == DEFAULT_TASKS.resolve():
        return dict(DEMO_MODULE_SETTINGS)
    return {"task_modules": [tasks_dir.resolve().name], **LOCAL_MODULE_SETTINGS}


def check_worker_starts(lambda_client: Any, function_name: str) -> None:
    """One warm-up invoke of the worker with an empty batch: it imports the task modules and answers. A worker
    that cannot start raises :class:`StackError` with the function's error in full (type, message, trace)."""
    response = lambda_client.invoke(FunctionName=function_name, Payload=json.dumps({"Records": []}).encode())
    answer = response["Payload"].read().decode(errors="replace")
    if not response.get("FunctionError"):
        return
    try:
        error = json.loads(answer)
    except ValueError:
        error = None
    if isinstance(error, dict) and "errorType" in error:
        trace = "".join(error.get("stackTrace") or [])
        described = f"{error['errorType']}: {error.get('errorMessage', '')}\n{trace}".rstrip()
    else:
        described = answer
    raise StackError(
        f"the worker {function_name} cannot start ({response['FunctionError']}); its tasks would never run:\n"
        f"{described}"
    )


def deployed_tasks(worker_log: Path, wait_seconds: float = 0.0) -> list[str]:
    """The task names in the worker's started line (logged at DEBUG, as the local stack runs it); [] when there
    is none yet. ``wait_seconds``: the log is written by another process, a moment after the invoke returns."""
    deadline = time.monotonic() + wait_seconds
    while True:
        for document in WorkerLog(worker_log).documents():
            if document.get("message") == WORKER_STARTED_MESSAGE and isinstance(document.get("tasks"), list):
                return [str(name) for name in document["tasks"]]
        if time.monotonic() >= deadline:
            return []
        time.sleep(0.1)


def module_settings_for(example: str, settings: Mapping[str, Any] = DEMO_MODULE_SETTINGS) -> dict[str, Any]:
    """The run's module settings for ``example``: the consumer's only where the example has one."""
    extra = {} if example == MODE_EXAMPLES[EVENT_SOURCE_MAPPING] else SCHEDULE_MODULE_SETTINGS
    return {**settings, **extra}


@dataclass(frozen=True)
class TerraformStack:
    """A running stack, as ``up`` recorded it: every applied example's outputs, by example."""

    examples: dict[str, dict[str, Any]]
    emulator_url: str
    lambda_url: str
    pids: dict[str, int]
    work_dir: str
    started_at: float = field(default_factory=time.time)
    schedule_speedup: float = 1.0  # how much faster EventBridge Scheduler schedules run (ScheduleRunner)
    # The task names each example's worker has, as it said when it started (for `enqueue`'s warning).
    worker_tasks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def first_example(self) -> str:
        return next(iter(self.examples))

    def deployment(self, example: str | None = None) -> Deployment:
        """One applied example (the first by default) as a :class:`Deployment`."""
        example = example or self.first_example
        if example not in self.examples:
            raise StackError(f"examples/{example} is not applied on this stack (it has {', '.join(self.examples)})")
        outputs = self.examples[example]
        consumer = outputs.get("consumer_function_name")
        queues = Queues.read(
            local_client("sqs", self.emulator_url), outputs["queue_url"], outputs["dead_letter_queue_url"]
        )
        return Deployment(
            name=example,
            trigger_mode=SCHEDULE if consumer else EVENT_SOURCE_MAPPING,
            queues=queues,
            worker_function=outputs["worker_function_name"],
            consumer_function=consumer,
            endpoints=Endpoints(self.emulator_url, self.lambda_url),
            logs_dir=Path(self.work_dir) / "logs",
            scheduling=SchedulingConfig.from_environment(scheduling_environment(outputs)),
            schedule_speedup=self.schedule_speedup,
            status_table=outputs.get("status_table_name"),
        )

    def client_environment(self) -> dict[str, str]:
        """What a shell needs to use the stack with boto3, the AWS CLI or ``python -m taskqueue`` (the first
        example's queue and scheduling settings)."""
        outputs = self.examples[self.first_example]
        environment = {
            **CREDENTIALS,
            "AWS_ENDPOINT_URL": self.emulator_url,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambda_url,
            "TASKQUEUE_QUEUE_URL": str(outputs.get("queue_url", "")),
            **scheduling_environment(outputs),
        }
        if outputs.get("status_table_name"):
            environment[STATUS_TABLE_ENV] = str(outputs["status_table_name"])
        tasks = self.worker_tasks.get(self.first_example)
        if tasks:
            environment[LOCAL_TASKS_ENV] = ",".join(tasks)
        return environment

    def save(self) -> None:
        state = Path(self.work_dir) / STATE_NAME
        state.parent.mkdir(parents=True, exist_ok=True)
        temporary = state.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2))
        temporary.replace(state)


def scheduling_environment(outputs: Mapping[str, Any]) -> dict[str, str]:
    """The ``TASKQUEUE_SCHEDULE*`` variables from an example's outputs (none where it outputs no scheduling)."""
    return {variable: str(outputs[output]) for output, variable in SCHEDULING_OUTPUTS.items() if outputs.get(output)}


def load(work_dir: Path = LOCAL_DIR) -> TerraformStack | None:
    state = work_dir / STATE_NAME
    if not state.exists():
        return None
    return TerraformStack(**json.loads(state.read_text()))


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


def up(
    examples: Sequence[str] = (MODE_EXAMPLES[SCHEDULE],),
    *,
    speedup: float = 12.0,
    schedule_speedup: float = DEFAULT_SCHEDULE_SPEEDUP,
    tasks_dir: Path = DEFAULT_TASKS,
    module_settings: Mapping[str, Any] | None = None,
    work_dir: Path = LOCAL_DIR,
    log: Log = print,
) -> TerraformStack:
    """Start the emulator, apply each example onto it, start the data plane, then check that each worker
    starts (one warm-up invoke); returns the stack. ``module_settings`` default to
    :func:`local_module_settings` of ``tasks_dir``."""
    if module_settings is None:
        module_settings = local_module_settings(tasks_dir)
    from tools import terraform as tf  # noqa: PLC0415 - only `up` needs Terraform

    existing = load(work_dir)
    if existing is not None:
        if any(is_stack_process(pid) for pid in existing.pids.values()):
            raise StackError("a local stack is already up: run `python -m taskqueue_local down` first")
        down(work_dir, log=lambda message: None)

    if not examples:
        raise StackError("no example to apply: name at least one of examples/")
    for example in examples:
        if not (ROOT / "examples" / example / "main.tf").exists():
            raise StackError(f"no example named {example!r} in examples/")
    try:
        terraform_setup = tf.setup()
    except tf.TerraformUnavailable as error:
        raise StackError(f"Terraform is needed for the local stack: {error}") from None

    logs = work_dir / "logs"
    dist_dir = work_dir / "dist"
    started = time.monotonic()
    build("all", dist_dir, [tasks_dir])
    log(f"artifacts: {dist_dir} ({time.monotonic() - started:.1f} s)")

    pids: dict[str, int] = {}
    applied: dict[str, dict[str, Any]] = {}
    worker_tasks: dict[str, list[str]] = {}
    emulator_url = lambda_url = ""

    def record() -> TerraformStack:
        stack = TerraformStack(
            dict(applied),
            emulator_url,
            lambda_url,
            dict(pids),
            str(work_dir),
            schedule_speedup=schedule_speedup,
            worker_tasks=dict(worker_tasks),
        )
        stack.save()
        return stack

    try:
        pids["emulator"], emulator_url = start_emulator(logs)
        record()
        log(f"emulator: {emulator_url} (pid {pids['emulator']})")
        for example in examples:
            settings = module_settings_for(example, module_settings)
            applied[example] = {}  # recorded first, so that `down` removes what a failed apply left
            record()
            applied[example] = apply(terraform_setup, example, work_dir, emulator_url, settings, log)
            record()
        pids["lambda"], lambda_url = start_data_plane(
            emulator_url, [dist_dir], work_dir, logs, speedup=speedup, schedule_speedup=schedule_speedup
        )
        stack = record()
        log(
            f"lambda endpoint: {lambda_url} (pid {pids['lambda']}); rules run {speedup:g}x faster, "
            f"EventBridge Scheduler schedules {schedule_speedup:g}x (30 min -> {1800 / schedule_speedup:g} s)"
        )
        lambda_client = local_client("lambda", lambda_url)
        for example, outputs in applied.items():
            started = time.monotonic()
            worker = outputs["worker_function_name"]
            check_worker_starts(lambda_client, worker)
            worker_tasks[example] = deployed_tasks(logs / f"{worker}.log", wait_seconds=2.0)
            log(
                f"worker {worker} started ({time.monotonic() - started:.1f} s): tasks {', '.join(worker_tasks[example])}"
            )
        stack = record()
    except BaseException:
        if pids:
            record()
        down(work_dir, log=lambda message: None)
        raise
    return stack


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
    runner = run.terraform(terraform_setup)
    started = time.monotonic()
    tf.run(runner, "init", input=False)
    log(f"terraform init: {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    tf.run(runner, "apply", auto_approve=tf.IsFlagged, input=False, state=str(run.state), var=run.variables)
    log(f"terraform apply of examples/{example}: {time.monotonic() - started:.1f} s")
    # The outputs, from the state the apply wrote.
    outputs = json.loads(run.state.read_text()).get("outputs", {})
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
    for example in stack.examples:
        state = ExampleRun.at(example, work_dir).state
        for path in state.parent.glob(f"{state.name}*"):
            path.unlink()
    (work_dir / STATE_NAME).unlink(missing_ok=True)
    log("local stack is down")
