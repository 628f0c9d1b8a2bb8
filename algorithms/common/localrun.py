"""Run an algorithm's training code without Docker, in an /opt/ml-like folder (for tests
and debugging; standard library only).

    python3 -m algorithms.common.localrun ntm /tmp/ntm-run --channel train=data/ntm/train \\
        --channel validation=data/ntm/validation --hp feature_dim=500 --hp num_topics=20 [--checkpoints]

lays out ``/tmp/ntm-run`` as the runner lays out ``/opt/ml`` (config files, channels
copied under ``input/data``, ``model``, ``output/data``, optionally ``checkpoints``) and runs
``python3 -m algorithms.<name>`` with ``SM_OPT_ML_PREFIX`` pointing at it. Running it again on
the same folder keeps the checkpoints (and so resumes).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from algorithms.common.contract import PREFIX_ENV

REPO_ROOT = Path(__file__).resolve().parents[2]


def make_tree(root: Path, hyperparameters: Mapping[str, str], channels: Mapping[str, Path | str],
              *, checkpoints: bool = False, content_type: str | None = "text/csv",
              current_host: str = "algo-1", instance_type: str = "local") -> Path:
    """Write the /opt/ml layout under ``root``; each channel's folder (or file) is copied
    to ``input/data/<name>``. Existing model/output/checkpoint folders are kept; the config
    and the channels are replaced."""
    config = root / "input" / "config"
    data = root / "input" / "data"
    if data.exists():
        shutil.rmtree(data)
    for folder in (config, data, root / "model", root / "output" / "data"):
        folder.mkdir(parents=True, exist_ok=True)
    if checkpoints:
        (root / "checkpoints").mkdir(exist_ok=True)
    failure = root / "output" / "failure"
    if failure.exists():
        failure.unlink()
    input_config = {}
    for name, source in channels.items():
        src = Path(source)
        dest = data / name
        if src.is_dir():
            shutil.copytree(src, dest)
        else:
            dest.mkdir(parents=True)
            shutil.copy(src, dest / src.name)
        entry = {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"}
        if content_type:
            entry["ContentType"] = content_type
        input_config[name] = entry
    (config / "inputdataconfig.json").write_text(json.dumps(input_config))
    (config / "hyperparameters.json").write_text(json.dumps({str(k): str(v) for k, v in hyperparameters.items()}))
    (config / "resourceconfig.json").write_text(json.dumps({
        "current_host": current_host, "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster", "hosts": [current_host],
        "instance_groups": [{"instance_group_name": "homogeneousCluster", "instance_type": instance_type,
                             "hosts": [current_host]}],
        "network_interface_name": "eth0",
    }))
    return root


def command(algorithm: str) -> list[str]:
    return [sys.executable, "-m", f"algorithms.{algorithm}"]


def environment(root: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env[PREFIX_ENV] = str(root)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.setdefault("PYTHONUNBUFFERED", "1")
    env.update(extra or {})
    return env


def run(algorithm: str, root: Path, timeout: float | None = None,
        extra_env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command(algorithm), env=environment(root, extra_env), capture_output=True, text=True,
                          timeout=timeout, check=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run an algorithm without Docker in an /opt/ml-like folder.")
    parser.add_argument("algorithm", choices=["ntm", "mlp"])
    parser.add_argument("root", type=Path)
    parser.add_argument("--channel", action="append", default=[], metavar="NAME=PATH")
    parser.add_argument("--hp", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--checkpoints", action="store_true", help="create the checkpoints folder")
    args = parser.parse_args(argv)
    channels = dict(item.split("=", 1) for item in args.channel)
    hps = dict(item.split("=", 1) for item in args.hp)
    make_tree(args.root, hps, channels, checkpoints=args.checkpoints)
    return subprocess.call(command(args.algorithm), env=environment(args.root))


if __name__ == "__main__":
    raise SystemExit(main())
