"""NTM topic recovery on the generated corpus: the mean best-match cosine between learned and
true topics, for a model trained with SageMaker NTM's default hyperparameters and for the
best trial of a tuning job (``make tune``), side by side.

    .venv/bin/python benchmarks/topic_recovery.py [--tuning-job NAME] [--no-baseline]

With --tuning-job, the best training job of that tuning job in the store ($SMLOCAL_HOME or
./.smlocal) is scored; the baseline is a training job run now with only the required
hyperparameters (feature_dim, num_topics) and epochs set, everything else at its default.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from algorithms.ntm.topics import load_topic_word, topic_recovery  # noqa: E402
from runner.store.jobs import Store  # noqa: E402

TRUTH = REPO / "data" / "ntm" / "truth" / "topic_word.npy"


def score(model: Path) -> float:
    return float(topic_recovery(load_topic_word(model), np.load(TRUTH))["mean_cosine"])


def model_path(store: Store, job: str) -> Path:
    uri = store.record(job)["ModelArtifacts"]["S3ModelArtifacts"]
    return Path(uri.removeprefix("file://"))


def best_of(store: Store, tuning_job: str) -> str:
    from runner.store.tuning import TuningStore
    from runner.tuning.describe import describe_tuning_job
    from runner.tuning.records import trial_views

    tstore = TuningStore(store)
    described = describe_tuning_job(tstore.record(tuning_job),
                                    trial_views(store, tstore, tuning_job), time.time())
    return str(described["BestTrainingJob"]["TrainingJobName"])


def baseline(home: Path, work: Path) -> str:
    request = yaml.safe_load((REPO / "examples" / "ntm-training-job.yaml").read_text())
    request["HyperParameters"] = {"feature_dim": "500", "num_topics": "20", "epochs": "30",
                                  "seed": "1"}
    request["TrainingJobName"] = name = f"ntm-defaults-{int(time.time())}"
    request["OutputDataConfig"]["S3OutputPath"] = f"file://{work}/out"
    for channel in request["InputDataConfig"]:
        source = channel["DataSource"]["S3DataSource"]
        source["S3Uri"] = "file://" + str((REPO / "examples" / source["S3Uri"].removeprefix("file://")).resolve())
    request["Local"]["Build"]["Context"] = str(REPO / "algorithms")
    spec = work / "baseline.yaml"
    spec.write_text(yaml.safe_dump(request))
    subprocess.run([sys.executable, "-m", "runner.interfaces.cli.main", "--home", str(home),
                    "train", str(spec), "--quiet"],
                   check=True, cwd=REPO)
    return name


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tuning-job", help="score the best trial of this tuning job")
    parser.add_argument("--no-baseline", action="store_true",
                        help="skip the default-hyperparameter training job")
    args = parser.parse_args()
    home = Path(os.environ.get("SMLOCAL_HOME") or REPO / ".smlocal")
    store = Store(home)
    rows = []
    if not args.no_baseline:
        with tempfile.TemporaryDirectory() as tmp:
            job = baseline(home, Path(tmp))
            rows.append(("NTM defaults (adadelta, lr 0.001, batch 64)", job,
                         score(model_path(store, job))))
    if args.tuning_job:
        job = best_of(store, args.tuning_job)
        hps = store.record(job)["HyperParameters"]
        tuned = ", ".join(f"{k}={v}" for k, v in sorted(hps.items()) if not k.startswith("_"))
        rows.append((f"best of {args.tuning_job}", job, score(model_path(store, job))))
        print(f"best trial's hyperparameters: {tuned}")
    print("topic recovery (mean best-match cosine, learned vs true topics; 1.0 is perfect)")
    for label, job, value in rows:
        print(f"  {label:45s} {value:.3f}   {job}")


if __name__ == "__main__":
    main()
