# `make demo` and `make test` each create .venv and install the tested versions first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: install system-packages demo ruff lint test test-slow test-all bench clean

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

# Debian packages the tests use: poppler-utils (pdftotext, pdfinfo), chromium (the headless browser
# tests/report/test_browser.py lays the HTML out in), WeasyPrint's HarfBuzz and fonts, and
# dataset-fashion-mnist (the built-in pair's training data, for the slow retraining test)
DEBIAN_PACKAGES := poppler-utils libharfbuzz-subset0 fonts-dejavu-core dataset-fashion-mnist chromium

system-packages:
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq $(DEBIAN_PACKAGES)

demo: $(STAMP)
	$(VENV)/bin/rnnviz-report --preset fashion --classes sneaker,bag,ankle-boot --eps 0,0.05,0.1,0.2

ruff: $(STAMP)
	$(VENV)/bin/ruff check rnnviz tests benchmarks scripts
	$(VENV)/bin/ruff format --check rnnviz tests benchmarks scripts

lint: ruff
	$(VENV)/bin/mypy

# two workers (one torch thread each: tests/conftest.py), handing tests to whichever is free; mypy
# (one core, half a minute from a fresh clone) runs beside them and fills the time they wait
test: ruff
	$(VENV)/bin/mypy & mypy=$$!; $(PY) -m pytest -q -n 2 --dist worksteal; tests=$$?; wait $$mypy || exit 1; exit $$tests

# the long families (fuzzing at length, subprocess and signal runs, README examples, retraining): run by hand before a release
test-slow: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist worksteal -m slow

test-all: test test-slow

bench: $(STAMP)
	$(PY) benchmarks/bench_attack.py
	$(PY) benchmarks/bench_render.py
	$(PY) benchmarks/bench_attacks.py

clean:
	rm -rf $(VENV) build dist *.egg-info
