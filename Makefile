# The two commands a new user needs:
#   make demo   set everything up, run every scenario (NATS and AMQP) for every client
#               on the local backend, in four jobs; write reports/latest/
#   make test   the project's tests and the scenario suite, in parallel (.ci/run)

PY      := .venv/bin/python
HARNESS := .venv/bin/harness
PYTEST  := .venv/bin/pytest
WORKERS ?= 4

.PHONY: setup setup-test demo test test-harness suite lint clean

setup:
	python3 scripts/setup.py

# The tests also need a browser (the HTML report is checked in headless Chromium).
setup-test:
	python3 scripts/setup.py --with-browser

demo: setup
	$(HARNESS) run 'nats.*' 'amqp.*' --jobs $(WORKERS)

# Tests of the harness itself, then the scenario suite gated on scenarios/baseline.toml.
test: setup-test lint
	$(PYTEST) tests scenarios -n $(WORKERS) --junitxml=reports/junit.xml

test-harness: setup-test
	$(PYTEST) tests -n $(WORKERS)

suite: setup
	$(PYTEST) scenarios -n $(WORKERS) --junitxml=reports/junit.xml

lint: setup
	.venv/bin/ruff check harness scenarios tests scripts
	.venv/bin/ruff format --check harness scenarios tests scripts
	cd harness/drivers/nats_go && test -z "$$(gofmt -l .)" && go vet ./...

clean:
	$(HARNESS) down || true
	rm -rf reports/runs reports/latest reports/suite reports/up reports/junit.xml
