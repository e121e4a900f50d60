# Two commands for a newcomer: `make run` and `make test`. Both set the project up on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: lock run test lint test-unit test-workflow test-integration test-e2e setup clean promtool docs chaos chromium bench image image-context

LOCK   := requirements.lock

# Every package from the lock file, each checked against its hashes (nothing unpinned or
# unhashed is installed, the build tools included), then the project itself from the source.
$(STAMP): pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes --no-deps -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e '.[dev]'
	touch $(STAMP)

## make lock: regenerate requirements.lock (everything, dev included) from pyproject.toml and
## requirements-build.in with pip-tools in a throwaway venv, then requirements-runtime.lock (what
## the image installs: no dev extras) constrained to the same versions; run it after changing a
## dependency, and commit the three files.
lock:
	@tmp=$$(mktemp -d) && $(PYTHON) -m venv $$tmp && $$tmp/bin/pip install --quiet pip-tools==7.6.2 \
	  && $$tmp/bin/pip-compile --quiet --extra dev --generate-hashes --allow-unsafe --strip-extras \
	       --no-emit-index-url --no-emit-find-links -o $(LOCK) pyproject.toml requirements-build.in \
	  && $$tmp/bin/pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras \
	       --no-emit-index-url --no-emit-find-links -c $(LOCK) -o requirements-runtime.lock \
	       pyproject.toml requirements-build.in; \
	  status=$$?; rm -rf $$tmp; exit $$status

setup: $(STAMP)

## make promtool: Prometheus' rule/config checker into .venv/bin, taken from Debian's `prometheus`
## package (apt-get download + dpkg-deb -x: no root, no daemon). Without apt it only warns; the
## monitoring tests then skip and say so.
$(BIN)/promtool: | $(STAMP)
	@tmp=$$(mktemp -d) && \
	if (cd $$tmp && apt-get download prometheus >/dev/null 2>&1 \
	    && dpkg-deb -x prometheus_*.deb root) \
	   && cp $$tmp/root/usr/bin/promtool $@ && chmod 0755 $@ && $@ --version >/dev/null 2>&1; then \
	  echo "promtool installed: $@"; \
	else \
	  rm -f $@; \
	  echo "WARNING: could not install promtool (needs apt-get download prometheus + dpkg-deb);" \
	       "the Prometheus rule tests will be skipped. Put a promtool binary at $@ or on PATH." >&2; \
	fi; \
	rm -rf $$tmp

promtool: $(BIN)/promtool

## make chromium: Debian's chromium, which the console's browser tests drive with Playwright
## (tests/e2e/test_console.py; Playwright downloads no browser). Installed with apt-get when
## missing (as root, or through sudo); without it those tests fail and say how to get it.
chromium:
	@if command -v chromium >/dev/null 2>&1; then exit 0; fi; \
	as_root=$$( [ "$$(id -u)" = 0 ] && echo "" || echo "sudo -n" ); \
	echo "installing Debian's chromium for the browser tests"; \
	$$as_root apt-get install -y -q chromium >/dev/null 2>&1 \
	  || { $$as_root apt-get update -q >/dev/null 2>&1 && $$as_root apt-get install -y -q chromium >/dev/null 2>&1; } \
	  || echo "WARNING: could not install chromium (apt-get install chromium, as root);" \
	          "the console's browser tests will fail until it is installed." >&2

## make run: the whole embedded stack (Temporal dev server + UI, simulators, worker, API)
run: $(STAMP)
	$(BIN)/withdraw-service dev

## make test: lint, then every test tier
test: $(STAMP) promtool chromium lint
	$(BIN)/pytest -ra

lint: $(STAMP)
	$(BIN)/ruff check src tests
	$(BIN)/ruff format --check src tests
	$(BIN)/mypy
	$(BIN)/hadolint deploy/image/Dockerfile

## make image: the container image, daemonless (buildah on a debootstrap-made Debian base), then
## a smoke test (--help, migrate twice against the local PostgreSQL); says SKIPPED where buildah
## is missing. make image-context: only the build context (.build/image), for any other builder.
image: $(STAMP)
	deploy/image/build.sh image
image-context: $(STAMP)
	deploy/image/build.sh context

test-unit: $(STAMP)
	$(BIN)/pytest -m unit
test-workflow: $(STAMP)
	$(BIN)/pytest -m workflow
test-integration: $(STAMP)
	$(BIN)/pytest -m integration
test-e2e: $(STAMP) chromium
	$(BIN)/pytest -m e2e

## make chaos: the full chaos run (docs/chaos.md): 1,000 withdrawals on a production-shaped stack
## while workers, the Temporal server, an API process and the database are broken. SEED=n replays.
CHAOS_ARGS ?= --n 1000 --concurrency 24
chaos: $(STAMP)
	$(BIN)/withdraw-service chaos $(CHAOS_ARGS) $(if $(SEED),--seed $(SEED)) --report .data/chaos-report.json

## make bench: withdrawals through the API against the bare withdraw shape on the same Temporal
## server, side by side (docs/performance.md); BENCH_ARGS adds options (e.g. --hold 10000).
BENCH_ARGS ?=
bench: $(STAMP)
	$(BIN)/withdraw-service bench --report .data/bench/report.json --plot .data/bench/latency.png $(BENCH_ARGS)

## make docs: docs/openapi.json generated from the app (tests/unit/test_docs.py checks it is current)
docs: $(STAMP)
	$(BIN)/withdraw-service openapi --out docs/openapi.json

clean:
	rm -rf $(VENV) .data .build .pytest_cache .mypy_cache .ruff_cache
