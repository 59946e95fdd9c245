# The two commands of the README (demo, test). Each sets up .venv/ first (fast when already done).
PYTHON := .venv/bin/python
LINTED := mmconvnextv2 tools tests configs

.PHONY: setup test test-fast lint demo

setup:
	@bash tools/setup_env.sh

# The full suite: what CI runs.
test: setup
	$(PYTHON) -m pytest -q

# The edit loop: everything but the tests that start real training runs.
test-fast: setup
	$(PYTHON) -m pytest -q -m "not slow"

lint: setup
	$(PYTHON) -m flake8 $(LINTED)
	$(PYTHON) -m isort --check-only --diff $(LINTED)

demo: setup
	$(PYTHON) tools/demo.py
