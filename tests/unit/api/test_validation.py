"""Tests for runner.api.validation: CreateTrainingJob requests, locally and for the cloud."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from runner.api import validation
from runner.core.problems import Problem
from runner.core.specs import BuildOptions, LocalOptions, Spec, spec_from_dict

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"
TRAIN_URI = "InputDataConfig[0].DataSource.S3DataSource.S3Uri"
VALID_URI = "InputDataConfig[1].DataSource.S3DataSource.S3Uri"
S3_PATTERN = "must match (https|s3)://([^/]+)/?(.*)"


def channel(name: str, uri: str, **extra: Any) -> dict[str, Any]:
    return {
        "ChannelName": name,
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}},
        **extra,
    }


@pytest.fixture
def base(tmp_path: Path) -> Path:
    (tmp_path / "data" / "train").mkdir(parents=True)
    (tmp_path / "data" / "validation").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def request_(base: Path) -> dict[str, Any]:
    """A valid local request: file:// channels (one relative, one absolute), no RoleArn."""
    return {
        "TrainingJobName": "demo-1",
        "AlgorithmSpecification": {
            "TrainingImage": "smlocal/demo:latest",
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "train:loss", "Regex": r"loss=(\S+)"}],
        },
        "HyperParameters": {"epochs": "2"},
        "InputDataConfig": [
            channel("train", "file://data/train"),
            channel("validation", f"file://{base}/data/validation"),
        ],
        "OutputDataConfig": {"S3OutputPath": "file://out"},
        "ResourceConfig": {"InstanceType": "local", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def validate(request: dict[str, Any], base: Path, **kwargs: Any) -> list[tuple[str, str]]:
    return [(p.path, p.message)
            for p in validation.validate_training(spec_from_dict(request, base), **kwargs)]


def test_valid_local_request(request_: dict[str, Any], base: Path) -> None:
    assert validate(request_, base) == []


@pytest.mark.parametrize("itype", ["local", "local_gpu", "ml.m5.large", "ml.g5.xlarge"])
def test_valid_instance_types_locally(request_: dict[str, Any], base: Path, itype: str) -> None:
    request_["ResourceConfig"]["InstanceType"] = itype
    assert validate(request_, base) == []


def test_gpu_type_valid_in_the_cloud_but_not_in_the_table_runs_locally(
    request_: dict[str, Any], base: Path
) -> None:
    request_["ResourceConfig"]["InstanceType"] = "ml.g6e.xlarge"
    assert validate(request_, base) == []


def test_a_file_as_channel_is_fine(request_: dict[str, Any], base: Path) -> None:
    (base / "data" / "one.csv").write_text("1,2\n")
    request_["InputDataConfig"][0] = channel("train", "file://data/one.csv")
    assert validate(request_, base) == []


def test_validation_does_not_change_the_request(request_: dict[str, Any], base: Path) -> None:
    before = copy.deepcopy(request_)
    validate(request_, base)
    validate(request_, base, for_cloud=True)
    assert request_ == before


def test_for_cloud_reports_role_file_uris_and_local_instance_type(
    request_: dict[str, Any], base: Path
) -> None:
    problems = validate(request_, base, for_cloud=True)
    cloud_only = "file:// paths work only locally; the cloud needs an s3:// URI"
    # one message a field: ours, which says why, replaces the service model's at that path
    assert problems == [
        (TRAIN_URI, cloud_only),
        (VALID_URI, cloud_only),
        ("OutputDataConfig.S3OutputPath", cloud_only),
        ("ResourceConfig.InstanceType",
         "'local' works only locally; the cloud needs an ml.* instance type"),
        ("RoleArn", "is required by the cloud"),
    ]


def test_for_cloud_accepts_a_cloud_request(request_: dict[str, Any], base: Path) -> None:
    request_["RoleArn"] = ROLE
    request_["InputDataConfig"] = [channel("train", "s3://bucket/train"), channel("validation", "s3://bucket/val")]
    request_["OutputDataConfig"] = {"S3OutputPath": "s3://bucket/out"}
    request_["ResourceConfig"]["InstanceType"] = "ml.m5.xlarge"
    request_["ResourceConfig"]["InstanceCount"] = 12  # more hosts are fine in the cloud
    request_["InputDataConfig"][0]["InputMode"] = "Pipe"  # and Pipe mode
    assert validate(request_, base, for_cloud=True) == []
    # ... and locally too (s3:// paths and Pipe mode), but for the number of hosts.
    assert validate(request_, base) == [
        ("ResourceConfig.InstanceCount",
         "smlocal runs at most 8 hosts locally, each a container on this machine (got 12)"),
    ]


def test_duplicate_channel_names(request_: dict[str, Any], base: Path) -> None:
    request_["InputDataConfig"].append(channel("train", "file://data/validation"))
    request_["InputDataConfig"].append(channel("train", "file://data/train"))
    assert validate(request_, base) == [
        ("InputDataConfig[2].ChannelName",
         "duplicate channel name 'train' (also InputDataConfig[0])"),
        ("InputDataConfig[3].ChannelName",
         "duplicate channel name 'train' (also InputDataConfig[0])"),
    ]


def test_missing_channel_folder(request_: dict[str, Any], base: Path) -> None:
    request_["InputDataConfig"][1] = channel("validation", "file://data/nope")
    assert validate(request_, base) == [
        (VALID_URI, f"no such file or folder: {(base / 'data' / 'nope').resolve()}"),
    ]


def test_output_and_checkpoint_folders_need_not_exist(request_: dict[str, Any], base: Path) -> None:
    request_["OutputDataConfig"] = {"S3OutputPath": "file://not/yet"}
    request_["CheckpointConfig"] = {"S3Uri": "file://ckpt/not/yet"}
    assert validate(request_, base) == []


def test_checkpoint_s3_uri_accepted_locally(request_: dict[str, Any], base: Path) -> None:
    request_["CheckpointConfig"] = {"S3Uri": "s3://bucket/ckpt"}
    assert validate(request_, base) == []


def test_augmented_manifest_refused_locally(request_: dict[str, Any], base: Path) -> None:
    request_["InputDataConfig"][0] = channel("train", "s3://bucket/train.manifest")
    request_["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] = (
        "AugmentedManifestFile")
    request_["InputDataConfig"][0]["DataSource"]["S3DataSource"]["AttributeNames"] = ["source-ref"]
    assert validate(request_, base) == [
        ("InputDataConfig[0].DataSource.S3DataSource.S3DataType",
         "AugmentedManifestFile is not supported locally (S3Prefix and ManifestFile are)"),
    ]


FSX = {"FileSystemId": "fs-12345678", "FileSystemAccessMode": "ro", "FileSystemType": "FSxLustre",
       "DirectoryPath": "/fsx/train"}


def test_file_system_data_source_refused_locally_not_for_the_cloud(
    request_: dict[str, Any], base: Path
) -> None:
    request_["InputDataConfig"][0]["DataSource"] = {"FileSystemDataSource": dict(FSX)}
    assert validate(request_, base) == [
        ("InputDataConfig[0].DataSource.FileSystemDataSource",
         "EFS and FSx for Lustre file systems are not supported locally; use S3DataSource with an "
         "s3:// or file:// URI"),
    ]
    assert not [p for p in validate(request_, base, for_cloud=True)
                if p[0].startswith("InputDataConfig[0]")]


def test_data_source_needs_exactly_one_source(request_: dict[str, Any], base: Path) -> None:
    request_["InputDataConfig"][0]["DataSource"] = {}
    assert (validate(request_, base)
            == [("InputDataConfig[0].DataSource", "needs S3DataSource or FileSystemDataSource")])
    request_["InputDataConfig"][0] = channel("train", "s3://bucket/train")
    request_["InputDataConfig"][0]["DataSource"]["FileSystemDataSource"] = dict(FSX)
    assert validate(request_, base, for_cloud=True)[:1] == [
        ("InputDataConfig[0].DataSource", "give S3DataSource or FileSystemDataSource, not both"),
    ]


def test_shuffle_config_is_accepted(request_: dict[str, Any], base: Path) -> None:
    request_["InputDataConfig"][0]["ShuffleConfig"] = {"Seed": 7}
    assert validate(request_, base) == []


def test_file_manifest_refused(request_: dict[str, Any], base: Path) -> None:
    request_["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3DataType"] = "ManifestFile"
    assert validate(request_, base) == [
        ("InputDataConfig[0].DataSource.S3DataSource.S3DataType",
         "ManifestFile needs an s3:// manifest (a file:// channel is a folder or a file)"),
    ]


def test_uri_that_is_neither_s3_nor_file(request_: dict[str, Any], base: Path) -> None:
    request_["OutputDataConfig"] = {"S3OutputPath": "/tmp/out"}
    assert validate(request_, base) == [
        ("OutputDataConfig.S3OutputPath", "must be an s3:// URI (or file:// to run locally)"),
    ]


def test_metric_regex_without_group_and_one_that_does_not_compile(
    request_: dict[str, Any], base: Path
) -> None:
    request_["AlgorithmSpecification"]["MetricDefinitions"] = [
        {"Name": "ok", "Regex": r"ok=(\S+)"},
        {"Name": "nogroup", "Regex": r"loss=\S+"},
        {"Name": "broken", "Regex": r"loss=(\S+"},
    ]
    problems = validate(request_, base)
    assert [p for p, _ in problems] == [
        "AlgorithmSpecification.MetricDefinitions[1].Regex",
        "AlgorithmSpecification.MetricDefinitions[2].Regex",
    ]
    assert problems[0][1].startswith("has no capture group")
    assert problems[1][1].startswith("does not compile: ")


def test_metric_problem_paths_keep_the_request_indexes(
    request_: dict[str, Any], base: Path
) -> None:
    # An entry that is not a mapping must not shift the index of the entries after it.
    request_["AlgorithmSpecification"]["MetricDefinitions"] = [
        "loss=(\\S+)",
        {"Name": "nogroup", "Regex": "x"},
    ]
    assert [p for p, _ in validate(request_, base)] == [
        "AlgorithmSpecification.MetricDefinitions[0]",  # the service model's type error
        "AlgorithmSpecification.MetricDefinitions[1].Regex",
    ]
    assert validate(request_, base)[0][1] == "must be a dict, got str"


def test_duplicate_metric_name(request_: dict[str, Any], base: Path) -> None:
    request_["AlgorithmSpecification"]["MetricDefinitions"].append({"Name": "train:loss",
                                                                    "Regex": "l=(.*)"})
    assert validate(request_, base) == [
        (
            "AlgorithmSpecification.MetricDefinitions[1].Name",
            "duplicate metric name 'train:loss' (already used by "
            "AlgorithmSpecification.MetricDefinitions[0])",
        )
    ]


def test_pipe_mode_is_fine_locally(request_: dict[str, Any], base: Path) -> None:
    request_["InputDataConfig"][1]["InputMode"] = "Pipe"
    request_["InputDataConfig"][1]["CompressionType"] = "Gzip"
    assert validate(request_, base) == []


def test_fastfile_mode_is_fine_locally(request_: dict[str, Any], base: Path) -> None:
    request_["InputDataConfig"][1]["InputMode"] = "FastFile"
    assert validate(request_, base) == []


def test_several_hosts_run_locally_up_to_the_cap(request_: dict[str, Any], base: Path) -> None:
    request_["ResourceConfig"]["InstanceCount"] = 8
    assert validate(request_, base) == []
    request_["ResourceConfig"]["InstanceCount"] = 9
    assert validate(request_, base) == [
        ("ResourceConfig.InstanceCount",
         "smlocal runs at most 8 hosts locally, each a container on this machine (got 9)"),
    ]


@pytest.mark.parametrize("for_cloud", [False, True])
def test_instance_count_zero_refused(request_: dict[str, Any], base: Path, for_cloud: bool) -> None:
    request_["ResourceConfig"]["InstanceCount"] = 0
    if for_cloud:
        request_["ResourceConfig"]["InstanceType"] = "ml.m5.large"
        request_["RoleArn"] = ROLE
        problems = [p for p in validate(request_, base, for_cloud=True)
                    if p[0].startswith("ResourceConfig")]
    else:
        problems = validate(request_, base)
    assert problems == [("ResourceConfig.InstanceCount", "must be at least 1")]


def test_negative_instance_count_reported_once(request_: dict[str, Any], base: Path) -> None:
    request_["ResourceConfig"]["InstanceCount"] = -1
    assert (validate(request_, base)
            == [("ResourceConfig.InstanceCount", "must be at least 0 (got -1)")])


def test_unknown_ml_instance_type(request_: dict[str, Any], base: Path) -> None:
    request_["ResourceConfig"]["InstanceType"] = "ml.m99.large"
    problems = validate(request_, base)
    assert [p for p, _ in problems] == ["ResourceConfig.InstanceType"]
    # The service model's enum refuses it ...
    assert problems[0][1].startswith("must be one of ml.m4.xlarge, ")
    assert problems[0][1].endswith("(got 'ml.m99.large'); did you mean 'ml.m5.large'?")


def test_cloud_type_smlocal_does_not_know(request_: dict[str, Any], base: Path) -> None:
    request_["ResourceConfig"]["InstanceType"] = "ml.trn1.2xlarge"  # in the service model's enum
    assert validate(request_, base) == [
        (
            "ResourceConfig.InstanceType",
            "unknown instance type 'ml.trn1.2xlarge' (smlocal knows local, local_gpu and the "
            "common ml.* types)",
        )
    ]
    request_["RoleArn"] = ROLE
    request_["InputDataConfig"] = [channel("train", "s3://b/t")]
    request_["OutputDataConfig"] = {"S3OutputPath": "s3://b/o"}
    assert validate(request_, base, for_cloud=True) == []


def test_instance_groups_refused_locally(request_: dict[str, Any], base: Path) -> None:
    rc = request_["ResourceConfig"]
    del rc["InstanceType"], rc["InstanceCount"]
    rc["InstanceGroups"] = [{"InstanceType": "ml.m5.large", "InstanceCount": 1,
                             "InstanceGroupName": "g"}]
    assert validate(request_, base) == [
        ("ResourceConfig.InstanceGroups", "heterogeneous clusters are not supported locally"),
    ]


def test_training_image_required(request_: dict[str, Any], base: Path) -> None:
    del request_["AlgorithmSpecification"]["TrainingImage"]
    assert validate(request_, base) == [
        ("AlgorithmSpecification.TrainingImage",
         "is required (AlgorithmName is not supported locally)"),
    ]


def test_service_model_problems_are_reported_with_their_paths(
    request_: dict[str, Any], base: Path
) -> None:
    request_["HyperParameters"] = {"epochs": 2}
    request_["StoppingCondition"]["MaxRuntimeInSecond"] = 5
    del request_["TrainingJobName"]
    assert [p for p, _ in validate(request_, base)] == [
        "HyperParameters.epochs",
        "StoppingCondition.MaxRuntimeInSecond",
        "TrainingJobName",
    ]


def test_image_check_false_reports_the_image(request_: dict[str, Any], base: Path) -> None:
    asked: list[str] = []

    def image_check(image: str) -> bool:
        asked.append(image)
        return False

    assert validate(request_, base, image_check=image_check) == [
        (
            "AlgorithmSpecification.TrainingImage",
            "image 'smlocal/demo:latest' is not in the local Docker engine and no Local.Build is "
            "given to build it",
        )
    ]
    assert asked == ["smlocal/demo:latest"]


def test_image_check_true_is_fine(request_: dict[str, Any], base: Path) -> None:
    assert validate(request_, base, image_check=lambda image: True) == []


def test_image_check_skipped_when_local_build_is_given(
    request_: dict[str, Any], base: Path
) -> None:
    def image_check(image: str) -> bool:
        raise AssertionError("must not be asked")

    spec = Spec(
        request=request_,
        local=LocalOptions(build=BuildOptions(context=base)),
        base_dir=base,
    )
    assert validation.validate_training(spec, image_check=image_check) == []


def test_problems_are_sorted_and_unique(request_: dict[str, Any], base: Path) -> None:
    request_["InputDataConfig"][1] = channel("train", "file://data/nope")
    request_["ResourceConfig"]["InstanceCount"] = 9
    problems = validation.validate_training(spec_from_dict(request_, base))
    assert problems == sorted(set(problems))
    assert [p.path for p in problems] == [
        "InputDataConfig[1].ChannelName",
        VALID_URI,
        "ResourceConfig.InstanceCount",
    ]


def test_check_training_semantics_with_a_prefix(request_: dict[str, Any], base: Path) -> None:
    request_["InputDataConfig"].append(channel("train", "file://data/train"))
    request_["ResourceConfig"]["InstanceCount"] = 0
    spec = spec_from_dict({}, base)
    problems = validation.check_training_semantics(
        request_, spec, for_cloud=False, prefix="TrainingJobDefinition"
    )
    assert problems == [
        Problem(
            "TrainingJobDefinition.InputDataConfig[2].ChannelName",
            "duplicate channel name 'train' (also TrainingJobDefinition.InputDataConfig[0])",
        ),
        Problem("TrainingJobDefinition.ResourceConfig.InstanceCount", "must be at least 1"),
    ]


def test_cloud_view(request_: dict[str, Any]) -> None:
    view = validation.cloud_view(request_)
    assert view["RoleArn"] == validation.PLACEHOLDER_ROLE
    assert view["ResourceConfig"]["InstanceType"] == "ml.m5.xlarge"
    assert [c["DataSource"]["S3DataSource"]["S3Uri"] for c in view["InputDataConfig"]] == [
        "s3://smlocal-placeholder/local",
        "s3://smlocal-placeholder/local",
    ]
    assert view["OutputDataConfig"]["S3OutputPath"] == "s3://smlocal-placeholder/local"
    # The original is untouched.
    assert "RoleArn" not in request_
    assert request_["ResourceConfig"]["InstanceType"] == "local"
    assert request_["OutputDataConfig"]["S3OutputPath"] == "file://out"


def test_cloud_view_keeps_a_given_role_and_ml_type(request_: dict[str, Any]) -> None:
    request_["RoleArn"] = ROLE
    request_["ResourceConfig"]["InstanceType"] = "ml.g5.xlarge"
    view = validation.cloud_view(request_)
    assert view["RoleArn"] == ROLE
    assert view["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"


# --- bad input that used to pass validation and fail (or crash) the run --------------------


def test_algorithm_name_without_image_is_refused_locally_not_for_the_cloud(
    request_: dict[str, Any], base: Path
) -> None:
    request_["AlgorithmSpecification"] = {"AlgorithmName": "xgboost", "TrainingInputMode": "File"}
    assert validate(request_, base) == [
        ("AlgorithmSpecification.TrainingImage",
         "is required (AlgorithmName is not supported locally)"),
    ]
    request_["RoleArn"] = ROLE
    request_["InputDataConfig"] = [channel("train", "s3://b/t")]
    request_["OutputDataConfig"] = {"S3OutputPath": "s3://b/o"}
    request_["ResourceConfig"]["InstanceType"] = "ml.m5.large"
    assert validate(request_, base, for_cloud=True) == []


@pytest.mark.parametrize("image", ["UPPER/Case:!!", "  ", "ünï", "a b", "name:", "-x"])
def test_image_that_is_no_docker_reference(
    request_: dict[str, Any], base: Path, image: str
) -> None:
    request_["AlgorithmSpecification"]["TrainingImage"] = image

    def image_check(name: str) -> bool:
        raise AssertionError("an invalid reference is not asked about")

    assert validate(request_, base, image_check=image_check) == [
        (
            "AlgorithmSpecification.TrainingImage",
            f"{image!r} is not a valid Docker image reference ([registry/]name[:tag][@digest], the "
            "name in lower case)",
        )
    ]


@pytest.mark.parametrize("image", [
    "smlocal/demo:latest", "python", "localhost:5000/a/b_c:1.0",
    "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-repo:v1", "a@sha256:" + "0" * 64,
])
def test_valid_image_references(request_: dict[str, Any], base: Path, image: str) -> None:
    request_["AlgorithmSpecification"]["TrainingImage"] = image
    assert validate(request_, base) == []


@pytest.mark.parametrize("name", [".", ".."])
def test_channel_named_dot_or_dot_dot(request_: dict[str, Any], base: Path, name: str) -> None:
    request_["InputDataConfig"][1]["ChannelName"] = name
    assert validate(request_, base) == [
        ("InputDataConfig[1].ChannelName",
         f"{name!r} cannot name a channel: the channel is mounted at "
         "/opt/ml/input/data/<ChannelName>"),
    ]


@pytest.mark.parametrize("where",
                         [TRAIN_URI, "OutputDataConfig.S3OutputPath", "CheckpointConfig.S3Uri"])
def test_file_uri_that_names_no_usable_path(
    request_: dict[str, Any], base: Path, where: str
) -> None:
    request_["CheckpointConfig"] = {"S3Uri": "file://ckpt"}
    for uri, why in [("file:///tmp/a\x00b", "contains a NUL character"),
                     ("file://" + "x" * 300, "File name too long")]:
        if where == TRAIN_URI:
            request_["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"] = uri
        elif where == "OutputDataConfig.S3OutputPath":
            request_["OutputDataConfig"]["S3OutputPath"] = uri
        else:
            request_["CheckpointConfig"]["S3Uri"] = uri
        assert validate(request_, base) == [(where, f"is not a usable path: {why}")]


def test_output_and_checkpoint_folders_cannot_be_files(
    request_: dict[str, Any], base: Path
) -> None:
    (base / "a-file").write_text("x")
    request_["OutputDataConfig"]["S3OutputPath"] = "file://a-file"
    request_["CheckpointConfig"] = {"S3Uri": "file://a-file/below"}
    assert validate(request_, base) == [
        ("CheckpointConfig.S3Uri", f"must be a folder, but {base / 'a-file'} is a file"),
        ("OutputDataConfig.S3OutputPath", f"must be a folder, but {base / 'a-file'} is a file"),
    ]


@pytest.mark.parametrize("local_path, message", [
    ("checkpoints",
     "must be an absolute path in the container, e.g. /opt/ml/checkpoints (got 'checkpoints')"),
    ("/", "'/' overlaps /opt/ml/input, which smlocal mounts itself; use a folder of its own, e.g. "
          "/opt/ml/checkpoints"),
    ("/opt/ml", "'/opt/ml' overlaps /opt/ml/input, which smlocal mounts itself; use a folder of "
                "its own, e.g. /opt/ml/checkpoints"),
    ("/opt/ml/input/data/train",
     "'/opt/ml/input/data/train' overlaps /opt/ml/input, which smlocal mounts itself; use a folder "
     "of its own, e.g. /opt/ml/checkpoints"),
    ("/opt/ml/model/",
     "'/opt/ml/model/' overlaps /opt/ml/model, which smlocal mounts itself; use a folder of its "
     "own, e.g. /opt/ml/checkpoints"),
])
def test_checkpoint_local_path_of_its_own(
    request_: dict[str, Any], base: Path, local_path: str, message: str
) -> None:
    request_["CheckpointConfig"] = {"S3Uri": "file://ckpt", "LocalPath": local_path}
    assert validate(request_, base) == [("CheckpointConfig.LocalPath", message)]
    request_["CheckpointConfig"]["LocalPath"] = "/opt/ml/checkpoints"
    assert validate(request_, base) == []


def test_instance_type_and_count_required_without_instance_groups(
    request_: dict[str, Any], base: Path
) -> None:
    request_["ResourceConfig"] = {"VolumeSizeInGB": 1}
    expected = [("ResourceConfig.InstanceCount", "is required"),
                ("ResourceConfig.InstanceType", "is required")]
    assert validate(request_, base) == expected
    assert set(expected) <= set(validate(request_, base, for_cloud=True))


def test_nul_in_what_the_container_gets(request_: dict[str, Any], base: Path) -> None:
    request_["Environment"] = {"A": "x\x00y", "B": "fine"}
    request_["AlgorithmSpecification"]["ContainerEntrypoint"] = ["python", "a\x00b"]
    assert validate(request_, base) == [
        ("AlgorithmSpecification.ContainerEntrypoint[1]", "must not contain a NUL character"),
        ("Environment.A", "must not contain a NUL character"),
    ]


def test_max_wait_goes_with_managed_spot_training_only(
    request_: dict[str, Any], base: Path
) -> None:
    request_["StoppingCondition"]["MaxWaitTimeInSeconds"] = 3600
    assert validate(request_, base) == [(
        "StoppingCondition.MaxWaitTimeInSeconds",
        "is only supported when EnableManagedSpotTraining is set to true (the service refuses "
        "it otherwise)",
    )]
    request_["EnableManagedSpotTraining"] = True
    assert validate(request_, base) == []
    request_["StoppingCondition"]["MaxRuntimeInSeconds"] = 7200
    assert validate(request_, base) == [(
        "StoppingCondition.MaxWaitTimeInSeconds",
        "must be at least StoppingCondition.MaxRuntimeInSeconds (7200): it includes the time spent "
        "waiting for spot capacity",
    )]
