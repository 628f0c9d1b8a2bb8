"""Tests for runner.contract.paths: the /opt/ml config files as pure functions."""

from __future__ import annotations

import json

from runner.contract import paths as files


def test_paths_follow_the_container_contract() -> None:
    assert files.CONFIG_DIR == "/opt/ml/input/config"
    assert files.DATA_DIR == "/opt/ml/input/data"
    assert files.MODEL_DIR == "/opt/ml/model"
    assert files.OUTPUT_DATA_DIR == "/opt/ml/output/data"
    assert files.FAILURE_FILE == "/opt/ml/output/failure"
    assert files.DEFAULT_CHECKPOINT_DIR == "/opt/ml/checkpoints"


def test_host_names() -> None:
    assert files.host_names(1) == ["algo-1"]
    assert files.host_names(3) == ["algo-1", "algo-2", "algo-3"]
    assert files.host_names(0) == []


def test_hyperparameters_json_is_an_object_of_strings() -> None:
    text = files.hyperparameters_json({"epochs": 3, "lr": 0.5, "name": "x"})  # type: ignore[dict-item]
    assert json.loads(text) == {"epochs": "3", "lr": "0.5", "name": "x"}


def test_hyperparameters_json_keeps_json_encoded_values_verbatim() -> None:
    # Framework estimators JSON-encode values; the toolkit json.loads each one.
    text = files.hyperparameters_json({"layers": "[1, 2]", "quoted": '"abc"'})
    assert json.loads(text) == {"layers": "[1, 2]", "quoted": '"abc"'}


def test_hyperparameters_json_of_none_is_an_empty_object() -> None:
    assert files.hyperparameters_json(None) == "{}"
    assert files.hyperparameters_json({}) == "{}"


def test_resource_config_single_host() -> None:
    assert files.resource_config("ml.m5.xlarge", ["algo-1"], "algo-1") == {
        "current_host": "algo-1",
        "current_instance_type": "ml.m5.xlarge",
        "current_group_name": "homogeneousCluster",
        "hosts": ["algo-1"],
        "instance_groups": [
            {
                "instance_group_name": "homogeneousCluster",
                "instance_type": "ml.m5.xlarge",
                "hosts": ["algo-1"],
            }
        ],
        "network_interface_name": "eth0",
    }


def test_resource_config_current_host_of_several() -> None:
    hosts = files.host_names(2)
    config = files.resource_config("ml.c5.xlarge", hosts, "algo-2")
    assert config["current_host"] == "algo-2"
    assert config["hosts"] == ["algo-1", "algo-2"]
    assert config["instance_groups"][0]["hosts"] == ["algo-1", "algo-2"]


def test_resource_config_copies_the_host_list() -> None:
    hosts = ["algo-1"]
    config = files.resource_config("ml.m5.xlarge", hosts, "algo-1")
    hosts.append("algo-2")
    assert config["hosts"] == ["algo-1"]
    assert config["instance_groups"][0]["hosts"] == ["algo-1"]
    assert config["hosts"] is not config["instance_groups"][0]["hosts"]


def test_input_data_config_defaults() -> None:
    channels = [
        {
            "ChannelName": "train",
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "file://x"}},
        }
    ]
    assert files.input_data_config(channels, "File") == {
        "train": {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
    }


def test_input_data_config_channel_values_win() -> None:
    channels = [
        {
            "ChannelName": "train",
            "ContentType": "text/csv",
            "InputMode": "FastFile",
            "RecordWrapperType": "RecordIO",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": "file://x",
                    "S3DataDistributionType": "ShardedByS3Key",
                }
            },
        },
        {"ChannelName": "validation", "ContentType": "", "DataSource": {}},
    ]
    assert files.input_data_config(channels, "File") == {
        "train": {
            "ContentType": "text/csv",
            "TrainingInputMode": "FastFile",
            "S3DistributionType": "ShardedByS3Key",
            "RecordWrapperType": "RecordIO",
        },
        # An empty ContentType is left out, as the service does.
        "validation": {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        },
    }


def test_input_data_config_no_channels() -> None:
    assert files.input_data_config([], "File") == {}


def test_failure_reason() -> None:
    assert files.failure_reason(None) is None
    assert files.failure_reason("") is None
    assert files.failure_reason("  \n\t") is None
    assert files.failure_reason("boom\n") == "boom\n"


def test_failure_reason_keeps_the_first_1024_characters() -> None:
    text = "a" * 1000 + "b" * 100
    reason = files.failure_reason(text)
    assert reason == "a" * 1000 + "b" * 24
    assert len(reason) == files.FAILURE_REASON_MAX == 1024


def test_checkpoint_dir() -> None:
    assert files.checkpoint_dir(None) == "/opt/ml/checkpoints"
    assert files.checkpoint_dir({"S3Uri": "s3://b/c"}) == "/opt/ml/checkpoints"
    assert files.checkpoint_dir({"S3Uri": "s3://b/c", "LocalPath": ""}) == "/opt/ml/checkpoints"
    assert files.checkpoint_dir({"S3Uri": "s3://b/c", "LocalPath": "/ckpt"}) == "/ckpt"
