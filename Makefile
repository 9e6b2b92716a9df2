# Workshop tasks. `make` (or `make help`) lists them.
#
# Recipes run from the repository root (use `make -C path/to/repo` from elsewhere).
# Targets that need PostgreSQL, Redis and Kafka on 127.0.0.1 start them first with
# scripts/services.sh (Docker if an engine runs, else Debian packages + tansu).

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help
# Prerequisites run in the order they are written (test: services lint test-rust …).
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

.PHONY: help services services-status clean-services run diff check exercise exercise-diff test-exercises test lint test-rust fmt

help: ## Show this help (the default target)
	@echo "Usage: make <target> [STEP=n]"
	@echo
	@echo "Targets:"
	@grep -hE '^[a-zA-Z0-9_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-16s %s\n", $$1, $$2}'
	@echo
	@echo "Variables:"
	@echo "  STEP=n           the step 'make run', 'make diff', 'make exercise' and 'make check' work on (steps/step<n>-*); default: $(STEP), the highest; available: $(strip $(STEPS))"
	@echo "  TEST=name        'make check' runs only the contract tests whose names contain it"
	@echo "  FORCE=1          'make exercise' makes a fresh copy even if you have one (yours is moved aside, not deleted)"
	@echo "  COLLECTOR=alloy  'make up' with Grafana Alloy instead of the OpenTelemetry Collector (default: otelcol)"
	@echo "  PYROSCOPE=1      'make up' also starts Pyroscope"
	@echo "  TALK=conference  'make slides' and 'make slides-build' show the conference cut (45 min, workshop-only slides hidden); default: workshop, every slide"
	@echo "  BOOK_PORT=3001   the port of 'make book' (3000 is Grafana's)"

services: ## Make PostgreSQL :5432, Redis :6379 and Kafka :9092 reachable on 127.0.0.1 (installs what is missing)
	@$(SERVICES) up

services-status: ## Show whether each service is reachable (fails if one is not)
	@$(SERVICES) status

clean-services: ## Stop the tansu Kafka broker that `make services` started
	@$(SERVICES) stop-kafka

run: ## Build and run step STEP: email-service in the background, user-service in front; Ctrl-C stops both
	@bash $(ROOT)/scripts/run-step.sh "$(STEP)"

diff: ## Show what step STEP adds to the step before it: a stat, then the code diff (new files in full, READMEs left out)
	@bash $(ROOT)/scripts/diff-step.sh "$(STEP)"

check: services ## Grade step STEP: its contract tests against your copy in exercises/ if you made one (make exercise), else against steps/; TEST=name runs only the tests whose names contain it
	@$(CARGO) run -q -p exercise --locked -- check "$(STEP)" $(TEST)

exercise: ## Make your copy of step STEP for the book's exercise: exercises/step<n>-*/ (git-ignored), the lesson's code replaced by TODO(exercise n); FORCE=1 starts again (the old copy is kept)
	@$(CARGO) run -q -p exercise --locked -- prepare "$(STEP)" $(if $(filter 1 true yes,$(FORCE)),--force)

exercise-diff: ## Show what your copy of step STEP (exercises/) changes against the solution (steps/): spoilers
	@$(CARGO) run -q -p exercise --locked -- diff "$(STEP)"

test-exercises: services ## Every exercise starter (made in target/exercise-selftest/) builds, fails its exercise's tests and says what to do next; with the solution put back, passes them
	@echo "==> test: exercise starters (crates/exercise)"
	$(CARGO) run -q -p exercise --locked -- selftest

test: services lint test-rust test-exercises test-slides test-book ## What CI runs: services, then lint, then the Rust tests, the exercise starters, the slide deck, then the book

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

.PHONY: bench
bench: services ## Measure every step against step 1 in one run (≤ 5 min; BENCH_QUICK=1: ≤ 40 s, for CI); writes bench/results/<date>-<commit>/
	$(CARGO) build --release --locked $(addprefix -p ,$(notdir $(wildcard $(ROOT)/steps/step*-*))) -p bench
	"$${CARGO_TARGET_DIR:-$(ROOT)/target}/release/bench" $(if $(filter 1 true yes,$(BENCH_QUICK)),--quick)

# --- the Docker stack (docker/, see docker/README.md) ------------------------------------------
# COLLECTOR=otelcol (default) or alloy; PYROSCOPE=1 adds Pyroscope. Without a Docker engine
# these fail at once and say so; `make services` starts the native dependencies instead.
STACK := bash $(ROOT)/docker/scripts/stack.sh
COLLECTOR ?= otelcol
export COLLECTOR PYROSCOPE

.PHONY: up down reset ps logs tail load otlp-smoke e2e stack-check

up: ## Start the LGTM stack + Postgres, Valkey, Kafka in Docker; wait until healthy; print the URLs (COLLECTOR=alloy, PYROSCOPE=1)
	@$(STACK) up

down: ## Stop the Docker stack (keeps its data volumes)
	@$(STACK) down

reset: ## Stop the Docker stack and delete its volumes (traces, logs, metrics, Grafana, Postgres)
	@$(STACK) reset

ps: ## Show the Docker stack's containers
	@$(STACK) ps

logs: ## Follow the Docker stack's logs (SERVICE=tempo for one; FOLLOW=0 to print and exit)
	@$(STACK) logs $(SERVICE)

tail: ## See a running step's traces, logs and metrics in the terminal, no Docker needed (OTLP on 127.0.0.1:4318/4317; ARGS="--service email-service", "--json", "--help")
	@$(CARGO) build -q -p otel-tail --locked
	@"$${CARGO_TARGET_DIR:-$(ROOT)/target}/debug/otel-tail" $(ARGS)

