# mcpd: build, run, test, benchmark and install.
#
# On a fresh Debian 12 machine `make run` and `make test` do all the set-up: whatever tool is
# missing comes from Debian's packages or PyPI through .ci/deps.sh, which does nothing (and
# costs nothing) when everything is present; the Python test tools go into the virtualenv
# .build/venv. The Swift toolchain is not a Debian package: it is expected on PATH or at
# $(SWIFT_BIN).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help
# Steps depend on one another's output (.build); swift parallelises each build by itself.
.NOTPARALLEL:

# CI and `sudo make` often run without the toolchain on PATH.
SWIFT_BIN ?= /opt/swift/usr/bin
ifeq ($(shell command -v swift 2>/dev/null),)
export PATH := $(SWIFT_BIN):$(PATH)
endif
SWIFT ?= swift
# The integration tests' Python tools (pinned in Tests/integration/requirements.txt) live in a
# virtualenv that `make deps` makes from BASE_PYTHON and keeps in step with that file; `make clean`
# removes it with the rest of .build. PYTHON=... runs the tests with another interpreter instead:
# `make deps` then pip-installs the pins into it unless it has them all.
BASE_PYTHON ?= python3
VENV := $(CURDIR)/.build/venv
PYTHON ?= $(VENV)/bin/python
export PYTHON BASE_PYTHON

PREFIX ?= /usr/local
ARGS ?=
PYTEST_ARGS ?=
INTEGRATION_DIR := Tests/integration

# Requirements as COMMAND=DEBIAN_PACKAGE, and the Python ones as a pip requirements file.
# Running needs nothing but the toolchain; curl and jq are for the README's walkthrough.
APT_RUN := curl=curl jq=jq
APT_TEST := curl=curl jq=jq wrk=wrk nginx=nginx-light systemd-socket-activate=systemd systemd-analyze=systemd git=git
PY_REQUIREMENTS := $(INTEGRATION_DIR)/requirements.txt
# The benchmark's tools: wrk, nginx (the floor), ps (process trees), and two virtualenvs of pinned
# servers: the SDK peer and mcp-server-time (bench/requirements.txt), and mcp-proxy, whose mcp<2
# cannot share a virtualenv with SDK 2.x (bench/requirements-proxy.txt).
APT_BENCH := curl=curl wrk=wrk nginx=nginx-light ps=procps
PY_BENCH := venv:$(CURDIR)/.build/bench-venv=bench/requirements.txt venv:$(CURDIR)/.build/bench-proxy-venv=bench/requirements-proxy.txt
# The virtualenv, or with PYTHON=another interpreter that interpreter itself (.ci/deps.sh).
PY_TEST := $(if $(filter $(VENV)/bin/python,$(abspath $(PYTHON))),venv:$(VENV)=$(PY_REQUIREMENTS),pyreq:$(PY_REQUIREMENTS))

# sudo only when we are not root and sudo exists.
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || ! command -v sudo >/dev/null 2>&1 || echo sudo)

.PHONY: help deps deps-run deps-bench venv toolchain build debug run test unit-test integration-test unit-security bench install clean fuzz fuzz-build fuzz-ci

help: ## list the targets
	@echo "mcpd — make targets:"
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | \
		awk -F':.*## ' '{ printf "  %-18s %s\n", $$1, $$2 }'
	@echo "Variables: ARGS='...' (make run), PREFIX=$(PREFIX) (make install),"
	@echo "           PYTEST_ARGS='...' (make test), BENCH_SECONDS=10 BENCH_ONLY=... (make bench),"
	@echo "           FUZZ_SECONDS=$(FUZZ_SECONDS) (per target, make fuzz; make test runs each $(FUZZ_CI_SECONDS)s),"
	@echo "           PYTHON=... (the tests' interpreter; default .build/venv/bin/python),"
	@echo "           BASE_PYTHON=$(BASE_PYTHON) (what .build/venv is made from)"

deps: ## install the missing test and benchmark tools (wrk, nginx, curl, jq, systemd-socket-activate, git), then `make venv`
	@bash .ci/deps.sh $(addprefix apt:,$(APT_TEST)) $(PY_TEST)

venv: ## make or update .build/venv from Tests/integration/requirements.txt (pytest, mcp, jsonschema, mcp-server-time, mcp-server-git)
	@bash .ci/deps.sh $(PY_TEST)

deps-bench: ## install what `make bench` needs (wrk, nginx, ps; .build/bench-venv and .build/bench-proxy-venv)
	@bash .ci/deps.sh $(addprefix apt:,$(APT_BENCH)) $(PY_BENCH)

deps-run: ## install what `make run` and the README walkthrough need (curl, jq)
	@bash .ci/deps.sh $(addprefix apt:,$(APT_RUN))

toolchain: ## check that the Swift toolchain is usable
	@command -v $(SWIFT) >/dev/null 2>&1 || { \
		echo "make: swift not found on PATH nor in $(SWIFT_BIN); install Swift 6.3 there or set SWIFT_BIN=" >&2; \
		exit 1; }

