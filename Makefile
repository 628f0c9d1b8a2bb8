# smlocal: every target does its own set-up (virtualenv, Docker engine, images), so a fresh
# machine needs only `make tune` / `make train` / `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SMLOCAL := $(BIN)/smlocal
export SMLOCAL_HOME ?= $(CURDIR)/.smlocal

.PHONY: venv docker images test-images tune train test test-unit test-integration lint bench clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,report]'
	touch $@

venv: $(BIN)/.installed

docker:
	bash containers/ensure-docker.sh

# Images build offline: the root image comes from a registry when one answers, else from
# debootstrap; every build after it is skipped when nothing it depends on changed.
images: venv docker
	bash containers/base/make-root.sh smlocal/root:bookworm
	$(SMLOCAL) build containers/python -t smlocal/python:3.11
	$(SMLOCAL) build containers/demo -t smlocal/demo:latest

test-images: images
	$(SMLOCAL) build containers/probe -t smlocal/probe:latest
	bash containers/toolkit/wheels.sh
	$(SMLOCAL) build containers/toolkit -t smlocal/toolkit-probe:latest

# The main demo: a tuning job (Bayesian search with early stopping, real containers); a new
# tuning job name each run. `smlocal describe NAME` and `smlocal trials NAME` read it back.
tune: images
	$(SMLOCAL) tune examples/demo-tuning-job.yaml --name demo-$$(date +%m%d-%H%M%S)

# The demo training job (linear regression on a small CSV); a new job name each run.
train: images
	$(SMLOCAL) train examples/demo-training-job.yaml --name demo-linear-$$(date +%Y%m%d-%H%M%S)

test: test-images lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

test-unit: venv
	$(BIN)/python -m pytest -q tests/unit

test-integration: test-images
	$(BIN)/python -m pytest -q tests/integration

lint: venv
	$(BIN)/ruff check runner tests benchmarks
	$(BIN)/mypy runner

bench: test-images
	$(BIN)/python benchmarks/trial_overhead.py
	$(BIN)/python benchmarks/parallel_efficiency.py
	$(BIN)/python benchmarks/search_quality.py

clean:
	rm -rf $(VENV) .smlocal
