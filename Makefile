# codex-sandbox: every target installs what it needs itself (Python venv, Debian packages, images).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CLI := $(BIN)/codex-sandbox
STAMP := $(VENV)/.installed
TASK ?=

.PHONY: help install deps images demo test run bench lint clean

help:
	@echo "make demo    - run the main job on the bundled sample repo (offline demo model)"
	@echo "make test    - install everything (Python, Debian packages, images) and run the whole suite"
	@echo "make run TASK=<id or free text> - one task through the full pipeline in this repo"
	@echo "make images  - build the sandbox images (no registry needed)"
	@echo "make bench   - print the benchmarks' figures"

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

run: images
	@test -n "$(TASK)" || { echo "usage: make run TASK=<task id or free text>"; exit 2; }
	$(CLI) run "$(TASK)"

test: images
	$(BIN)/python -m pytest -q tests

bench: images
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit $$?; done

lint: install
	$(BIN)/ruff check runner sandbox tests bench

clean:
	rm -rf $(VENV) build *.egg-info
