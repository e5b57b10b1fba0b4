# dualgate developer commands. `make demo` and `make test` work on a fresh machine
# with Python 3.11+ and access to the package index: they create .venv themselves.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# pytest-xdist workers for `make test` (auto: one per core; 0 runs in one process)
TEST_WORKERS ?= auto
# mypy cannot follow setuptools' editable-install import hook, so it checks a tree of
# links that has the installed layout (dualgate/compiler -> compiler/, ...).
TYPECHECK_TREE := build/typecheck

.PHONY: help demo test check docs lint clean

help:
	@echo "make demo   set up .venv, lint and compile the example policies, evaluate requests,"
	@echo "            diff an example against an edited copy"
	@echo "make test   set up .venv with dev extras and run the whole test suite with coverage, one worker per core (hypothesis profile ci)"
	@echo "make check  the quick tests: everything but the long property runs (under a minute)"
	@echo "make docs   rerun the console transcripts of README.md and docs/*.md and rewrite the stale ones"
	@echo "make lint   ruff and mypy"
	@echo "make clean  remove .venv and build artifacts"

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "dualgate needs Python 3.11 or newer: run make PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@ $(VENV)/.installed

BUNDLES := build/bundles
DEMO_POLICIES := infra payments coding-agent

demo: $(VENV)/.installed
	$(BIN)/dualgate lint policies/
	$(BIN)/dualgate fmt --check policies/
	@mkdir -p $(BUNDLES)
	@for name in $(DEMO_POLICIES); do \
		$(BIN)/dualgate compile policies/$$name.policy -o $(BUNDLES)/$$name.bundle.json || exit 1; \
	done
	$(BIN)/dualgate inspect $(BUNDLES)/infra.bundle.json
	@for name in $(DEMO_POLICIES); do \
		echo "\$$ dualgate eval $(BUNDLES)/$$name.bundle.json --input policies/requests/$$name.jsonl --format text"; \
		$(BIN)/dualgate eval $(BUNDLES)/$$name.bundle.json --input policies/requests/$$name.jsonl --format text || exit 1; \
	done
	$(BIN)/dualgate eval $(BUNDLES)/infra.bundle.json --explain \
		--topic infra.security_group.update --env production --cidr 203.0.113.7
	$(BIN)/dualgate diff policies/payments.policy policies/changes/payments.policy
	$(BIN)/dualgate test --fail-under rules=100 policies/
	@rm -f build/incident.tests.yaml
	@echo "\$$ dualgate test add build/incident.tests.yaml --policy policies/payments.policy --request ... --expect deny --source INC-4512"
	@$(BIN)/dualgate test add build/incident.tests.yaml --policy policies/payments.policy \
		--request '{"topic": "payments.refund.create", "env": "production", "cidr": "10.1.2.3"}' \
		--expect deny --source INC-4512; test $$? -eq 1
	$(BIN)/dualgate coverage policies/infra.policy --catalog policies/catalog.txt \
		--format html -o build/infra-coverage.html
	@echo "wrote the action-path map of infra.policy to build/infra-coverage.html"

test: $(VENV)/.installed-dev
	DUALGATE_HYPOTHESIS_PROFILE=$${DUALGATE_HYPOTHESIS_PROFILE:-ci} $(BIN)/python -m pytest \
		-n $(TEST_WORKERS) --dist worksteal --cov --cov-report= $(PYTEST_ARGS)
	$(BIN)/coverage report

check: $(VENV)/.installed-dev
	DUALGATE_HYPOTHESIS_PROFILE=check $(BIN)/python -m pytest -q -m "not slow" $(PYTEST_ARGS)

docs: $(VENV)/.installed-dev
	$(BIN)/python -m tests.docs_transcripts --update

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	@mkdir -p $(TYPECHECK_TREE)/dualgate
	@for pkg in compiler runtime schemas server; do ln -sfn ../../../$$pkg $(TYPECHECK_TREE)/dualgate/$$pkg; done
	MYPYPATH=$(TYPECHECK_TREE) $(BIN)/mypy -p dualgate.compiler -p dualgate.runtime -p dualgate.schemas -p dualgate.server

clean:
	rm -rf $(VENV) build .coverage .pytest_cache .mypy_cache .ruff_cache .hypothesis
