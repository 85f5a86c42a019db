# vcgw: two commands for a new user.
#   make run    serve the gateway on embedded defaults (first run makes a dev CA)
#   make test   install everything the tests need, then run them
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Debian packages the tests drive as real peers and dissectors.
TEST_DEBS := sip-tester tshark stunnel4 openssl
RUN_DEBS := openssl

.PHONY: run test test-unit test-interop lint bench clean-instance system-deps-run system-deps-test

$(VENV)/.run-installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ needed"' \
	  || { echo "error: vcgw needs Python 3.11 or newer ($(PYTHON) is older)"; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || $(MAKE) --no-print-directory _apt DEBS=python3-venv
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e .
	@touch $@

$(VENV)/.test-installed: $(VENV)/.run-installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@touch $@

# Installs missing Debian packages as root, else prints the exact command.
_apt:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "Installing Debian packages:$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get update -qq && apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "error: missing Debian packages. Run:  sudo apt-get install -y$$missing"; exit 1; \
	  fi; \
	fi

system-deps-run:
	@$(MAKE) --no-print-directory _apt DEBS="$(RUN_DEBS)"

system-deps-test:
	@$(MAKE) --no-print-directory _apt DEBS="$(TEST_DEBS)"

gateway.toml: | $(VENV)/.run-installed
	$(VENV)/bin/vcgw init --dir .

run: system-deps-run $(VENV)/.run-installed gateway.toml
	$(VENV)/bin/vcgw run --config gateway.toml

test: system-deps-test $(VENV)/.test-installed
	$(VENV)/bin/ruff check gateway tests
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -p no:cacheprovider

test-unit: $(VENV)/.test-installed
	$(PY) -m pytest -q -m "not interop" -p no:cacheprovider

lint: $(VENV)/.test-installed
	$(VENV)/bin/ruff check gateway tests
	$(VENV)/bin/mypy

bench: system-deps-test $(VENV)/.test-installed
	$(PY) -m pytest -q -s bench -p no:cacheprovider
