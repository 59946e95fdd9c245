# The two commands of the README. Each sets up .venv/ first (fast when already done).
PYTHON := .venv/bin/python

.PHONY: setup test demo

setup:
	@bash tools/setup_env.sh

test: setup
	$(PYTHON) -m pytest -q

demo: setup
	$(PYTHON) tools/demo.py
