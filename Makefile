# The two commands a new user needs:
#   make demo   set everything up, run every scenario (NATS and AMQP) for every client
#               on the local backend, in as many jobs as the machine's noise allows
#               (--jobs auto); write reports/latest/
#   make test   the project's tests and the scenario suite, in parallel (.ci/run)

PY      := .venv/bin/python
HARNESS := .venv/bin/harness
PYTEST  := .venv/bin/pytest
WORKERS ?= 4
JOBS    ?= auto

.PHONY: setup setup-test demo test test-harness suite lint clean setup-compose engine engine-stop compose-local

setup:
	python3 scripts/setup.py

# The tests also need a browser (the HTML report is checked in headless Chromium).
setup-test:
	python3 scripts/setup.py --with-browser

demo: setup
	$(HARNESS) run 'nats.*' 'amqp.*' --jobs $(JOBS)

# Tests of the harness itself, then the scenario suite gated on scenarios/baseline.toml.
test: setup-test lint
	$(PYTEST) tests scenarios -n $(WORKERS) -m "not slow" --junitxml=reports/junit.xml

test-harness: setup-test
	$(PYTEST) tests -n $(WORKERS)

suite: setup
	$(PYTEST) scenarios -n $(WORKERS) --junitxml=reports/junit.xml

lint: setup
	.venv/bin/ruff check harness scenarios tests scripts benchmarks
	.venv/bin/ruff format --check harness scenarios tests scripts benchmarks
	# Every driver folder, by its language (tests/test_adding_a_client.py checks this covers them):
	# Python drivers are under harness/ (ruff above); Go: gofmt and go vet; JavaScript: node --check;
	# Rust: cargo fmt --check (clippy left out: it compiles every dependency once more).
	# Java: javac with every warning an error, against the jars the set-up built.
	for d in harness/drivers/*/go.mod; do (cd $$(dirname $$d) && test -z "$$(gofmt -l .)" && go vet ./...) || exit 1; done
	for f in harness/drivers/*/driver.js; do node --check $$f || exit 1; done
	for p in harness/drivers/*/pom.xml; do d=$$(dirname $$p); \
	  test -d ".tools/drivers/$$(basename $$d)" || { echo "lint: $$d skipped, the set-up left it out (no Maven)"; continue; }; \
	  o=$$(mktemp -d); \
	  javac -Xlint:all -Werror -proc:none -d $$o -cp ".tools/drivers/$$(basename $$d)/*" $$d/*.java; r=$$?; rm -rf $$o; test $$r = 0 || exit 1; done
	for d in harness/drivers/*/Cargo.toml; do (cd $$(dirname $$d) && cargo fmt --check) || exit 1; done
	cd harness/proxy && test -z "$$(gofmt -l .)" && go vet ./...

# The compose backend (opt-in). setup-compose builds the Compose CLI and toxiproxy-cli
# from their Go modules (about 2 min). On a machine without Docker, `engine` installs
# Podman (as root), serves the Docker API at .state/podman.sock and builds local images
# of the servers from the set-up's own binaries; nothing is pulled.
setup-compose: setup
	python3 scripts/setup.py --with-compose

engine: setup-compose
	python3 scripts/engine.py install
	python3 scripts/engine.py start
	python3 scripts/engine.py images

engine-stop:
	python3 scripts/engine.py stop

# The compose backend for real here: its tests, then the scenario suite on Podman
# with compose.local.yaml (the router's scenarios skip: no router binary here).
COMPOSE_ENV := DOCKER_HOST=unix://$(CURDIR)/.state/podman.sock HARNESS_COMPOSE_FILES=compose.local.yaml
compose-local: engine
	$(COMPOSE_ENV) $(PYTEST) tests/test_compose.py tests/test_compose_live.py
	$(COMPOSE_ENV) $(PYTEST) scenarios --backend compose -n $(WORKERS) --junitxml=reports/junit-compose.xml

clean:
	$(HARNESS) down || true
	rm -rf reports/runs reports/latest reports/suite reports/up reports/junit.xml
