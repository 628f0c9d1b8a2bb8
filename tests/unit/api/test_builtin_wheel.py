"""The built-in algorithms travel with an installed smlocal: a wheel is built from this
checkout (a copy of it, so no build/ or egg-info is left here), installed into a temporary
folder, and its CLI, run from another folder with nothing on its path pointing at the
checkout, fills in the NTM's MetricDefinitions and refuses a bad NTM hyperparameter.

Builds a wheel and installs it (offline: --no-build-isolation, --no-index): some seconds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.wheel

CHECKOUT = Path(__file__).resolve().parents[3]
# what a build reads (those that are here)
SOURCES = ["pyproject.toml", "setup.py", "README.md", "runner", "algorithms"]

TRAINING = """\
TrainingJobName: ntm-wheel
AlgorithmSpecification: {TrainingImage: "smlocal/ntm:latest", TrainingInputMode: File}
HyperParameters: {feature_dim: "500", num_topics: "20", optimizer: "OPTIMIZER"}
RoleArn: arn:aws:iam::123456789012:role/SageMakerRole
InputDataConfig:
  - ChannelName: train
    DataSource: {S3DataSource: {S3DataType: S3Prefix, S3Uri: "file://data/train"}}
OutputDataConfig: {S3OutputPath: "file://output"}
ResourceConfig: {InstanceType: ml.m5.large, InstanceCount: 1, VolumeSizeInGB: 10}
StoppingCondition: {MaxRuntimeInSeconds: 600}
"""

# No MetricDefinitions: the objective is valid only once the NTM's manifest fills them in.
TUNING = """\
HyperParameterTuningJobName: ntm-wheel
HyperParameterTuningJobConfig:
  Strategy: Random
  HyperParameterTuningJobObjective: {Type: Minimize, MetricName: "validation:total_loss"}
  ResourceLimits: {MaxNumberOfTrainingJobs: 2, MaxParallelTrainingJobs: 1}
  ParameterRanges:
    ContinuousParameterRanges:
      - {Name: learning_rate, MinValue: "0.0001", MaxValue: "0.1", ScalingType: Logarithmic}
TrainingJobDefinition:
  StaticHyperParameters: {feature_dim: "500", num_topics: "20"}
  AlgorithmSpecification: {TrainingImage: "smlocal/ntm:latest", TrainingInputMode: File}
  RoleArn: arn:aws:iam::123456789012:role/SageMakerRole
  InputDataConfig:
    - ChannelName: train
      DataSource: {S3DataSource: {S3DataType: S3Prefix, S3Uri: "file://data/train"}}
  OutputDataConfig: {S3OutputPath: "file://output"}
  ResourceConfig: {InstanceType: ml.m5.large, InstanceCount: 1, VolumeSizeInGB: 10}
  StoppingCondition: {MaxRuntimeInSeconds: 600}
"""


@dataclass(frozen=True)
class Installed:
    wheel: Path
    target: Path  # what `pip install --target` wrote
    work: Path  # the folder the CLI runs in, with the request files


def _run(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _checked(done: subprocess.CompletedProcess[str]) -> None:
    assert done.returncode == 0, f"{done.args}: rc={done.returncode}\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("wheel")
    src, dist, target, work = (root / name for name in ("src", "dist", "site", "work"))
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", "build", ".*_cache")
    for name in SOURCES:
        if not (CHECKOUT / name).exists():
            continue
        if (CHECKOUT / name).is_dir():
            shutil.copytree(CHECKOUT / name, src / name, ignore=junk)
        else:
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(CHECKOUT / name, src / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    _checked(_run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
                   "-w", str(dist), str(src)], cwd=root))
    (wheel,) = dist.glob("smlocal-*.whl")
    _checked(_run([*pip, "install", "--no-deps", "--no-index", "-q", "--target", str(target),
                   str(wheel)], cwd=root))
    (work / "data" / "train").mkdir(parents=True)
    (work / "data" / "train" / "part-0.csv").write_text("1,0,2\n", encoding="utf-8")
    (work / "ntm.yaml").write_text(TRAINING.replace("OPTIMIZER", "adam"), encoding="utf-8")
    (work / "ntm-bad.yaml").write_text(TRAINING.replace("OPTIMIZER", "lbfgs"), encoding="utf-8")
    (work / "ntm-tuning.yaml").write_text(TUNING, encoding="utf-8")
    return Installed(wheel, target, work)


def _holds_checkout(entry: str) -> bool:
    return (Path(entry) / "runner").resolve() == CHECKOUT / "runner"


def _python(installed: Installed, *args: str) -> subprocess.CompletedProcess[str]:
    """This interpreter with -S (no site-packages of its own, so no .pth file and no editable
    install's finder) and a path of the installed wheel, then this process's path (the
    dependencies) without the checkout."""
    paths = [str(installed.target)] + [p for p in sys.path if p and not _holds_checkout(p)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env.update(PYTHONPATH=os.pathsep.join(paths), PYTHONDONTWRITEBYTECODE="1",
               SMLOCAL_HOME=str(installed.work / ".smlocal"))
    return _run([sys.executable, "-S", *args], cwd=installed.work, env=env)


def _validate(installed: Installed, request: str) -> subprocess.CompletedProcess[str]:
    return _python(installed, "-m", "runner.interfaces.cli.main", "validate", "--no-image-check",
                   request)


def test_the_wheel_carries_the_algorithms_under_runner(installed: Installed) -> None:
    names = set(zipfile.ZipFile(installed.wheel).namelist())
    for name in ("ntm/manifest.json", "mlp/manifest.json", "common/hyperparameters.py",
                 "ntm/Dockerfile", "mlp/Dockerfile", "ntm/train.py", "__init__.py"):
        assert f"runner/algorithms/{name}" in names
    assert not [name for name in names if name.startswith("algorithms/")]  # no top-level package


def test_the_installed_runner_is_the_one_imported(installed: Installed) -> None:
    done = _python(installed, "-c", "import json, runner, runner.api.builtin as b, sys; "
                   "print(json.dumps([runner.__file__, str(b.ALGORITHMS_DIR), sys.path]))")
    _checked(done)
    runner_file, algorithms, path = json.loads(done.stdout)
    assert Path(runner_file).is_relative_to(installed.target)
    assert Path(algorithms) == (installed.target / "runner" / "algorithms").resolve()
    # the first `runner` on the path is the installed one, and the checkout's is not there
    runners = [p for p in path if (Path(installed.work, p) / "runner").is_dir()]
    assert runners[0] == str(installed.target)
    assert not [p for p in path if _holds_checkout(str(Path(installed.work, p)))]


def test_the_installed_cli_checks_ntm_hyperparameters(installed: Installed) -> None:
    good = _validate(installed, "ntm.yaml")
    assert (good.returncode, good.stdout.strip()) == (0, "valid"), good.stderr
    bad = _validate(installed, "ntm-bad.yaml")
    assert bad.returncode == 2, bad.stdout + bad.stderr
    assert "HyperParameters.optimizer: must be one of sgd, adam" in bad.stderr


def test_the_installed_cli_fills_in_ntm_metric_definitions(installed: Installed) -> None:
    done = _validate(installed, "ntm-tuning.yaml")
    assert (done.returncode, done.stdout.strip()) == (0, "valid"), done.stderr
    assert "MetricDefinitions" not in done.stderr
