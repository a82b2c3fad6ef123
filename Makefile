# jobwarden — developer entry points. `make demo` and `make test` do all the set-up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEVCLUSTER_DIR := .devcluster
export KUBECONFIG_LOCAL := $(CURDIR)/$(DEVCLUSTER_DIR)/kubeconfig

.PHONY: help venv system-deps browser-deps cluster-binaries image up down demo test lint typecheck unit integration crds bench bench-quick clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

# jobwarden (editable, with the operator and the dev tools) and devcluster, the test
# launcher: its own project (devcluster/pyproject.toml) so jobwarden's wheel never ships it.
# Reinstalled when the version (jobwarden/__init__.py) changes: the metadata carries it.
$(VENV)/.installed: pyproject.toml devcluster/pyproject.toml operator/jobwarden/__init__.py
	@echo "venv: installing jobwarden, its operator and test dependencies into $(VENV) (1-2 min the first time) ..."
	$(PYTHON) -m venv $(VENV)
	@# Left by the former layout (both packages from the root): it would shadow the
	@# package's metadata for anything run from here.
	rm -rf jobwarden.egg-info
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e ./devcluster -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## create .venv with jobwarden, the dev tools and the local-cluster launcher

# axe-core for the dashboard's browser tests (Debian's chromium is driven; none is downloaded).
tests/browser/node_modules/.package-lock.json: tests/browser/package-lock.json
	npm ci --prefix tests/browser --no-audit --no-fund

browser-deps: tests/browser/node_modules/.package-lock.json

system-deps: ## Debian packages the tests use (PostgreSQL, Prometheus, Chromium, buildah, runc)
	bash devcluster/system-deps.sh

cluster-binaries: ## build etcd, Kubernetes (+ kubelet), containerd, kwok, helm, kstatus and krew from the Go module proxy (cached)
	bash devcluster/build.sh

image: system-deps venv ## build jobwarden's image from the Dockerfile with buildah (cached by content); load it into a running real node
	$(PY) -m devcluster image --dir $(DEVCLUSTER_DIR)

up: system-deps venv cluster-binaries ## start the local cluster (kwok nodes, a real node, the operator) in the background
	$(PY) -m devcluster up --dir $(DEVCLUSTER_DIR)

down: venv ## stop the local cluster and the real node; restore what the node changed on the machine
	$(PY) -m devcluster down --dir $(DEVCLUSTER_DIR)

demo: up ## run the demo on the local cluster
	bash examples/demo.sh

lint: venv ## ruff (lint and format check) and the import contracts (layers)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: venv ## mypy --strict
	$(VENV)/bin/mypy

unit: venv ## unit tests only (no cluster)
	$(VENV)/bin/pytest tests/unit

integration: system-deps venv cluster-binaries browser-deps image ## integration tests on the local cluster (or $$KUBECONFIG)
	$(VENV)/bin/pytest tests/integration

test: system-deps venv cluster-binaries browser-deps image lint typecheck ## everything: lint, types, unit and integration tests
	$(VENV)/bin/pytest tests

crds: venv ## regenerate crds/ from the pydantic models (and the chart's copy)
	$(PY) -m jobwarden.api.crdgen
	rm -f charts/jobwarden/files/crds/*.yaml
	cp crds/*.yaml charts/jobwarden/files/crds/

bench: venv cluster-binaries ## benchmarks of issue 9, full size (about an hour): bench/results/, docs/performance.md
	$(PY) -m bench

bench-quick: venv cluster-binaries ## the same benchmarks, small (under 5 minutes); prints the tables
	$(PY) -m bench --quick

clean: down ## stop the cluster and remove local state
	rm -rf $(DEVCLUSTER_DIR)
