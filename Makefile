# Workshop tasks. `make` (or `make help`) lists them.
#
# Recipes run from the repository root (use `make -C path/to/repo` from elsewhere).
# Targets that need PostgreSQL, Redis and Kafka on 127.0.0.1 start them first with
# scripts/services.sh (Docker if an engine runs, else Debian packages + tansu).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# Prerequisites run in the order they are written (test: services lint test-rust).
.NOTPARALLEL:
MAKEFLAGS += --no-print-directory

ROOT := $(patsubst %/,%,$(dir $(abspath $(lastword $(MAKEFILE_LIST)))))

# rustup puts cargo in ~/.cargo/bin, which a non-login shell may not have on PATH.
ifeq ($(shell command -v cargo),)
export PATH := $(HOME)/.cargo/bin:$(PATH)
endif

CARGO ?= cargo
SERVICES := bash $(ROOT)/scripts/services.sh

# Steps are the directories steps/step<N>-<name>; STEP defaults to the highest N.
STEPS := $(shell ls -d $(ROOT)/steps/step*-* 2>/dev/null | sed -nE 's#^.*/step([0-9]+)-[^/]*$$#\1#p' | sort -n | tr '\n' ' ')
STEP ?= $(lastword $(STEPS))

.PHONY: help services services-status clean-services run test lint test-rust fmt

help: ## Show this help (the default target)
	@echo "Usage: make <target> [STEP=n]"
	@echo
	@echo "Targets:"
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'
	@echo
	@echo "Variables:"
	@echo "  STEP=n           the step 'make run' runs (steps/step<n>-*); default: $(STEP), the highest; available: $(strip $(STEPS))"

services: ## Make PostgreSQL :5432, Redis :6379 and Kafka :9092 reachable on 127.0.0.1 (installs what is missing)
	@$(SERVICES) up

services-status: ## Show whether each service is reachable (fails if one is not)
	@$(SERVICES) status

clean-services: ## Stop the tansu Kafka broker that `make services` started
	@$(SERVICES) stop-kafka

run: ## Build and run step STEP: email-service in the background, user-service in front; Ctrl-C stops both
	@bash $(ROOT)/scripts/run-step.sh "$(STEP)"

test: services lint test-rust ## What CI runs: services, then lint, then the Rust tests

lint: ## Check formatting (cargo fmt --check) and run clippy with warnings as errors
	@echo "==> lint: formatting (cargo fmt --check)"
	$(CARGO) fmt --all --check
	@echo "==> lint: clippy"
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

test-rust: services ## Run the workspace's Rust tests (needs the services)
	@echo "==> test: cargo test"
	$(CARGO) test --workspace --locked

fmt: ## Format all the Rust code
	$(CARGO) fmt --all
