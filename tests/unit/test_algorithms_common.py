"""The algorithms' pure parts, without torch: hyperparameter specs and their validator (which
the runner imports too), the manifests, the contract reader, topic recovery, the data
generators."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.dont_write_bytecode = True  # keep __pycache__ out of algorithms/ (an image build context)

from algorithms.common import hyperparameters as hpmod  # noqa: E402
from algorithms.common.contract import ClientError, Contract, data_files  # noqa: E402
from algorithms.common.hyperparameters import (  # noqa: E402
    HyperparameterError,
    check_manifest,
    normalize_value,
    parse_hyperparameters,
    validate_hyperparameters,
)
from algorithms.common.localrun import make_tree  # noqa: E402

ALGORITHMS = Path(__file__).resolve().parents[2] / "algorithms"


def manifest(name: str) -> dict:
    return json.loads((ALGORITHMS / name / "manifest.json").read_text())


# --- hyperparameters -----------------------------------------------------------------------


def test_hyperparameters_module_is_stdlib_only() -> None:
    source = Path(hpmod.__file__).read_text()
    imported = set(re.findall(r"^\s*(?:from|import)\s+([\w.]+)", source, re.MULTILINE))
    assert imported <= {"__future__", "json", "math", "re", "collections.abc", "typing"}, imported


@pytest.mark.parametrize("name", ["ntm", "mlp"])
def test_manifests_are_consistent(name: str) -> None:
    m = manifest(name)
    assert check_manifest(m) == []
    assert m["TrainingImage"] == f"smlocal/{name}:latest"
    # Build.Context is relative to the manifest's folder, Build.Dockerfile to the context
    assert (ALGORITHMS / name / m["Build"]["Context"]).resolve() == ALGORITHMS
    assert (ALGORITHMS / m["Build"]["Dockerfile"]).exists()
    assert len(m["MetricDefinitions"]) <= 40
    for d in m["MetricDefinitions"]:
        assert 1 <= len(d["Regex"]) <= 500 and "\t" not in d["Regex"]
    # every default parses, and parse fills them all in
    required = {s["Name"]: "3" for s in m["SupportedHyperParameters"] if s.get("IsRequired")}
    parsed = parse_hyperparameters(m, required)
    assert set(parsed) == {s["Name"] for s in m["SupportedHyperParameters"]}


def test_ntm_manifest_has_sagemakers_recommended_ranges_and_objective() -> None:
    m = manifest("ntm")
    assert m["TuningObjective"] == {"Type": "Minimize", "MetricName": "validation:total_loss"}
    ranges = m["ParameterRanges"]
    cat = {r["Name"]: r["Values"] for r in ranges["CategoricalParameterRanges"]}
    cont = {r["Name"]: (float(r["MinValue"]), float(r["MaxValue"]))
            for r in ranges["ContinuousParameterRanges"]}
    ints = {r["Name"]: (int(r["MinValue"]), int(r["MaxValue"]))
            for r in ranges["IntegerParameterRanges"]}
    assert (cat == {"encoder_layers_activation": ["sigmoid", "tanh", "relu"],
                    "optimizer": ["sgd", "adam", "adadelta"]})
    assert (cont == {"learning_rate": (1e-4, 0.1), "rescale_gradient": (0.1, 1.0),
                     "weight_decay": (0.0, 1.0)})
    assert ints == {"mini_batch_size": (16, 2048)}
    names = {d["Name"] for d in m["MetricDefinitions"]}
    assert ({"train:total_loss", "validation:total_loss", "validation:recons_loss",
             "validation:kl_loss"} <= names)


def test_mlp_manifest_objective() -> None:
    m = manifest("mlp")
    assert m["TuningObjective"] == {"Type": "Minimize", "MetricName": "validation:loss"}
    names = {d["Name"] for d in m["MetricDefinitions"]}
    assert {"train:loss", "validation:loss", "validation:accuracy"} <= names


def test_validator_reports_every_problem_with_its_key() -> None:
    m = manifest("ntm")
    problems = validate_hyperparameters(m, {
        "feature_dim": "0", "learning_rate": "fast", "optimizer": "lbfgs", "epochs": "2.5",
        "batch_norm": "maybe", "encoder_layers": "10,,5", "bogus": "1",
        "_tuning_objective_metric": "validation:total_loss",
    })
    keys = [k for k, _ in problems]
    assert keys == ["bogus", "feature_dim", "num_topics", "batch_norm", "encoder_layers", "epochs",
                    "learning_rate", "optimizer"]
    text = dict(problems)
    assert "below the minimum 1" in text["feature_dim"]
    assert text["num_topics"] == "is required"
    assert "must be a number" in text["learning_rate"]
    assert "one of" in text["optimizer"] and "lbfgs" in text["optimizer"]
    assert "integer" in text["epochs"]
    assert "comma-separated" in text["encoder_layers"]
    assert "not a hyperparameter" in text["bogus"]


def test_validator_accepts_good_values_and_bounds() -> None:
    m = manifest("ntm")
    good = {"feature_dim": "500", "num_topics": "1000", "learning_rate": "1e-6",
            "rescale_gradient": "1.0", "clip_gradient": "Infinity", "encoder_layers": "200,100",
            "batch_norm": "true", "weight_decay": "0"}
    assert validate_hyperparameters(m, good) == []
    assert (validate_hyperparameters(m, {**good, "learning_rate": "1.0000001"})[0][0]
            == "learning_rate")
    assert validate_hyperparameters(m, {**good, "learning_rate": "nan"})[0][0] == "learning_rate"
    assert validate_hyperparameters(m, {**good, "num_topics": "1001"})[0][0] == "num_topics"
    assert validate_hyperparameters(m, {**good, "clip_gradient": "0.0001"})[0][0] == "clip_gradient"


def test_json_encoded_values_are_unwrapped() -> None:
    assert normalize_value('"adam"') == "adam"
    assert normalize_value("0.1") == "0.1"
    assert normalize_value(True) == "true"
    assert normalize_value(64) == "64"
    parsed = parse_hyperparameters(manifest("ntm"), {"feature_dim": '"500"', "num_topics": "20",
                                                     "optimizer": '"adam"'})
    assert parsed["feature_dim"] == 500 and parsed["optimizer"] == "adam"


def test_parse_types_and_defaults() -> None:
    parsed = parse_hyperparameters(manifest("ntm"), {"feature_dim": "50", "num_topics": "5"})
    assert parsed["epochs"] == 50 and isinstance(parsed["epochs"], int)
    assert parsed["learning_rate"] == 0.001 and parsed["clip_gradient"] == float("inf")
    assert parsed["encoder_layers"] == "auto" and parsed["batch_norm"] == "false"
    with pytest.raises(HyperparameterError) as info:
        parse_hyperparameters(manifest("ntm"), {"feature_dim": "x"})
    assert [k for k, _ in info.value.problems] == ["feature_dim", "num_topics"]


def test_boolean_and_lowercase_type_aliases() -> None:
    m = {"SupportedHyperParameters": [
        {"Name": "flag", "Type": "boolean", "DefaultValue": "false"},
        {"Name": "n", "Type": "integer",
         "Range": {"IntegerParameterRangeSpecification": {"MinValue": "1"}}},
        {"Name": "s", "Type": "string"},
    ]}
    assert (parse_hyperparameters(m, {"flag": "True", "n": "7", "s": "x y"})
            == {"flag": True, "n": 7, "s": "x y"})
    assert validate_hyperparameters(m, {"flag": "yes", "n": "0"}) == [
        ("flag", "must be true or false (got 'yes')"), ("n", "0 is below the minimum 1")]


def test_check_manifest_finds_broken_pieces() -> None:
    m = {"SupportedHyperParameters": [{"Name": "lr", "Type": "Continuous", "DefaultValue": "5",
                                       "Range": {"ContinuousParameterRangeSpecification": {
                                           "MinValue": "0", "MaxValue": "1"}}}],
         "MetricDefinitions": [{"Name": "loss", "Regex": "loss=\\S+"}],
         "TuningObjective": {"Type": "Minimize", "MetricName": "validation:loss"},
         "ParameterRanges": {"ContinuousParameterRanges": [{"Name": "lr", "MinValue": "0",
                                                            "MaxValue": "1",
                                                            "ScalingType": "Logarithmic"}]}}
    keys = [k for k, _ in check_manifest(m)]
    assert (keys == ["lr", "MetricDefinitions.loss", "TuningObjective",
                     "ParameterRanges.ContinuousParameterRanges.lr"])


# --- contract --------------------------------------------------------------------------------


def test_contract_reads_the_tree(tmp_path: Path) -> None:
    data = tmp_path / "src"
    (data / "sub").mkdir(parents=True)
    (data / "a.csv").write_text("1,2\n")
    (data / "sub" / "b.csv").write_text("3,4\n")
    (data / ".hidden").write_text("x")
    root = make_tree(tmp_path / "ml", {"k": "v"}, {"train": data})
    c = Contract(root)
    assert c.hyperparameters() == {"k": "v"}
    assert c.current_host == "algo-1"
    folder = c.channel("train", required=True, content_types=("text/csv",))
    assert folder is not None
    assert [p.name for p in data_files(folder)] == ["a.csv", "b.csv"]
    assert c.channel("validation") is None
    assert c.checkpoint_dir() is None
    with pytest.raises(ClientError, match="'test' channel is required"):
        c.channel("test", required=True)


def test_contract_refuses_pipe_mode_and_other_content_types(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    root = make_tree(tmp_path / "ml", {}, {"train": src},
                     content_type="application/x-recordio-protobuf")
    with pytest.raises(ClientError,
                       match="ContentType application/x-recordio-protobuf is not supported"):
        Contract(root).channel("train", content_types=("text/csv",))
    config = root / "input" / "config" / "inputdataconfig.json"
    config.write_text(json.dumps({"train": {"TrainingInputMode": "Pipe"}}))
    with pytest.raises(ClientError, match="Pipe is not supported"):
        Contract(root).channel("train")


def test_checkpoint_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_tree(tmp_path / "ml", {}, {}, checkpoints=True)
    assert Contract(root).checkpoint_dir() == root / "checkpoints"
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.setenv("CHECKPOINT_LOCAL_PATH", str(other))
    assert Contract(root).checkpoint_dir() == other


# --- topic recovery and data ----------------------------------------------------------------------


def test_topic_recovery_is_one_for_a_permutation_and_low_for_noise() -> None:
    from algorithms.ntm.topics import match, topic_recovery

    rng = np.random.default_rng(0)
    true = rng.dirichlet(np.full(100, 0.05), size=8)
    perm = rng.permutation(8)
    result = topic_recovery(true[perm], true)
    assert result["mean_cosine"] == pytest.approx(1.0)
    assert all(perm[r] == c for r, c, _ in result["pairs"])
    greedy = topic_recovery(true[perm], true, greedy=True)
    assert greedy["mean_cosine"] == pytest.approx(1.0) and greedy["method"] == "greedy"
    noise = rng.dirichlet(np.full(100, 0.05), size=8)
    assert topic_recovery(noise, true)["mean_cosine"] < 0.4
    # more learned than true topics: one pair per true topic
    assert len(match(np.ones((5, 3)))) == 3


def test_topics_script_reads_a_model_tarball(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import tarfile

    from algorithms.ntm import topics

    rng = np.random.default_rng(1)
    true = rng.dirichlet(np.full(30, 0.1), size=4)
    model = tmp_path / "model"
    model.mkdir()
    np.save(model / "topic_word.npy", true[::-1].astype(np.float32))
    np.save(tmp_path / "truth.npy", true)
    with tarfile.open(tmp_path / "model.tar.gz", "w:gz") as tar:
        tar.add(model / "topic_word.npy", arcname="topic_word.npy")
    assert topics.main([str(tmp_path / "model.tar.gz"), str(tmp_path / "truth.npy")]) == 0
    assert "topic_recovery_cosine=1.0000" in capsys.readouterr().out
    assert topics.main([str(tmp_path / "missing.tar.gz"), str(tmp_path / "truth.npy")]) == 2


def test_ntm_generator_writes_a_known_corpus(tmp_path: Path) -> None:
    from algorithms.ntm.make_data import generate, write_corpus

    corpus = generate(num_topics=3, vocab_size=20, num_docs=40, doc_length=30, seed=5)
    assert corpus["topic_word"].shape == (3, 20) and np.allclose(corpus["topic_word"].sum(1), 1)
    assert corpus["counts"].shape == (40, 20) and (corpus["counts"].sum(1) >= 10).all()
    again = generate(num_topics=3, vocab_size=20, num_docs=40, doc_length=30, seed=5)
    assert (again["counts"] == corpus["counts"]).all()
    meta = write_corpus(tmp_path, num_topics=3, vocab_size=20, num_docs=40, doc_length=30, seed=5)
    assert meta["split"] == {"train": 30, "validation": 5, "test": 5}
    rows = np.loadtxt(tmp_path / "train" / "train.csv", delimiter=",", ndmin=2)
    assert rows.shape == (30, 20)
    assert np.load(tmp_path / "truth" / "topic_word.npy").shape == (3, 20)


def test_mlp_data_is_digits(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    from algorithms.mlp.make_data import main

    assert main(["--out", str(tmp_path)]) == 0
    train = np.loadtxt(tmp_path / "train" / "train.csv", delimiter=",")
    valid = np.loadtxt(tmp_path / "validation" / "validation.csv", delimiter=",")
    test = np.loadtxt(tmp_path / "test" / "test.csv", delimiter=",")
    assert train.shape == (1078, 65) and valid.shape == (359, 65) and test.shape == (360, 65)
    assert set(np.unique(train[:, 0])) == set(range(10))