build: toolchain ## release build (.build/release/{mcpd,mcp-worker,mcpctl})
	$(SWIFT) build -c release

debug: toolchain ## debug build (.build/debug)
	$(SWIFT) build

run: deps-run build ## build and serve on 127.0.0.1:8000 with the defaults (extra flags: ARGS='...')
	exec .build/release/mcpd $(ARGS)

test: deps toolchain unit-security unit-test fuzz-ci integration-test ## the whole suite: the unit's hardening, Swift unit tests, a short fuzz run, then the integration tests

unit-test: toolchain
	$(SWIFT) build --build-tests
	$(SWIFT) test --skip-build

# systemd/mcpd.service must keep `systemd-analyze security` exposure at or below 2.0.
unit-security: ## check the systemd unit's hardening (systemd-analyze security, offline)
	bash .ci/unit-security.sh

# The integration tests run the real debug binaries found through MCPD_BIN_DIR.
integration-test: venv
	MCPD_BIN_DIR=$(CURDIR)/.build/debug $(PYTHON) -m pytest -q $(INTEGRATION_DIR) $(PYTEST_ARGS)

# --- fuzzing (Tests/Fuzz/README.md) ---------------------------------------------------------------
# Each target is compiled by swiftc straight from the module sources it exercises, with libFuzzer
# and AddressSanitizer (the toolchain's own); SwiftPM is not involved, so the fuzz builds can never
# disturb the normal ones. The JSON module is built once as a static library for the targets above it.
FUZZ_SECONDS ?= 300
FUZZ_CI_SECONDS ?= 20
FUZZ_TARGETS := http-request-parser jsonrpc worker-protocol
FUZZ_OUT := .build/fuzz
SWIFTC ?= swiftc
FUZZ_SWIFTC := $(SWIFTC) -sanitize=fuzzer,address -parse-as-library -O -g -use-ld=lld
JSON_SOURCES := $(wildcard Sources/JSON/*.swift)

$(FUZZ_OUT)/modules/libJSON.a: $(JSON_SOURCES)
	@mkdir -p $(@D)
	$(FUZZ_SWIFTC) -module-name JSON -emit-module -emit-module-path $(@D)/JSON.swiftmodule \
		-emit-library -static -o $@ $(JSON_SOURCES)

$(FUZZ_OUT)/http-request-parser: Tests/Fuzz/HTTPRequestParser/FuzzHTTPRequestParser.swift Sources/HTTP/HTTPRequest.swift Sources/HTTP/HTTPRequestParser.swift \
		Sources/HTTP/CommonFields.swift Sources/SystemCalls/ByteSearch.swift
	@mkdir -p $(@D)
	$(FUZZ_SWIFTC) -module-name FuzzHTTPRequestParser -o $@ $^

$(FUZZ_OUT)/jsonrpc: Tests/Fuzz/JSONRPC/FuzzJSONRPC.swift Sources/MCP/JSONRPC.swift Sources/MCP/ProtocolRevision.swift $(FUZZ_OUT)/modules/libJSON.a
	$(FUZZ_SWIFTC) -module-name FuzzJSONRPC -I $(FUZZ_OUT)/modules -o $@ $(filter %.swift,$^) $(FUZZ_OUT)/modules/libJSON.a

$(FUZZ_OUT)/worker-protocol: Tests/Fuzz/WorkerProtocol/FuzzWorkerProtocol.swift Sources/WorkerProtocol/WorkerMessage.swift Sources/Pool/ErrorPayload.swift $(FUZZ_OUT)/modules/libJSON.a
	$(FUZZ_SWIFTC) -module-name FuzzWorkerProtocol -I $(FUZZ_OUT)/modules -o $@ $(filter %.swift,$^) $(FUZZ_OUT)/modules/libJSON.a

fuzz-build: toolchain $(addprefix $(FUZZ_OUT)/,$(FUZZ_TARGETS))

fuzz: fuzz-build ## replay the fuzz regressions, then fuzz each target for FUZZ_SECONDS (default 300)
	@for target in $(FUZZ_TARGETS); do bash Tests/Fuzz/run.sh $$target $(FUZZ_SECONDS) || exit 1; done

# What `make test` runs: the regressions, then a short bounded fuzz of each target.
fuzz-ci: fuzz-build
	@for target in $(FUZZ_TARGETS); do bash Tests/Fuzz/run.sh $$target $(FUZZ_CI_SECONDS) || exit 1; done

bench: deps-bench build ## mcpd vs nginx, the Python SDK and mcp-proxy under wrk, plus one-shot figures (bench/run.sh; writes bench/RESULTS.md)
	bash bench/run.sh

install: build ## install binaries to PREFIX/bin (/usr/local/bin) and units to /etc/systemd/system (deploy/install.sh)
	$(SUDO) env PREFIX=$(PREFIX) BUILD_DIR=$(CURDIR)/.build/release bash deploy/install.sh

clean: ## remove build products (.build, with the venv) and benchmark output
	rm -rf .build bench/out .pytest_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
