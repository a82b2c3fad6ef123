# jobwarden — developer entry points. `make demo` and `make test` do all the set-up.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEVCLUSTER_DIR := .devcluster
export KUBECONFIG_LOCAL := $(CURDIR)/$(DEVCLUSTER_DIR)/kubeconfig

.PHONY: help venv cluster-binaries up down demo test lint typecheck unit integration crds bench bench-quick clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## create .venv with jobwarden and the dev tools

cluster-binaries: ## build etcd, Kubernetes, kwok and helm from the Go module proxy (cached)
	bash devcluster/build.sh

up: venv cluster-binaries ## start the local cluster in the background
	$(PY) -m devcluster up --dir $(DEVCLUSTER_DIR)

down: venv ## stop the local cluster
	$(PY) -m devcluster down --dir $(DEVCLUSTER_DIR)

demo: up ## run the demo on the local cluster
	bash examples/demo.sh

lint: venv ## ruff (lint and format check)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv ## mypy --strict
	$(VENV)/bin/mypy

unit: venv ## unit tests only (no cluster)
	$(VENV)/bin/pytest tests/unit

integration: venv cluster-binaries ## integration tests on the local cluster (or $$KUBECONFIG)
	$(VENV)/bin/pytest tests/integration

test: venv cluster-binaries lint typecheck ## everything: lint, types, unit and integration tests
	$(VENV)/bin/pytest tests

crds: venv ## regenerate crds/ from the pydantic models (and the chart's copy)
	$(PY) -m jobwarden.api.crdgen
	rm -f charts/jobwarden/files/crds/*.yaml
	cp crds/*.yaml charts/jobwarden/files/crds/

clean: down ## stop the cluster and remove local state
	rm -rf $(DEVCLUSTER_DIR)
