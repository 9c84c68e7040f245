"""``python -m taskqueue_local up|down|status|env|invoke|demo|soak``: the task queue on this machine.

python -m taskqueue_local up                # emulator + `terraform apply` + Lambda endpoint + schedules
python -m taskqueue_local up --mode esm     # the same with an SQS event source mapping instead of a consumer
python -m taskqueue_local up --tasks ./my_tasks  # your task package in the worker (checked to start)
eval "$(python -m taskqueue_local env)"     # then, in any shell:
python -m taskqueue enqueue checksum --payload '{"text": "hi"}'
python -m taskqueue_local invoke <function> --payload '{}'
python -m taskqueue_local down
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from taskqueue_local.deployment import terraform_stack
from taskqueue_local.deployment.deployment import EVENT_SOURCE_MAPPING, SCHEDULE
from taskqueue_local.infrastructure.clients import local_client
from taskqueue_local.infrastructure.processes import StackError, is_stack_process
from taskqueue_local.infrastructure.shutdown import exit_on_signals

# The trigger modes by the names the command line takes (the module's own names too).
MODES = {"schedule": SCHEDULE, "esm": EVENT_SOURCE_MAPPING, EVENT_SOURCE_MAPPING: EVENT_SOURCE_MAPPING}


def _up_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mode",
        choices=sorted(MODES),
        default="schedule",
        help="trigger mode: schedule (a consumer on a schedule, examples/basic) or esm (an SQS event source "
        "mapping, examples/event-source-mapping); default schedule",
    )
    parser.add_argument("--example", help="apply examples/<name> instead of the mode's example")
    parser.add_argument(
        "--speedup", type=float, default=12.0, help="run rules this many times faster (default 12: 1 min -> 5 s)"
    )
    parser.add_argument(
        "--schedule-speedup",
        type=float,
        default=terraform_stack.DEFAULT_SCHEDULE_SPEEDUP,
        help="run EventBridge Scheduler schedules this many times faster, each from its creation "
        f"(default {terraform_stack.DEFAULT_SCHEDULE_SPEEDUP:g}: a task 30 min out runs after "
        f"{1800 / terraform_stack.DEFAULT_SCHEDULE_SPEEDUP:g} s)",
    )
    parser.add_argument(
        "--tasks",
        type=Path,
        default=terraform_stack.DEFAULT_TASKS,
        help="task package to build into the worker, imported by its directory's name (default: "
        "examples/example_tasks, with the demo's periodic task)",
    )


def _example(args: argparse.Namespace) -> str:
    return args.example or terraform_stack.MODE_EXAMPLES[MODES[args.mode]]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m taskqueue_local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    _up_arguments(commands.add_parser("up", help="start the stack and leave it running"))
    commands.add_parser("down", help="stop everything `up` started")
    commands.add_parser("status", help="what is running, and the queues' depths")
    commands.add_parser("env", help="print shell exports for using the stack")
    invoke = commands.add_parser("invoke", help="invoke a deployed function through the local endpoint")
    invoke.add_argument("function")
    invoke.add_argument("--payload", default="{}")
    demo_parser = commands.add_parser("demo", help="up, a mix of tasks with a summary, down")
    _up_arguments(demo_parser)
    demo_parser.add_argument("--timeout", type=float, default=150.0, help="seconds to wait for the tasks")
    demo_parser.add_argument(
        "--work-dir",
        type=Path,
        default=terraform_stack.LOCAL_DIR,
        help="state, logs and build of the run (default: .local)",
    )
    commands.add_parser("soak", help="the reliability soak (python -m taskqueue_local soak --help)", add_help=False)
    return parser


def _serve_parser() -> argparse.ArgumentParser:
    """``serve``: the background half of ``up``, started by it; a parser of its own, so that the help of the
    commands a person runs does not list it (a subcommand hidden with SUPPRESS still shows as ==SUPPRESS==)."""
    serve = argparse.ArgumentParser(prog="python -m taskqueue_local serve")
    serve.add_argument("--emulator", required=True)
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--artifacts", action="append", type=Path, required=True)
    serve.add_argument("--speedup", type=float, default=1.0)
    serve.add_argument("--schedule-speedup", type=float, default=None)
    serve.add_argument("--work-dir", type=Path, default=terraform_stack.LOCAL_DIR)
    serve.add_argument("--no-event-source-mappings", dest="event_source_mappings", action="store_false")
    serve.set_defaults(command="serve")
    return serve


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["soak"]:
        from taskqueue_local.scenarios import soak  # noqa: PLC0415

        return soak.main(argv[1:])
    args = _serve_parser().parse_args(argv[1:]) if argv[:1] == ["serve"] else _parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except StackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    with exit_on_signals():  # stopped midway, `up` takes down what it had started; done, it leaves the stack up
        running = terraform_stack.up(
            [_example(args)], speedup=args.speedup, schedule_speedup=args.schedule_speedup, tasks_dir=args.tasks
        )
    deployment = running.deployment()
    print(f"local stack up in {time.monotonic() - started:.0f} s ({deployment.trigger_mode} mode). Use it with:")
    print('  eval "$(python -m taskqueue_local env)"')
    print(f"queue: {deployment.queues.url}")
    print(f"worker log: {deployment.worker_log.path}")
    return 0


def _down(args: argparse.Namespace) -> int:
    terraform_stack.down()
    return 0


def _running() -> terraform_stack.TerraformStack:
    current = terraform_stack.load()
    if current is None:
        raise StackError("no local stack is up: run `python -m taskqueue_local up`")
    return current


def _status(args: argparse.Namespace) -> int:
    current = _running()
    deployments = {}
    for example, outputs in current.examples.items():
        deployment = current.deployment(example)
        deployments[example] = {
            "trigger_mode": deployment.trigger_mode,
            "queue_depth": deployment.depth(),
            "dead_letter_queue_depth": deployment.depth(deployment.queues.dlq_url),
            "outputs": {k: v for k, v in outputs.items() if not k.endswith("_json")},
        }
    status = {
        "emulator": current.emulator_url,
        "lambda_endpoint": current.lambda_url,
        "processes": {name: {"pid": pid, "running": is_stack_process(pid)} for name, pid in current.pids.items()},
        "examples": deployments,
    }
    print(json.dumps(status, indent=2))
    return 0


def _env(args: argparse.Namespace) -> int:
    for name, value in _running().client_environment().items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


def _invoke(args: argparse.Namespace) -> int:
    client = local_client("lambda", _running().lambda_url)
    response = client.invoke(FunctionName=args.function, Payload=args.payload.encode())
    print(response["Payload"].read().decode())
    return 1 if response.get("FunctionError") else 0


def _demo(args: argparse.Namespace) -> int:
    from taskqueue.operations import cli as operations_cli  # noqa: PLC0415
    from taskqueue_local.scenarios import demo  # noqa: PLC0415

    started = time.monotonic()
    example = _example(args)
    with exit_on_signals():  # a SIGTERM or Ctrl-C takes the stack down too
        print(f"== bringing up the local stack (examples/{example} on the emulator)")
        running = terraform_stack.up(
            [example],
            speedup=args.speedup,
            schedule_speedup=args.schedule_speedup,
            tasks_dir=args.tasks,
            work_dir=args.work_dir,
        )
        try:
            deployment = running.deployment()
            if deployment.trigger_mode == SCHEDULE:
                print(f"== running tasks (the consumer's schedule fires every {60 / args.speedup:g} s)")
            else:
                print("== running tasks (the local event source mapping polls the queue)")
            summary = demo.run(deployment, demo.Scenario(), timeout=args.timeout)
            print(summary.table())
            dlq_list = ["dlq", "list", "--queue-url", deployment.queues.url]
            print(f"== the dead letters, as an operator triages them: python -m taskqueue {' '.join(dlq_list)}")
            operations_cli.main(dlq_list, sqs=deployment.client("sqs"))
            for label, record in summary.statuses:
                if record is None:
                    print(f"== {label}: no status recorded")
                    continue
                status_command = ["status", record.task, str(record.task_id)]
                print(f"== a task {label}, as support looks it up: python -m taskqueue {' '.join(status_command)}")
                operations_cli.main(
                    [*status_command, "--status-table", str(deployment.status_table)],
                    sqs=deployment.client("sqs"),
                    dynamodb=deployment.client("dynamodb"),
                )
        finally:
            print("== stopping the local stack")
            terraform_stack.down(args.work_dir)
    print(f"demo finished in {time.monotonic() - started:.0f} s")
    if not summary.ok:
        wrong = "" if summary.statuses_ok else f", statuses {[(label, r and r.state) for label, r in summary.statuses]}"
        print(f"FAILED: {summary.lost} lost, {summary.stuck} stuck{wrong}", file=sys.stderr)
        return 1
    return 0


def _serve(args: argparse.Namespace) -> int:
    """The background half of `up`: the data plane, until SIGTERM or SIGINT."""
    from taskqueue_local.infrastructure.serve import serve  # noqa: PLC0415

    with exit_on_signals():
        serve(
            args.emulator,
            args.port,
            args.artifacts,
            args.speedup,
            args.work_dir,
            args.schedule_speedup,
            poll_event_source_mappings=args.event_source_mappings,
        )
    return 0


_COMMANDS = {
    "up": _up,
    "down": _down,
    "status": _status,
    "env": _env,
    "invoke": _invoke,
    "demo": _demo,
    "serve": _serve,
}
