"""The /opt/ml layout: the three config files a training container reads, as pure functions.

What SageMaker writes under ``/opt/ml/input/config`` (see container-contract.md):
``hyperparameters.json`` (an object of strings), ``resourceconfig.json`` (the cluster as seen
from one host) and ``inputdataconfig.json`` (one entry per channel).
"""

from __future__ import annotations

import json
from typing import Any

OPT_ML = "/opt/ml"
INPUT_DIR = f"{OPT_ML}/input"
CONFIG_DIR = f"{INPUT_DIR}/config"
DATA_DIR = f"{INPUT_DIR}/data"
MODEL_DIR = f"{OPT_ML}/model"
OUTPUT_DIR = f"{OPT_ML}/output"
OUTPUT_DATA_DIR = f"{OUTPUT_DIR}/data"
FAILURE_FILE = f"{OUTPUT_DIR}/failure"
DEFAULT_CHECKPOINT_DIR = f"{OPT_ML}/checkpoints"
GROUP_NAME = "homogeneousCluster"
FAILURE_REASON_MAX = 1024


def host_names(count: int) -> list[str]:
    """``algo-1`` .. ``algo-N``, the hostnames SageMaker gives the hosts of a job."""
    return [f"algo-{i}" for i in range(1, count + 1)]


def hyperparameters_json(hyperparameters: dict[str, str] | None) -> str:
    """The request's HyperParameters as SageMaker writes them: a JSON object of strings."""
    return json.dumps({str(k): str(v) for k, v in (hyperparameters or {}).items()}, indent=None)


def resource_config(instance_type: str, hosts: list[str], current_host: str) -> dict[str, Any]:
    """resourceconfig.json for ``current_host`` of a homogeneous cluster."""
    return {
        "current_host": current_host,
        "current_instance_type": instance_type,
        "current_group_name": GROUP_NAME,
        "hosts": list(hosts),
        "instance_groups": [
            {
                "instance_group_name": GROUP_NAME,
                "instance_type": instance_type,
                "hosts": list(hosts),
            }
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(channels: list[dict[str, Any]], default_mode: str) -> dict[str, Any]:
    """inputdataconfig.json: per channel its ContentType (when given), TrainingInputMode,
    S3DistributionType and RecordWrapperType, as the service writes them."""
    out: dict[str, Any] = {}
    for channel in channels:
        entry: dict[str, Any] = {}
        if channel.get("ContentType"):
            entry["ContentType"] = channel["ContentType"]
        entry["TrainingInputMode"] = channel.get("InputMode") or default_mode
        s3 = channel.get("DataSource", {}).get("S3DataSource", {})
        entry["S3DistributionType"] = s3.get("S3DataDistributionType", "FullyReplicated")
        entry["RecordWrapperType"] = channel.get("RecordWrapperType", "None")
        out[channel["ChannelName"]] = entry
    return out


def failure_reason(failure_file_text: str | None) -> str | None:
    """The first 1024 characters of /opt/ml/output/failure, None when absent or blank."""
    if failure_file_text is None or not failure_file_text.strip():
        return None
    return failure_file_text[:FAILURE_REASON_MAX]


def checkpoint_dir(checkpoint_config: dict[str, Any] | None) -> str:
    return (checkpoint_config or {}).get("LocalPath") or DEFAULT_CHECKPOINT_DIR
