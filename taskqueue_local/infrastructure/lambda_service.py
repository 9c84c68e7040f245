"""A local Lambda data plane: runs deployed functions from their built zips, like ``sam local start-lambda``.

The control plane stays in the emulator: a function's handler, environment, timeout and reserved
concurrency are read back from it, and its CodeSha256 picks the local zip to run, so what runs is
exactly what was deployed. Each function keeps warm execution environments (one interpreter
process each) and reuses them, as Lambda does; an invocation past the function's timeout kills
its environment and fails with Lambda's "Task timed out" error.

Init (importing the handler's module) is timed as Lambda times it:

- a new environment's init has up to ``LAMBDA_INIT_SECONDS`` (10 s) of its own, not counted in the
  function's timeout: the invocation's deadline, and the context's remaining time, start when init
  is done. The REPORT line of that cold invocation carries ``Init Duration``, and its billed
  duration includes the init (Lambda bills init since August 2025);
- an init that passes its 10 s is stopped (``INIT_REPORT ... Phase: init Status: timeout``) and
  retried in the invoke phase, a "suppressed init": the retried init and the handler share the
  function's timeout, and the REPORT line has no ``Init Duration`` (the init is in ``Duration``);
- an environment that crashed or timed out is reset, and the environment that replaces it inits
  the same way, within the next invocation's timeout.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import select
import shutil
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from taskqueue.limits import LAMBDA_INIT_SECONDS
from taskqueue_local.infrastructure.invocations import Invocation, InvocationJournal, InvocationRecord, journal_path
from taskqueue_local.infrastructure.lambda_runtime import INIT_DONE, INIT_FAILED

BOOTSTRAP = Path(__file__).with_name("lambda_runtime.py")
CONFIG_CACHE_SECONDS = 2.0


@dataclass(frozen=True)
class LambdaHooks:
    """For runs that inject faults and account for every invocation: ``inject_throttle`` returning True
    throttles that invocation as Lambda would; ``on_invocation`` gets each invocation's record (its
    function, request id, event, answer or error, and billed time), throttled ones included."""

    inject_throttle: Callable[[FunctionConfig], bool] | None = None
    on_invocation: Callable[[InvocationRecord], None] | None = None

    @property
    def any(self) -> bool:
        return self.inject_throttle is not None or self.on_invocation is not None


class FunctionNotFound(LookupError):
    pass


class CodeNotFound(LookupError):
    pass


@dataclass(frozen=True)
class FunctionConfig:
    name: str
    arn: str
    handler: str
    runtime: str
    timeout: float
    memory: int
    environment: dict[str, str]
    code_sha256: str
    reserved_concurrency: int | None

    @classmethod
    def from_get_function(cls, response: dict[str, Any]) -> FunctionConfig:
        config = response["Configuration"]
        return cls(
            name=config["FunctionName"],
            arn=config["FunctionArn"],
            handler=config["Handler"],
            runtime=config.get("Runtime", "python3.13"),
            timeout=float(config.get("Timeout", 3)),
            memory=int(config.get("MemorySize", 128)),
            environment=dict(config.get("Environment", {}).get("Variables", {})),
            code_sha256=config["CodeSha256"],
            reserved_concurrency=response.get("Concurrency", {}).get("ReservedConcurrentExecutions"),
        )


def base64_sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


class ArtifactIndex:
    """Local zips by base64 sha256 (Lambda's CodeSha256), found in the given directories."""

    def __init__(self, directories: list[Path]) -> None:
        self.directories = directories
        self._by_hash: dict[str, Path] = {}
        self._lock = threading.Lock()

    def find(self, code_sha256: str) -> Path:
        with self._lock:
            if code_sha256 not in self._by_hash:
                for directory in self.directories:
                    for path in sorted(directory.glob("*.zip")):
                        self._by_hash.setdefault(base64_sha256(path), path)
            if code_sha256 not in self._by_hash:
                searched = ", ".join(str(d) for d in self.directories)
                raise CodeNotFound(
                    f"no local zip has CodeSha256 {code_sha256} (searched {searched}); "
                    "rebuild the artifacts that were deployed (make build)"
                )
            return self._by_hash[code_sha256]


def interpreter_for(runtime: str) -> tuple[str, bool]:
    """A Python interpreter for a Lambda runtime name; (path, exact) with exact False for a stand-in.

    Looks for pythonX.Y on PATH, then in pyenv's versions, then falls back to this interpreter.
    """
    version = runtime.removeprefix("python")
    override = os.environ.get("TASKQUEUE_LOCAL_PYTHON")
    if override:
        return override, True
    candidates = [shutil.which(f"python{version}")]
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates += [str(p) for p in sorted(pyenv_root.glob(f"versions/{version}*/bin/python{version}"))]
    for candidate in candidates:
        if candidate and _runs(candidate):
            return candidate, True
    return sys.executable, sys.version.startswith(version + ".")


def _runs(interpreter: str) -> bool:
    try:
        return subprocess.run([interpreter, "-c", "pass"], capture_output=True, timeout=20, check=False).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


class ExecutionEnvironment:
    """One interpreter process running one function: it inits once, then serves invocations.

    ``suppressed_init``: its init runs inside its first invocation's timeout (see the module's doc).
    """

    def __init__(
        self, command: list[str], env: dict[str, str], cwd: Path, log_path: Path, suppressed_init: bool = False
    ) -> None:
        self.suppressed_init = suppressed_init
        self.initialised = False
        self.started = time.monotonic()
        read_fd, write_fd = os.pipe()
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--response-fd", str(write_fd)],
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=log,
                env=env,
                cwd=cwd,
                pass_fds=(write_fd,),
            )
        os.close(write_fd)
        self.log_path = log_path
        self._responses = read_fd
        self._buffer = b""
        self._closed = False
        self._close_lock = threading.Lock()

    def initialise(self, deadline: float) -> bool:
        """Wait (until ``deadline``, a monotonic time) for init to finish; False when it did not."""
        line = self._read_line(deadline)
        if line is None:
            return False
        if json.loads(line) != INIT_DONE:
            raise RuntimeError(f"the runtime's first line is not the end of init: {line[:200]!r}")
        self.initialised = True
        return True

    def invoke(self, event: Any, deadline: float, request_id: str) -> tuple[dict[str, Any] | None, bool]:
        """(answer, timed_out), by ``deadline`` (a monotonic time); answer is None when the process died
        or timed out (it is then closed). A suppressed init runs first, within the same deadline."""
        wall_deadline = time.time() + (deadline - time.monotonic())
        request = {"event": event, "request_id": request_id, "deadline_ms": int(wall_deadline * 1000)}
        if (self.initialised or self.initialise(deadline)) and self._send(
            json.dumps(request).encode() + b"\n", deadline
        ):
            line = self._read_line(deadline)
            if line is not None:
                return json.loads(line), False
        # No answer: either the deadline passed, or the process died (its pipe closed early).
        timed_out = time.monotonic() >= deadline
        self.close()
        return None, timed_out

    def _send(self, request: bytes, deadline: float) -> bool:
        """Write the request within the deadline: a function stuck before reading it (say, in its
        imports) must not hold the invocation past its timeout once the pipe is full."""
        assert self.process.stdin is not None
        stdin = self.process.stdin
        sent = threading.Event()

        def write() -> None:
            with contextlib.suppress(OSError):
                stdin.write(request)
                stdin.flush()
                sent.set()

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        writer.join(max(0.0, deadline - time.monotonic()))
        return sent.is_set()

    def _read_line(self, deadline: float) -> bytes | None:
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            ready, _, _ = select.select([self._responses], [], [], remaining)
            if not ready:
                return None
            chunk = os.read(self._responses, 1 << 20)
            if not chunk:
                return None
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def kill(self) -> None:
        """Stop the process; safe while another thread waits for its answer (which then fails)."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()

    def close(self) -> None:
        """Stop the process and close its pipes; once (the pipe's descriptor must not be closed twice)."""
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        self.kill()
        self.process.wait()
        # Unflushed bytes to a dead process make close() raise; the pipe is gone either way.
        with contextlib.suppress(OSError):
            if self.process.stdin:
                self.process.stdin.close()
        with contextlib.suppress(OSError):
            os.close(self._responses)


@dataclass
class FunctionPool:
    """Environments of one function version, and its concurrency accounting.

    ``start(suppressed_init)`` starts an environment. ``resets`` counts environments that crashed or
    timed out: Lambda resets such an environment, and its next init is a suppressed one.
    """

    config: FunctionConfig
    start: Callable[[bool], ExecutionEnvironment]
    limit: int
    idle: list[ExecutionEnvironment] = field(default_factory=list)
    busy: set[ExecutionEnvironment] = field(default_factory=set)
    resets: int = 0
    _starting: int = 0  # environments being started, counted against the limit
    closed: bool = False  # replaced by a new code version: environments still busy close on release
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acquire(self) -> ExecutionEnvironment | None:
        with self.lock:
            if self.closed or len(self.busy) + self._starting >= self.limit:
                return None
            if self.idle:
                environment = self.idle.pop()
                self.busy.add(environment)
                return environment
            suppressed = self.resets > 0
            if suppressed:
                self.resets -= 1
            self._starting += 1
        return self._started(suppressed)

    def replace(self, environment: ExecutionEnvironment) -> ExecutionEnvironment | None:
        """A new environment, with a suppressed init, in place of one whose init timed out (closed)."""
        with self.lock:
            self.busy.discard(environment)
            self._starting += 1
        return self._started(True)

    def _started(self, suppressed_init: bool) -> ExecutionEnvironment | None:
        """Start an environment the caller counted in ``_starting``, and make it busy; None when the pool
        closed while it started."""
        try:
            environment = self.start(suppressed_init)
        finally:
            with self.lock:
                self._starting -= 1
        with self.lock:
            if not self.closed:
                self.busy.add(environment)
                return environment
        environment.close()
        return None

    def release(self, environment: ExecutionEnvironment, reusable: bool) -> None:
        with self.lock:
            self.busy.discard(environment)
            if reusable and not self.closed:
                self.idle.append(environment)
                return
            if not reusable:
                self.resets = min(self.limit, self.resets + 1)
        environment.close()

    def close(self) -> None:
        """Stop every environment, busy ones too (their invocations fail as crashed)."""
        with self.lock:
            self.closed = True
            idle, self.idle = self.idle, []
            busy = list(self.busy)
        for environment in idle:
            environment.close()
        for environment in busy:
            environment.kill()  # its invocation sees the process die, and closes it


class LocalLambda:
    """Invokes functions deployed on the emulator, from local zips."""

    def __init__(
        self,
        lambda_client: Any,
        artifacts: ArtifactIndex,
        work_dir: Path,
        function_environment: dict[str, str],
        layers: list[Path],
        account_concurrency: int = 100,
        init_seconds: float = LAMBDA_INIT_SECONDS,
        hooks: LambdaHooks | None = None,
    ) -> None:
        self.lambda_client = lambda_client
        self.artifacts = artifacts
        self.work_dir = work_dir
        self.function_environment = function_environment
        self.layers = layers
        self.account_concurrency = account_concurrency
        self.init_seconds = init_seconds
        self._configs: dict[str, tuple[float, FunctionConfig]] = {}
        self._pools: dict[tuple[str, str], FunctionPool] = {}
        self._lock = threading.Lock()
        self.interpreters: dict[str, tuple[str, bool]] = {}
        self.hooks = hooks or LambdaHooks()
        self._journals: dict[str, InvocationJournal] = {}

    def function_config(self, name: str) -> FunctionConfig:
        now = time.monotonic()
        cached = self._configs.get(name)
        if cached and now - cached[0] < CONFIG_CACHE_SECONDS:
            return cached[1]
        try:
            config = FunctionConfig.from_get_function(self.lambda_client.get_function(FunctionName=name))
        except self.lambda_client.exceptions.ResourceNotFoundException as error:
            raise FunctionNotFound(str(error)) from None
        self._configs[name] = (now, config)
        return config

    def invoke(self, name: str, event: bytes) -> Invocation:
        config = self.function_config(name)
        if self.hooks.inject_throttle is not None and self.hooks.inject_throttle(config):
            return self._observed(config, event, Invocation(b"", throttled=True))
        payload = json.loads(event) if event.strip() else {}  # the endpoint checked it is JSON
        pool = self._pool(config)
        environment = pool.acquire()
        if environment is None:
            return self._observed(config, event, Invocation(b"", throttled=True))
        request_id = str(uuid.uuid4())
        answer: dict[str, Any] | None = None
        init_ms: float | None = None
        suppressed = timed_out = False
        started = time.monotonic()
        started_wall = time.time()
        try:
            ready, init_ms = self._init_phase(pool, environment)
            if ready is not None:  # else the pool closed while a replacement started
                environment = ready
                suppressed = not environment.initialised
                started, started_wall = time.monotonic(), time.time()  # its clock starts once init is done
                answer, timed_out = environment.invoke(payload, started + config.timeout, request_id)
        finally:
            pool.release(environment, reusable=answer is not None and not answer.get(INIT_FAILED))
        duration_ms = (time.monotonic() - started) * 1000
        if suppressed and not environment.initialised and timed_out:
            self._log(environment, f"INIT_REPORT Init Duration: {duration_ms:.2f} ms\tPhase: invoke\tStatus: timeout")
        # The line Lambda writes to the function's log after each invocation; init is billed too.
        billed_ms = math.ceil(duration_ms + (init_ms or 0.0))
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {billed_ms} ms\tMemory Size: {config.memory} MB"
        )
        self._log(environment, report if init_ms is None else f"{report}\tInit Duration: {init_ms:.2f} ms")
        invocation = dataclasses.replace(
            self._invocation(config, answer, timed_out, duration_ms, init_ms),
            suppressed_init=suppressed,
            request_id=request_id,
            billed_ms=billed_ms,
            started_ms=int(started_wall * 1000),
        )
        return self._observed(config, event, invocation)

    def _init_phase(
        self, pool: FunctionPool, environment: ExecutionEnvironment
    ) -> tuple[ExecutionEnvironment | None, float | None]:
        """A new environment's init, with ``init_seconds`` of its own: (the environment to invoke, the
        init's ms). Past its limit, init is retried in the invoke phase in a new environment (None: the
        pool closed meanwhile). A warm environment, or one whose init is suppressed, comes back as is."""
        if environment.initialised or environment.suppressed_init:
            return environment, None
        limit = environment.started + self.init_seconds
        if environment.initialise(limit):
            return environment, (time.monotonic() - environment.started) * 1000
        if time.monotonic() < limit:
            return environment, None  # the process died during init: the invocation reports it
        environment.close()
        self._log(
            environment, f"INIT_REPORT Init Duration: {self.init_seconds * 1000:.2f} ms\tPhase: init\tStatus: timeout"
        )
        return pool.replace(environment), None

    @staticmethod
    def _invocation(
        config: FunctionConfig,
        answer: dict[str, Any] | None,
        timed_out: bool,
        duration_ms: float,
        init_ms: float | None,
    ) -> Invocation:
        if answer is None:
            message = (
                f"Task timed out after {config.timeout:.2f} seconds"
                if timed_out
                else "Runtime exited without providing a reason"
            )
            error_type = "Sandbox.Timedout" if timed_out else "Runtime.ExitError"
            body = {"errorMessage": message, "errorType": error_type}
            return Invocation(json.dumps(body).encode(), "Unhandled", False, duration_ms, timed_out, init_ms)
        if answer["ok"]:
            return Invocation(answer["result"].encode(), duration_ms=duration_ms, init_ms=init_ms)
        return Invocation(json.dumps(answer["error"]).encode(), "Unhandled", duration_ms=duration_ms, init_ms=init_ms)

    def _observed(self, config: FunctionConfig, event: bytes, invocation: Invocation) -> Invocation:
        """Report the invocation: to the hook, and in the function's journal (see ``invocations``)."""
        record = InvocationRecord(config.name, event, invocation)
        if self.hooks.on_invocation is not None:
            self.hooks.on_invocation(record)
        self._journal(config.name).append(record)
        return invocation

    def _journal(self, function: str) -> InvocationJournal:
        with self._lock:
            journal = self._journals.get(function)
            if journal is None:
                log_dir = self.work_dir / "logs"
                log_dir.mkdir(parents=True, exist_ok=True)
                journal = self._journals[function] = InvocationJournal(journal_path(log_dir, function))
            return journal

    @staticmethod
    def _log(environment: ExecutionEnvironment, line: str) -> None:
        with environment.log_path.open("a", encoding="utf-8") as log:
            log.write(line + "\n")

    def _pool(self, config: FunctionConfig) -> FunctionPool:
        key = (config.name, config.code_sha256)
        with self._lock:
            pool = self._pools.get(key)
            if pool is None:
                # A new code version replaces the old environments, as an update does on Lambda.
                for old in self._pop_pools(config.name):
                    old.close()
                pool = FunctionPool(config, lambda suppressed: self._start(config, suppressed), self._limit(config))
                self._pools[key] = pool
            else:
                pool.limit = self._limit(config)  # reserved concurrency may have changed since
            return pool

    def close_function(self, name: str) -> None:
        """Stop every environment of the function ``name``, as deleting it does on Lambda."""
        with self._lock:
            pools = self._pop_pools(name)
        for pool in pools:
            pool.close()

    def _pop_pools(self, name: str) -> list[FunctionPool]:
        """The pools of every code version of ``name``, taken out (the caller holds the lock)."""
        return [self._pools.pop(key) for key in [key for key in self._pools if key[0] == name]]

    def _limit(self, config: FunctionConfig) -> int:
        # A reservation of 0 is how Lambda pauses a function: every invocation is throttled.
        return self.account_concurrency if config.reserved_concurrency is None else config.reserved_concurrency

    def _code_dir(self, config: FunctionConfig) -> Path:
        digest = base64.b64decode(config.code_sha256).hex()[:16]
        target = self.work_dir / "functions" / config.name / digest
        if not target.exists():
            staging = target.with_name(target.name + f".tmp{os.getpid()}.{threading.get_ident()}")
            shutil.rmtree(staging, ignore_errors=True)
            with zipfile.ZipFile(self.artifacts.find(config.code_sha256)) as archive:
                archive.extractall(staging)
            try:
                staging.rename(target)
            except OSError:
                shutil.rmtree(staging, ignore_errors=True)  # another thread unpacked it first
        return target

    def _start(self, config: FunctionConfig, suppressed_init: bool) -> ExecutionEnvironment:
        code = self._code_dir(config)
        interpreter, _exact = self.interpreters.setdefault(config.runtime, interpreter_for(config.runtime))
        command = [interpreter, "-I", "-S", str(BOOTSTRAP), "--code", str(code), "--handler", config.handler]
        for layer in self.layers:
            command += ["--layer", str(layer)]
        log_dir = self.work_dir / "logs"
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"{config.name}.log"
        return ExecutionEnvironment(command, self._environment(config), code, log_path, suppressed_init)

    def _environment(self, config: FunctionConfig) -> dict[str, str]:
        region = config.arn.split(":")[3]
        return {
            **config.environment,
            # What the Lambda service sets itself; function settings cannot override these.
            **self.function_environment,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_FUNCTION_NAME": config.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
            "AWS_LAMBDA_LOG_STREAM_NAME": "local",
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{config.runtime}",
            "LAMBDA_TASK_ROOT": str(self._code_dir(config)),
            "TASKQUEUE_LOCAL_FUNCTION_ARN": config.arn,
            "_HANDLER": config.handler,
            "TZ": "UTC",
            "PYTHONUNBUFFERED": "1",
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        }

    def close(self) -> None:
        with self._lock:
            pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            pool.close()
