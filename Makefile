# codex-sandbox: every target installs what it needs itself (Python venv, Debian packages, images).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CLI := $(BIN)/codex-sandbox
STAMP := $(VENV)/.installed
TASK ?=
REPO ?=

.PHONY: help install deps images demo test check run run-args bench lint clean services up down

help:
	@echo "make demo    - run the main job on the bundled sample repo (offline demo model)"
	@echo "make test    - install everything (Python, Debian packages, images) and run the whole suite"
	@echo "make check   - the fast tier: no Docker, no images, no slow tests (well under a minute)"
	@echo "make run TASK=<id or free text> REPO=<path> - one task through the full pipeline in your repository"
	@echo "make images  - build the sandbox images (no registry needed)"
	@echo "make bench   - print the benchmarks' figures"
	@echo "make up / make down - start / stop the compose services (demo model, gateway, metrics)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

deps:
	@bash images/host-deps.sh

install: deps $(STAMP)

images: install
	$(CLI) images build

demo: images
	$(CLI) demo

# From this checkout: make run TASK=... REPO=/path/to/your/repo (never this checkout by accident).
run: run-args images
	cd "$(REPO)" && "$(abspath $(CLI))" run "$(TASK)"

run-args:
	@test -n "$(TASK)" || { echo "usage: make run TASK=<task id or free text> REPO=<path to your repository>"; exit 2; }
	@test -n "$(REPO)" || { echo "usage: make run TASK=... REPO=<path to your repository> (REPO is required here: this checkout is the tool's own)"; exit 2; }

test: images
	$(BIN)/python -m pytest -q tests

# The fast tier: what needs Docker or takes seconds is left to `make test`.
check: install
	$(BIN)/python -m pytest -q -m "not docker and not slow" tests

bench: images
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit $$?; done

lint: install
	$(BIN)/ruff check runner sandbox tests bench

clean:
	rm -rf $(VENV) build *.egg-info

# Compose services (compose.yaml): `docker compose` v2 when present, else docker-compose 1.29.
COMPOSE ?= $(shell docker compose version >/dev/null 2>&1 && echo "docker compose" || echo docker-compose)
GATEWAY_TOKEN_FILE := .codex/gateway.token

services: images
	$(BIN)/python -m runner.ops.compose_build
	CODEX_SOURCE_DIGEST="$$($(BIN)/python -m runner.ops.compose_build --digest)" $(COMPOSE) build

up: services
	@mkdir -p .codex
	@test -s $(GATEWAY_TOKEN_FILE) || (umask 077 && $(BIN)/python -c \
	  'import secrets; print("cxs-gw-" + secrets.token_urlsafe(24))' > $(GATEWAY_TOKEN_FILE))
	CODEX_GATEWAY_TOKEN="$$(cat $(GATEWAY_TOKEN_FILE))" CODEX_UID="$$(id -u)" CODEX_GID="$$(id -g)" \
	  $(COMPOSE) up -d
	@echo "gateway: http://127.0.0.1:$${CODEX_GATEWAY_PORT:-8787}/v1 (Bearer token in $(GATEWAY_TOKEN_FILE)); metrics: http://127.0.0.1:$${CODEX_METRICS_PORT:-9464}/metrics"

down:
	$(COMPOSE) down -v --remove-orphans
