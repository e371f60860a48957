# The two commands: `make run` (local stack) and `make test` (everything CI runs).
# Both bootstrap first, so they work on a fresh Debian machine.
PYTHON := .venv/bin/python
PYTEST_ARGS ?=

.PHONY: run test bench clean-data

run:
	bash scripts/bootstrap.sh && $(PYTHON) scripts/run_local.py

test:
	bash scripts/bootstrap.sh && $(PYTHON) -m pytest $(PYTEST_ARGS)

bench:
	bash scripts/bootstrap.sh && $(PYTHON) -m bench

# Local engine data kept by `make run` between runs.
clean-data:
	rm -rf .local/dynamodb-data
