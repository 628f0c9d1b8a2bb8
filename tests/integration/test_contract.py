"""What a container sees under the contract: files, invocation, environment, mounts."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from runner.engines.docker.backend import DockerBackend
from runner.store.jobs import Store
from tests.integration.conftest import TOOLKIT, probe_request, report, run_job

pytestmark = pytest.mark.integration


def test_probe_sees_the_whole_contract(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = probe_request(
        tmp_path, "contract-1", {"echo_env": "MY_SETTING,SM_HPS", "lr": "0.1"},
        Environment={"MY_SETTING": "hello world"},
        CheckpointConfig={"S3Uri": f"file://{tmp_path}/ckpt"},
    )
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    seen = report(store, "contract-1")
    assert seen["argv"][1:] == []
    assert seen["argv"][0].endswith("train")
    assert seen["hostname"] == "algo-1"
    assert seen["env"] == {
        "TRAINING_JOB_NAME": "contract-1",
        "TRAINING_JOB_ARN": "arn:aws:sagemaker:us-east-1:000000000000:training-job/contract-1",
    }
    assert seen["echo_env"] == {"MY_SETTING": "hello world", "SM_HPS": None}
    assert seen["hyperparameters"] == {"echo_env": "MY_SETTING,SM_HPS", "lr": "0.1"}
    assert seen["resourceconfig"] == {
        "current_host": "algo-1", "current_instance_type": "local",
        "current_group_name": "homogeneousCluster", "hosts": ["algo-1"],
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": "local",
                             "hosts": ["algo-1"]}],
        "network_interface_name": "eth0",
    }
    assert seen["inputdataconfig"] == {
        "train": {"ContentType": "text/csv", "TrainingInputMode": "File",
                  "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
    }
    assert seen["channels"]["train"]["files"] == [["a.csv", 6], ["sub/b.csv", 12]]
    assert seen["channels"]["train"]["writable"] is True  # File mode: the instance's volume
    assert seen["marker"]["exists"] is True  # the image's own /opt/ml/code stays visible
    assert seen["dirs"]["model"] == {"exists": True, "writable": True}
    assert seen["dirs"]["output_data"] == {"exists": True, "writable": True}
    assert seen["dirs"]["checkpoints"] == {"exists": True, "writable": True}
    assert "ip" in seen["hosts_resolve"]["algo-1"]
    assert (data_dir / "train" / "a.csv").read_text() == "1,2,3\n"  # a copy: untouched


def test_entrypoint_and_arguments_replace_train(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = probe_request(tmp_path, "contract-2")
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = ["python3", "/usr/local/bin/train"]
    request["AlgorithmSpecification"]["ContainerArguments"] = ["--flag", "value"]
    run_job(request, store, backend, test_label, tmp_path)
    assert report(store, "contract-2")["argv"] == ["/usr/local/bin/train", "--flag", "value"]


def test_file_mode_channels_are_the_containers_to_change(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    """The SDK v3 ModelTrainer's script path: `chmod +x` of a script in a File channel, then
    run it; the user's file stays as it was."""
    (data_dir / "train" / "run.sh").write_text("echo RAN_FROM_CHANNEL > /opt/ml/model/ran.txt\n")
    request = probe_request(tmp_path, "contract-rw")
    request["AlgorithmSpecification"]["ContainerEntrypoint"] = [
        "/bin/sh", "-c", "chmod +x /opt/ml/input/data/train/run.sh && "
                         "/opt/ml/input/data/train/run.sh"]
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    with tarfile.open(tmp_path / "out" / "contract-rw" / "output" / "model.tar.gz") as tar:
        member = tar.extractfile("ran.txt")
        assert member is not None and member.read() == b"RAN_FROM_CHANNEL\n"
    assert (data_dir / "train" / "run.sh").stat().st_mode & 0o111 == 0  # the user's: as it was


def test_artifacts_are_written_on_success(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    run = run_job(probe_request(tmp_path, "contract-3"), store, backend, test_label, tmp_path)
    out = tmp_path / "out" / "contract-3" / "output"
    assert run.record["ModelArtifacts"] == {"S3ModelArtifacts": f"file://{out}/model.tar.gz"}
    with tarfile.open(out / "model.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["model.txt", "probe.json"]
        member = tar.extractfile("model.txt")
        assert member is not None and member.read() == b"model"
    with tarfile.open(out / "output.tar.gz") as tar:
        assert tar.getnames() == ["extra.txt"]


def test_limits_follow_the_instance_type(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = probe_request(tmp_path, "contract-4")
    request["ResourceConfig"]["InstanceType"] = "ml.t3.medium"  # 2 vCPU, 4 GiB
    run_job(request, store, backend, test_label, tmp_path)
    seen = report(store, "contract-4")
    assert seen["cgroup_memory_limit"]["bytes"] == 4 * 1024**3
    assert seen["cgroup_cpu_quota"]["cpus"] == pytest.approx(2.0)


def test_network_isolation_still_resolves_the_host(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    request = probe_request(tmp_path, "contract-5", EnableNetworkIsolation=True)
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed"
    assert "ip" in report(store, "contract-5")["hosts_resolve"]["algo-1"]


def test_sagemaker_training_toolkit_reads_our_files(
    tmp_path: Path, store: Store, backend: DockerBackend, test_label: str, data_dir: Path
) -> None:
    """An image built on the real sagemaker-training toolkit computes SM_* from our files."""
    request = probe_request(tmp_path, "toolkit-1", {"epochs": "3", "lr": "0.1", "name": '"abc"'})
    request["AlgorithmSpecification"]["TrainingImage"] = TOOLKIT
    request["ResourceConfig"]["InstanceType"] = "ml.m5.large"
    run = run_job(request, store, backend, test_label, tmp_path)
    assert run.record["TrainingJobStatus"] == "Completed", run.record.get("FailureReason")
    seen = report(store, "toolkit-1", "TOOLKIT_REPORT ")
    env = seen["sm_env_parsed"]
    assert env["SM_HPS"] == {"epochs": 3, "lr": 0.1, "name": "abc"}
    assert env["SM_HOSTS"] == ["algo-1"]
    assert seen["sm_env"]["SM_CURRENT_HOST"] == "algo-1"
    assert seen["sm_env"]["SM_CHANNEL_TRAIN"] == "/opt/ml/input/data/train"
    assert env["SM_CHANNELS"] == ["train"]
    assert seen["sm_env"]["SM_CURRENT_INSTANCE_TYPE"] == "ml.m5.large"
    assert seen["sm_env"]["SM_MODEL_DIR"] == "/opt/ml/model"
    assert env["SM_TRAINING_ENV"]["job_name"] == "toolkit-1"
    assert json.loads(seen["sm_env"]["SM_NUM_GPUS"]) == 0
