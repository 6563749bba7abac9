# rankfeed — everything a newcomer runs. Each target sets up what it needs (venv, jars, services).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
RANKFEED := $(VENV)/bin/rankfeed
JARS := build/jars
PYTEST_ARGS ?=

.PHONY: help venv preflight jars tracker test-tracker chromium up down status demo test test-fast test-java lint submit bench bench-gateway bench-job bench-rerank wrk fuzz overload chaos clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 16

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is needed: install python3.11 (or set PYTHON=/path/to/python3.11)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 $(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed  ## create the virtual environment with rankfeed and its dev tools

$(JARS)/flink/.resolved: connectors/pom.xml
	@command -v mvn >/dev/null || { echo "Maven is needed to resolve the jars: install it (apt-get install maven)"; exit 1; }
	rm -rf $(JARS)/flink $(JARS)/plugins
	mvn -q -B -f connectors/pom.xml package
	touch $@

$(JARS)/kafka/.resolved: connectors/kafka/pom.xml
	@command -v mvn >/dev/null || { echo "Maven is needed to resolve the jars: install it (apt-get install maven)"; exit 1; }
	rm -rf $(JARS)/kafka
	mvn -q -B -f connectors/kafka/pom.xml package
	touch $@

FUNCTION_SOURCES := $(shell find connectors/functions/src -name '*.java') $(wildcard schemas/avro/*.avsc)
$(JARS)/job/rankfeed-flink-functions.jar: connectors/functions/pom.xml $(FUNCTION_SOURCES)
	@command -v mvn >/dev/null || { echo "Maven is needed to build the job's functions: install it (apt-get install maven)"; exit 1; }
	mvn -q -B -f connectors/functions/pom.xml package -DskipTests

jars: $(JARS)/flink/.resolved $(JARS)/kafka/.resolved $(JARS)/job/rankfeed-flink-functions.jar  ## resolve the broker and connector jars from Maven Central, build the job's functions

TRACKER := tracker
$(TRACKER)/node_modules/.installed: $(TRACKER)/package-lock.json
	@command -v npm >/dev/null || { echo "Node.js 20+ and npm are needed to build the tracker: install them (apt-get install nodejs npm)"; exit 1; }
	cd $(TRACKER) && npm ci --no-audit --no-fund
	touch $@

$(TRACKER)/dist/rankfeed.min.js: $(TRACKER)/node_modules/.installed $(TRACKER)/build.mjs $(wildcard $(TRACKER)/src/*.ts)
	cd $(TRACKER) && node build.mjs

tracker: $(TRACKER)/dist/rankfeed.min.js  ## build the browser tracker (tracker/dist) with esbuild

test-tracker: tracker  ## the tracker's type check, unit tests and 5 KB size check (node --test)
	cd $(TRACKER) && npx --no-install tsc --noEmit -p . && node --test test/

chromium:  ## check that Debian's Chromium is there for the browser tests (never downloaded by the tests)
	@test -x "$${RANKFEED_CHROMIUM:-/usr/bin/chromium}" || { echo "Chromium is needed for the browser tests: apt-get install -y chromium (or set RANKFEED_CHROMIUM)"; exit 1; }

up: venv jars  ## start the local Kafka broker and Flink cluster (idempotent)
	$(RANKFEED) local up

down: venv  ## stop the local stack
	$(RANKFEED) local down

status: venv  ## show the local stack
	$(RANKFEED) local status

submit: up  ## submit the pipeline's jobs (labelling, features, lake) to the local cluster with flink run -py
	$(RANKFEED) submit

preflight: venv  ## check Java 17+, Maven and free ports, in one sentence each
	$(RANKFEED) local check

demo: preflight jars tracker  ## run the whole pipeline locally on synthetic traffic and show the output
	$(RANKFEED) demo

lint: venv  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

test-java:  ## the JVM code's unit tests (Flink's operator test harness), a few seconds
	@command -v mvn >/dev/null || { echo "Maven is needed to test the job's JVM code: install it (apt-get install maven)"; exit 1; }
	mvn -q -B -f connectors/functions/pom.xml test

test: preflight jars lint test-java test-tracker chromium  ## lint, the JVM unit tests, then every test against the real broker and cluster
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: preflight jars lint test-java test-tracker chromium  ## the tests without the slow fault-injection ones
	$(PY) -m pytest -m 'not slow' $(PYTEST_ARGS)

fuzz: venv jars  ## 10,000 generated bodies, the nasty corpus and raw poison: never a 5xx, every refusal explained
	RANKFEED_FUZZ_EXAMPLES=10000 $(PY) -m pytest tests/gateway/test_fuzz.py tests/gateway/test_nasty.py tests/job/test_poison.py -p no:cacheprovider

overload: venv jars  ## the gateway at twice its measured capacity for 60 s: bounded memory, fast 503s, recovery
	$(PY) bench/overload.py

chaos: venv jars  ## six faults under load on a stack of its own: every acknowledged event exactly once
	$(PY) -m rankfeed.chaos

wrk:  ## the HTTP load generator of the gateway and re-rank benchmarks (Debian's wrk), installed when missing
	@command -v wrk >/dev/null || { command -v apt-get >/dev/null && apt-get install -y -q wrk >/dev/null; } \
		|| { echo "the HTTP benchmarks need wrk: install it (apt-get install wrk)"; exit 1; }

bench-gateway: venv jars wrk  ## gateway load benchmark beside a raw-producer baseline
	$(PY) bench/gateway.py

bench-job: venv jars  ## labelling job and whole pipeline throughput, freshness, beside their baselines
	$(PY) bench/job.py

bench-rerank: venv jars wrk  ## re-rank endpoint latency beside the in-process scorer
	$(PY) bench/rerank.py

bench: bench-gateway bench-job bench-rerank  ## every benchmark, then bench/results/latest.md, its plots and the README table
	$(PY) bench/report.py --readme README.md

clean: down  ## stop the stack and delete build output (jars, broker data, checkpoints)
	rm -rf build
