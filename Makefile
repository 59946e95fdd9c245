# The two commands of the README (demo, test). Each sets up .venv/ first (fast when already done).
PYTHON := .venv/bin/python
LINTED := mmconvnextv2 tools tests configs demo

.PHONY: setup setup-oldest setup-newest test test-fast test-compat test-newest lint demo

setup:
	@bash tools/setup_env.sh

# The oldest supported stack (torch 2.1) in .venv-oldest/, the package installed with pip -e.
setup-oldest:
	@bash tools/setup_env.sh --stack oldest

# The newest torch on PyPI in .venv-newest/, likewise (tried once per release, not in CI).
setup-newest:
	@bash tools/setup_env.sh --stack newest

# The full suite: what CI runs.
test: setup
	$(PYTHON) -m pytest -q

# The edit loop: everything but the tests that start real training runs.
test-fast: setup
	$(PYTHON) -m pytest -q -m "not slow"

# The fast suite on the oldest supported stack: what CI runs after `make test`.
test-compat: setup-oldest
	.venv-oldest/bin/python -m pytest -q -m "not slow"

test-newest: setup-newest
	.venv-newest/bin/python -m pytest -q -m "not slow"

lint: setup
	$(PYTHON) -m flake8 $(LINTED)
	$(PYTHON) -m isort --check-only --diff $(LINTED)

demo: setup
	$(PYTHON) tools/demo.py
