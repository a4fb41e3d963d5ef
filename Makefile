# AdvertiseX lakehouse. `make help` lists the targets.
# `make demo` and `make test` do whatever set-up is missing themselves (idempotent).

SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
AX := $(VENV)/bin/advertisex
STAMP := $(VENV)/.installed-$(shell cat setup.cfg requirements/constraints.txt | sha1sum | cut -c1-12)
PYTEST_ARGS ?=

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-16s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP):
	@command -v java >/dev/null || { echo "error: java (JDK 17) not found on PATH" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q -c requirements/constraints.txt -e '.[stack,test,quality,lint]'
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: system-packages $(STAMP) deps ## Debian packages for monitoring, .venv with pinned packages, JVM jars (Maven)

system-packages: ## install Prometheus, Alertmanager, Pushgateway, Chromium with apt-get when missing (as root)
	@bash scripts/system_packages.sh

deps: ## resolve JVM dependencies (Spark connectors, Delta, Kafka broker, Apicurio) into .deps/
	@bash deps/resolve.sh

lock: $(STAMP) ## re-pin requirements/constraints.txt from the current .venv
	@{ head -2 requirements/constraints.txt; $(PY) -m pip freeze --exclude-editable; } > requirements/constraints.tmp
	@mv requirements/constraints.tmp requirements/constraints.txt

stack-up: setup ## start the local Kafka broker, schema registry and (monitoring.enabled) Prometheus + Alertmanager
	$(AX) stack up

stack-down: ## stop the local stack
	@if [ -x $(AX) ]; then $(AX) stack down; fi

demo: setup ## start the stack and run the pipeline end to end on generated data
	bash scripts/demo.sh

test: setup ## run the whole test suite (starts its own broker, registry and monitoring on test ports)
	$(PY) -m pytest $(PYTEST_ARGS)

test-unit: setup ## the fast tier: tests/unit (no services; pure code and small in-memory DataFrames)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

test-lake: setup ## jobs and table I/O on real Delta tables in a temporary folder (no services)
	$(PY) -m pytest tests/lake $(PYTEST_ARGS)

test-crash: setup ## kill every job at every crash point (ADVERTISEX_CRASH_AT), rerun, compare with the truth
	$(PY) -m pytest -m crash_matrix $(PYTEST_ARGS)

package: $(STAMP) ## build dist/advertisex.zip for spark-submit --py-files (with conf/base.yaml and the GX project gx/)
	@mkdir -p dist && rm -f dist/advertisex.zip
	@cd src && ../$(PY) -m zipfile -c ../dist/advertisex.zip advertisex
	@$(PY) -c "import zipfile; zipfile.ZipFile('dist/advertisex.zip', 'a').write('conf/base.yaml', 'advertisex/_conf/base.yaml')"
	@$(PY) -c "import pathlib, zipfile; z = zipfile.ZipFile('dist/advertisex.zip', 'a'); [z.write(p, 'advertisex/_gx/' + str(p.relative_to('gx'))) for p in sorted(pathlib.Path('gx').rglob('*')) if p.is_file()]"
	@echo "dist/advertisex.zip"

notebook: $(STAMP) deps ## JupyterLab on notebooks/ in the project's environment (installs the notebook extra)
	$(PY) -m pip install -q -c requirements/constraints.txt -e '.[notebook]'
	$(VENV)/bin/jupyter lab notebooks/

lint: $(STAMP) ## ruff
	$(VENV)/bin/ruff check src jobs tests benchmarks scripts

clean: stack-down ## stop the stack, remove .run/, .deps/ and .venv/
	rm -rf .run .deps $(VENV) build dist src/*.egg-info .pytest_cache .ruff_cache spark-warehouse

.PHONY: help setup system-packages deps lock stack-up stack-down demo test test-unit test-lake test-crash package notebook lint clean
