# agentfeed-mock: `make run` serves the demo, `make test` runs every test, `make bench` measures.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test lint types bench soak clean venv docs warp-deps browser-deps

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=24"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

venv: $(STAMP)

run: $(STAMP)
	$(PY) -m mockserver serve --scenario demo $(ARGS)

lint: $(STAMP)
	$(PY) -m ruff check mockserver conformance tests bench tools
	$(PY) -m ruff format --check mockserver conformance tests bench tools

types: $(STAMP)
	$(PY) -m mypy

# Node clients for the tests (js/): reinstalled from the lock file when it changes.
JS_STAMP := js/node_modules/.installed

$(JS_STAMP): js/package.json js/package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: the Node client tests will be skipped or fail"; exit 0; }; \
		cd js && npm ci --no-audit --no-fund && touch node_modules/.installed

.PHONY: js-deps
js-deps: $(JS_STAMP)

# Time warp for the conformance runner (docs/timewarp.md): Debian's libfaketime, and a C compiler
# for the companion shim that conformance/warp builds on first use.
warp-deps:
	@ls /usr/lib/*/faketime/libfaketimeMT.so.1 >/dev/null 2>&1 || \
		{ echo "installing libfaketime (the time warp)"; export DEBIAN_FRONTEND=noninteractive; \
		  apt-get install -y -qq libfaketime >/dev/null 2>&1 || \
		  { apt-get update -qq && apt-get install -y -qq libfaketime >/dev/null; }; } || \
		{ echo "libfaketime is needed for the time warp: apt-get install libfaketime"; exit 2; }
	@command -v "$${CC:-cc}" >/dev/null || command -v gcc >/dev/null || \
		{ echo "a C compiler is needed to build the time-warp shim: apt-get install gcc"; exit 2; }

# A headless browser for the HTML report's test (tests/test_conformance_reports.py): Debian's chromium and
# a font for it to draw text with; nothing is downloaded but Debian packages.
BROWSER_PKGS := chromium fonts-dejavu-core
browser-deps:
	@{ command -v chromium >/dev/null && test -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf; } || \
		{ echo "installing $(BROWSER_PKGS) (the HTML report's test)"; export DEBIAN_FRONTEND=noninteractive; \
		  apt-get install -y -qq --no-install-recommends $(BROWSER_PKGS) >/dev/null 2>&1 || \
		  { apt-get update -qq && apt-get install -y -qq --no-install-recommends $(BROWSER_PKGS) >/dev/null; }; } || \
		{ echo "a headless chromium is needed for the HTML report's test: apt-get install $(BROWSER_PKGS)"; exit 2; }

test: $(STAMP) $(JS_STAMP) warp-deps browser-deps
	$(PY) -m ruff check mockserver conformance tests bench tools
	$(PY) -m mypy
	@# bytecode for the servers and clients the tests spawn: under PYTHONDONTWRITEBYTECODE (CI images set it)
	@# each process would compile the package again (~0.25 s a start)
	$(PY) -m compileall -q mockserver conformance fixtures
	@# two runs: most tests on two workers (they mostly wait on sockets and subprocesses); then, without
	@# xdist, the schemathesis tests (each operation of a schema test has the same node id, and xdist,
	@# which schedules by node id, would run one of them: tests/conftest.py refuses that) and the mutant
	@# matrix, which runs its cases in parallel itself and whose timing cases need the CPU they are given
	$(PY) -m pytest -n 2 --dist loadfile --ignore tests/test_conformance_matrix.py --ignore tests/test_fuzz_openapi.py
	$(PY) -m pytest tests/test_fuzz_openapi.py tests/test_conformance_matrix.py

# The long fuzz run (not part of `make test`): every fuzz test (tests/test_fuzz_*.py) randomised with many more
# examples (AGENTFEED_FUZZ=long; AGENTFEED_FUZZ_SCALE=0.2 for a shorter run, 4 for a longer one), then its figures.
.PHONY: fuzz
fuzz: $(STAMP)
	set -o pipefail; AGENTFEED_FUZZ=long $(PY) -m pytest tests/test_fuzz_*.py -p no:cacheprovider -o timeout=0 \
		--hypothesis-show-statistics -q $(ARGS) 2>&1 | tee .fuzz.log; status=$$?; \
		$(PY) tools/fuzz_summary.py < .fuzz.log; exit $$status

bench-deps:
	@command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk) || (echo "wrk is needed: apt-get install wrk" && exit 2)

bench: $(STAMP) bench-deps warp-deps
	$(PY) bench/cold_start.py
	$(PY) bench/run.py $(ARGS)
	$(PY) bench/ws_fanout.py $(WS_ARGS)
	$(PY) bench/sse_fanout.py $(SSE_ARGS)
	$(PY) bench/idle_conns.py $(IDLE_ARGS)
	$(PY) bench/disconnect.py $(DISCONNECT_ARGS)
	$(PY) bench/inprocess_rtt.py
	$(PY) bench/plugin_setup.py
	$(PY) bench/warp_hour.py

# The soak (bench/soak.py; not part of make test): ~1,000 clients of the five APIs for SOAK_MINUTES real minutes at
# x30 (five virtual hours in ten minutes), with the scenario's faults, reconnects and bursts; prints errors, RSS growth
# and, per API, what the clients counted against what the journal says each was sent. Exit 1 if any figure fails.
SOAK_MINUTES ?= 10
soak: $(STAMP)
	$(PY) bench/soak.py --minutes $(SOAK_MINUTES) $(ARGS)

# The README's generated tables: the journal kinds (from the catalogue) and the conformance rules
# (from the registry); tests keep them in step.
docs: $(STAMP)
	$(PY) tools/readme_tables.py


clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info
