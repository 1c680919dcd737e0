# Everything a fresh clone needs: `make demo`, `make test`, `make lint`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU wheel of torch 2.13.0 is on disk; an unpinned torch would download CUDA builds.
TORCH := torch==2.13.0
STAMP := $(VENV)/.installed

.PHONY: venv assets browser demo test test-fast lint format clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH)
	$(PIP) install -q -e ".[test,data,gguf,serve,export,report,ray]" $(TORCH)
	touch $(STAMP)

assets: venv
	$(VENV)/bin/phalanx assets download

# Headless Chromium + chromedriver for the page test in tests/serve (skipped without them).
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  if command -v apt-get >/dev/null 2>&1; then \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null && apt-get install -y -q chromium chromium-driver >/dev/null; } || \
	    echo "could not install chromium: the browser test will be skipped"; \
	  else echo "no apt-get: the browser test will be skipped"; fi; \
	fi

# $(call tier,MARKS): pytest on the tests selected by MARKS; exit code 5 (no test
# collected) is not a failure.
tier = $(PY) -m pytest -q -m "$(1)" tests; rc=$$?; [ $$rc -eq 0 ] || [ $$rc -eq 5 ]

# The fast unit tier first, then the integration tier: both run, and either failing fails.
test: venv assets browser
	@$(call tier,not integration); unit=$$?; \
	$(call tier,integration); integration=$$?; \
	[ $$unit -eq 0 ] && [ $$integration -eq 0 ]

test-fast: venv
	@$(call tier,not integration)

demo: venv assets
	$(PY) examples/demo.py

lint: venv
	$(VENV)/bin/ruff check src tests benchmarks examples
	$(VENV)/bin/ruff format --check src tests benchmarks examples

format: venv
	$(VENV)/bin/ruff check --fix src tests benchmarks examples
	$(VENV)/bin/ruff format src tests benchmarks examples

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
