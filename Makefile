# smlocal: every target does its own set-up (virtualenv, Docker engine, images), so a fresh
# machine needs only `make tune` / `make train` / `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SMLOCAL := $(BIN)/smlocal
export SMLOCAL_HOME ?= $(CURDIR)/.smlocal

.PHONY: serve venv docker images algorithm-images data test-images test-faults tune tune-demo tune-mlp tune-mlp-bayes tune-hyperband train test test-unit test-integration lint bench bench-sdk sdk-v3 clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[test,report,algorithms]'
	touch $@

venv: $(BIN)/.installed

# The SageMaker Python SDK v3, which cannot share a virtualenv with the v2 the tests use: its
# own, for examples/sdk_model_trainer.py (and its test).
SDK3 := .venv-sdk3
$(SDK3)/bin/.installed:
	$(PYTHON) -m venv $(SDK3)
	$(SDK3)/bin/pip install --quiet --disable-pip-version-check 'sagemaker==3.27.0'
	touch $@

sdk-v3: $(SDK3)/bin/.installed

docker:
	bash containers/ensure-docker.sh

# Images build offline: the root image comes from a registry when one answers, else from
# debootstrap; every build after it is skipped when nothing it depends on changed.
images: venv docker
	bash containers/base/make-root.sh smlocal/root:bookworm
	$(SMLOCAL) build containers/python -t smlocal/python:3.11
	$(SMLOCAL) build containers/demo -t smlocal/demo:latest

test-images: algorithm-images data
	$(SMLOCAL) build containers/probe -t smlocal/probe:latest
	bash containers/toolkit/wheels.sh
	$(SMLOCAL) build containers/toolkit -t smlocal/toolkit-probe:latest

# The built-in algorithms (torch, offline wheelhouse) and their data (generated; digits
# from scikit-learn's bundled copy).
algorithm-images: images
	bash containers/torch/wheels.sh
	$(SMLOCAL) build containers/torch -t smlocal/torch:2.13.0
	$(SMLOCAL) build algorithms -f ntm/Dockerfile -t smlocal/ntm:latest
	$(SMLOCAL) build algorithms -f mlp/Dockerfile -t smlocal/mlp:latest

data: venv
	$(BIN)/python algorithms/ntm/make_data.py
	$(BIN)/python algorithms/mlp/make_data.py

# The main job: tune the Neural Topic Model with SageMaker's recommended ranges, then write
# the report (a new tuning job name each run).
tune: algorithm-images data
	name=ntm-$$(date +%m%d-%H%M%S); \
	$(SMLOCAL) tune examples/ntm-tuning-job.yaml --name $$name; status=$$?; \
	$(SMLOCAL) report $$name && $(BIN)/python benchmarks/topic_recovery.py --no-baseline --tuning-job $$name; \
	exit $$status

tune-mlp: algorithm-images data
	$(SMLOCAL) tune examples/mlp-grid-tuning-job.yaml --name mlp-grid-$$(date +%m%d-%H%M%S)

tune-mlp-bayes: algorithm-images data
	$(SMLOCAL) tune examples/mlp-bayesian-tuning-job.yaml --name mlp-bayes-$$(date +%m%d-%H%M%S)

tune-hyperband: algorithm-images data
	$(SMLOCAL) tune examples/mlp-hyperband-tuning-job.yaml --name mlp-hb-$$(date +%m%d-%H%M%S)

# The numpy demo (linear regression), Bayesian search with early stopping: seconds.
tune-demo: images
	$(SMLOCAL) tune examples/demo-tuning-job.yaml --name demo-$$(date +%m%d-%H%M%S)

# SageMaker's API on http://127.0.0.1:8899 for boto3 and SDK scripts (endpoint_url); Ctrl-C
# stops it, and the next start carries on with the jobs it was running.
serve: images
	$(SMLOCAL) serve

# The demo training job (linear regression on a small CSV); a new job name each run.
train: images
	$(SMLOCAL) train examples/demo-training-job.yaml --name demo-linear-$$(date +%Y%m%d-%H%M%S)

test: test-images lint sdk-v3
	$(BIN)/python -m pytest -q -p no:cacheprovider tests

# Faults injected for real (the engine stopped and started again); `make test` runs them too.
test-faults: test-images
	$(BIN)/python -m pytest -q tests/faults

test-unit: venv
	$(BIN)/python -m pytest -q tests/unit

test-integration: test-images
	$(BIN)/python -m pytest -q tests/integration

lint: venv
	$(BIN)/ruff check runner tests benchmarks examples setup.py
	$(BIN)/mypy runner
	$(BIN)/lint-imports

bench: test-images
	$(BIN)/python benchmarks/trial_overhead.py
	$(BIN)/python benchmarks/parallel_efficiency.py
	$(BIN)/python benchmarks/search_quality.py
	$(BIN)/python benchmarks/metric_scraping.py
	$(BIN)/python benchmarks/tuner_history.py

# The SDK's own local mode against smlocal serve; local mode needs docker-compose (Debian's).
bench-sdk: test-images
	command -v docker-compose >/dev/null || docker compose version >/dev/null 2>&1 || \
		{ apt-get update -qq && apt-get install -y -qq docker-compose; }
	$(BIN)/python benchmarks/sdk_local_mode.py

clean:
	rm -rf $(VENV) $(SDK3) .smlocal

# The demo request with s3:// paths, unchanged, against a moto server on the Docker bridge's
# gateway (reachable from here and from the container): seeds s3://smlocal-demo/demo/, runs the
# job (S3 channels, artifacts, checkpoints, CloudWatch logs and metrics), shows what it left.
.PHONY: train-s3
train-s3: images
	$(BIN)/python examples/s3_demo.py