load: ## Send mixed traffic to a running user-service (URL=…, DURATION=30s or REQUESTS=n, CONCURRENCY=n, RATE=n requests/s)
	$(CARGO) run -p loadgen --release -- $(if $(URL),--url $(URL)) $(if $(DURATION),--duration $(DURATION)) $(if $(REQUESTS),--requests $(REQUESTS)) $(if $(CONCURRENCY),--concurrency $(CONCURRENCY)) $(if $(RATE),--rate $(RATE))

otlp-smoke: ## Send one span, metric point and log with curl to :4318, then find them in Tempo, Mimir and Loki
	@bash $(ROOT)/docker/scripts/otlp-smoke.sh

e2e: ## Run step STEP against the Docker stack under load; check traces, metrics, logs, service graph in the backends
	@bash $(ROOT)/docker/scripts/e2e.sh "$(STEP)"

stack-check: ## Static checks of docker/ (also part of `make test`): parse, references, ports, UIDs, metric names
	$(CARGO) test -p stack-check --locked

# --- the slide deck (slides/, see slides/README.md) -------------------------------------------
# Hugo (Debian's 0.111) renders reveal.js; reveal.js, mermaid and playwright-core come from npm
# (slides/package-lock.json). The browser test drives Debian's /usr/bin/chromium (CHROMIUM=…).
SLIDES := $(ROOT)/slides
HUGO ?= hugo
SLIDES_PORT ?= 1313
# Which cut of the deck: workshop (every slide) or conference (without the workshop-only ones).
TALK ?= $(or $(HUGO_PARAMS_TALK),workshop)

.PHONY: slides slides-build slides-pdf slides-deps test-slides

slides-deps: ## Install the deck's tools (hugo, node, chromium: apt) and npm packages (npm ci) unless present
	@bash $(ROOT)/scripts/slide-tools.sh
	@cd $(SLIDES) && if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then \
	  echo "==> slides: npm ci"; npm ci --no-audit --no-fund; fi

slides: slides-deps ## Present the talk: serve the deck with live reload on http://127.0.0.1:1313 (offline; S = speaker view; TALK=conference)
	cd $(SLIDES) && HUGO_PARAMS_TALK=$(TALK) $(HUGO) server --bind 127.0.0.1 --port $(SLIDES_PORT) --disableFastRender

slides-build: slides-deps ## Build the deck into slides/public/ (fails on a missing or empty code anchor; TALK=conference)
	@echo "==> slides: hugo build ($(TALK))"
	cd $(SLIDES) && HUGO_PARAMS_TALK=$(TALK) $(HUGO) --cleanDestinationDir --destination public

slides-pdf: slides-build ## Export the deck to slides/slides.pdf, one page per slide (headless Chromium, ?print-pdf)
	cd $(SLIDES) && node scripts/pdf.mjs public slides.pdf

test-slides: slides-build ## Build the deck, then test every slide in headless Chromium, and the PDF export
	@echo "==> test: slides (headless Chromium)"
	cd $(SLIDES) && node --test test/

# --- the workshop book (book/, see book/src/introduction.md) -----------------------------------
# mdBook, pinned in scripts/book-tools.sh (cargo install --locked into ~/.cargo/bin), renders
# book/src into book/build/; mermaid comes from the deck's npm packages, copied into book/theme/.
# crates/book-check checks what mdBook lets through (empty includes, broken links and anchors,
# stale generated pages) and regenerates book/src/generated/.
BOOK := $(ROOT)/book
BOOK_PORT ?= 3001
MDBOOK ?= mdbook
# where `cargo install` put mdbook, first on PATH for the book's recipes
BOOK_PATH := $(or $(CARGO_HOME),$(HOME)/.cargo)/bin:$(PATH)

.PHONY: book book-build book-deps book-gen test-book

book: book-deps ## Read the workshop book: serve it with live reload on http://127.0.0.1:3001 (BOOK_PORT=…; 3000 is Grafana)
	@echo "==> book: serving http://127.0.0.1:$(BOOK_PORT) with live reload (Ctrl-C stops)"
	@cd $(BOOK) && PATH="$(BOOK_PATH)" $(MDBOOK) serve --hostname 127.0.0.1 --port $(BOOK_PORT)

book-build: book-deps ## Build the book into book/build/ (static; open book/build/index.html); fails on any mdBook error
	@echo "==> book: mdbook build"
	@cd $(BOOK) && out=$$(PATH="$(BOOK_PATH)" $(MDBOOK) build 2>&1) || { printf '%s\n' "$$out"; exit 1; }; \
	printf '%s\n' "$$out"; \
	if grep -q 'ERROR' <<<"$$out"; then echo "==> error: mdBook reported an error (above)" >&2; exit 1; fi

test-book: book-build ## Build the book, then check it: includes give text, links and anchors resolve, generated pages are fresh
	@echo "==> test: book (crates/book-check)"
	$(CARGO) run -q -p book-check --locked -- built $(BOOK)/build
	$(CARGO) run -q -p book-check --locked -- check
	$(CARGO) test -q -p book-check --locked
	@if [ -f $(ROOT)/scripts/book-k8s-check.sh ]; then \
	  echo "==> test: book, production chapter (scripts/book-k8s-check.sh)"; bash $(ROOT)/scripts/book-k8s-check.sh; \
	else \
	  echo "==> book: scripts/book-k8s-check.sh is not there yet: the production chapter's Kubernetes checks are skipped"; \
	fi

book-gen: ## Write the book's generated pages again (book/src/generated/: make help, telemetry names, the latest bench run)
	$(CARGO) run -q -p book-check --locked -- generate

book-deps: ## Install the book's tools unless present: mdBook 0.5 (cargo install, pinned; ≈8½ min once), mermaid (from the deck's npm packages)
	@bash $(ROOT)/scripts/book-tools.sh
