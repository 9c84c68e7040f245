# Every target creates or reuses its virtualenv from the lock files on its own.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
# Lock files must not depend on this machine's pip configuration (extra indexes, find-links).
LOCK_ENV := PIP_CONFIG_FILE=/dev/null PIP_FIND_LINKS=
PIP_COMPILE := $(LOCK_ENV) $(BIN)/pip-compile --quiet --generate-hashes --allow-unsafe \
	--no-emit-index-url --no-emit-find-links --strip-extras
LOCKS := functions/consumer/requirements.txt functions/worker/requirements.txt \
	functions/boto3-bundle/requirements.txt requirements-dev.txt requirements-checkov.txt \
	tests/fixtures/compiled-requirements.txt

.PHONY: help build test acceptance lint fmt lock clean demo bench flow soak docs checkov venv upgrade-test

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

$(BIN)/.installed: requirements-dev.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r requirements-dev.txt
	# The runtime (functions/taskqueue) editable from the checkout; the rest of the checkout runs from its root.
	# Built with the setuptools just installed from the lock (no unhashed download); its dependencies are there.
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation --editable .
	touch $@

$(CHECKOV_VENV)/bin/.installed: requirements-checkov.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --require-hashes -r requirements-checkov.txt
	touch $@

venv: $(BIN)/.installed

build: $(BIN)/.installed ## Build dist/consumer.zip and dist/worker.zip (reused when nothing changed)
	$(BIN)/python build.py all --out dist

MODE ?= schedule

demo: build ## The queue deployed by the module onto a local AWS emulator, running a mix of tasks (MODE=schedule|esm)
	$(BIN)/python -m taskqueue_local demo --mode $(MODE)

bench: build ## Benchmarks on the local stack: drain rate, requests per task, latency, cost; writes bench/results.*
	$(BIN)/python -m bench.run

flow: build ## Flow control on the local stack, both modes: 500 tasks at 20/s, 3 keys x 2 at once; writes bench/flow_results.json
	$(BIN)/python -m bench.flow

soak: build ## Reliability soak: 2,000 tasks under injected faults, then the long model-based fault test
	$(BIN)/python -m taskqueue_local soak --tasks 2000
	TASKQUEUE_FAULT_MODEL_PROFILE=long $(BIN)/python -m pytest -q -s tests/test_fault_model.py tests/test_sqs_model.py tests/test_operator_model.py tests/test_schedule_model.py tests/test_flow_control_model.py

# Two workers, a test file each at a time (its module fixtures, such as the local stack, stay in one):
# the Terraform applies and the local stack wait on the emulator much of the time (8 min against 13 here).
# Files start longest first (tests/conftest.py: LONGEST_FILES_FIRST), not in xdist's order by test count.
test: $(BIN)/.installed checkov ## Run the test suite (moto, Terraform where installed) and checkov
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=10 -m "not acceptance"

# End to end, minutes a test (examples applied and planned again, the README's quickstart, a 300-task soak):
# kept out of `make test`'s 9 minutes; CI runs them after it (.ci/run).
acceptance: $(BIN)/.installed ## The end-to-end tests: examples applied and re-planned, the README's quickstart, a short soak
	$(BIN)/python -m pytest -n 2 --dist loadfile --no-loadscope-reorder --durations=10 -m acceptance

# Not in `make test`: two applies of examples/basic on the emulator take a few minutes.
upgrade-test: $(BIN)/.installed ## examples/basic from the previous release (CHANGELOG.md) upgraded on the local stack: nothing destroyed or lost
	$(BIN)/python -m tools.upgrade_test

lint: $(BIN)/.installed ## ruff, format check, mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy functions/taskqueue build.py
	$(BIN)/mypy tools taskqueue_local bench

fmt: $(BIN)/.installed ## Format Python and Terraform sources
	$(BIN)/ruff check --fix-only --quiet .
	$(BIN)/ruff format .
	if command -v terraform >/dev/null; then TF_CLI_CONFIG_FILE=/dev/null terraform fmt -recursive terraform examples; fi

docs: $(BIN)/.installed ## Regenerate the input/output tables of terraform/README.md
	$(BIN)/python -m tools.terraform_docs

# BC_SKIP_MAPPING and --skip-download: no calls to the Prisma Cloud API (guidelines, severities).
checkov: $(CHECKOV_VENV)/bin/.installed ## Static analysis of the Terraform module; fails on any failed check
	BC_SKIP_MAPPING=TRUE $(CHECKOV_VENV)/bin/checkov --directory terraform --framework terraform \
		--compact --skip-download

lock: $(BIN)/.installed ## Recompile every requirements*.in into a hashed .txt
	$(PIP_COMPILE) -o functions/consumer/requirements.txt functions/consumer/requirements.in
	$(PIP_COMPILE) -o functions/worker/requirements.txt functions/worker/requirements.in
	$(PIP_COMPILE) -o functions/boto3-bundle/requirements.txt functions/boto3-bundle/requirements.in
	$(PIP_COMPILE) -o requirements-dev.txt requirements-dev.in
	$(PIP_COMPILE) -o requirements-checkov.txt requirements-checkov.in
	$(PIP_COMPILE) -o tests/fixtures/compiled-requirements.txt tests/fixtures/compiled-requirements.in

clean: ## Remove build output, virtualenvs and caches
	rm -rf dist build .pytest_cache .ruff_cache .mypy_cache .local functions/*.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name .terraform -type d -prune -exec rm -rf {} +
	rm -rf $(VENV) $(CHECKOV_VENV)
