"""``smlocal tune SPEC --rehearse`` with real containers: a trial per corner of the search
space finds the planted out-of-memory corner, the crash and the silent one."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.integration.conftest import PROBE


def test_a_rehearsal_finds_the_corners_that_would_fail(tmp_path: Path, data_dir: Path) -> None:
    request = {
        "HyperParameterTuningJobName": "rehearsed",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 20, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "interval", "MinValue": "0.01",
                                               "MaxValue": "0.05"}],
                # the probe's modes: metrics prints the objective, oom allocates until the
                # instance type's 4 GiB are gone, exit crashes, sleep prints nothing
                "CategoricalParameterRanges": [{"Name": "mode",
                                                "Values": ["metrics", "oom", "exit", "sleep"]}]}},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"lines": json.dumps([f"loss={v}" for v in (3, 2, 1)] * 50)},
            "AlgorithmSpecification": {"TrainingImage": PROBE, "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "loss",
                                                              "Regex": "loss=(\\S+)"}]},
            "RoleArn": "arn:aws:iam::123456789012:role/SageMakerRole",
            "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"file://{data_dir}/train"}}}],
            "OutputDataConfig": {"S3OutputPath": f"file://{tmp_path}/out"},
            "ResourceConfig": {"InstanceType": "ml.t3.medium", "InstanceCount": 1,
                               "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600}},
        "Local": {"StopGracePeriodSeconds": 2},
    }
    spec = tmp_path / "tuning.yaml"
    spec.write_text(yaml.safe_dump(request))
    home = tmp_path / "home"
    done = subprocess.run(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), "tune",
         str(spec), "--rehearse", "--rehearse-seconds", "20"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    rows = {cells[0]: cells for cells in (re.split(r"\s{2,}", line)
                                          for line in done.stdout.splitlines()[1:])}
    assert [rows[f"rehearsed-rehearse-0{k}"][1] for k in range(1, 5)] == [
        "ok", "out of memory", "crashed", "too slow"], done.stdout
    assert rows["rehearsed-rehearse-01"][3].startswith("objective 3 after")
    assert "mode=oom" in rows["rehearsed-rehearse-02"][2]
    assert "exit code 137" in rows["rehearsed-rehearse-02"][3]
    assert "smlocal: rehearsal: 1 of 4 corner(s) ok" in done.stderr
    # its own jobs; the tuning job was never created
    listed = subprocess.run(
        [sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home), "describe",
         "rehearsed"], capture_output=True, text=True, timeout=60, check=False)
    assert listed.returncode == 2
