"""Tests for runner.core.specs: request files (YAML/JSON) and the ``Local`` section."""

from __future__ import annotations

import math
import os
from pathlib import Path

import pytest

from runner.core import specs
from runner.core.problems import Problem, SpecError


def problems_of(exc: pytest.ExceptionInfo[SpecError]) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in exc.value.problems]


# --- parse_document / load_spec ----------------------------------------------------------


def test_yaml_document(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("TrainingJobName: demo\nHyperParameters:\n  epochs: '3'\n", encoding="utf-8")
    spec = specs.load_spec(path)
    assert spec.request == {"TrainingJobName": "demo", "HyperParameters": {"epochs": "3"}}
    assert spec.local == specs.LocalOptions()
    assert spec.base_dir == tmp_path.resolve()


def test_json_document(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text('  {"TrainingJobName": "demo", "Environment": {"A": "1"}}', encoding="utf-8")
    spec = specs.load_spec(str(path))
    assert spec.request == {"TrainingJobName": "demo", "Environment": {"A": "1"}}


def test_yaml_error_has_line_and_column() -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_document("TrainingJobName: demo\nResourceConfig: [a, b\n", "job.yaml")
    [(path, message)] = problems_of(exc)
    assert path == "job.yaml"
    assert message.startswith("not valid YAML: line 3 column 1: ")


def test_yaml_error_bad_indentation() -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_document("a: 1\n b: 2\n", "f.yaml")
    assert problems_of(exc) == [
        ("f.yaml", "not valid YAML: line 2 column 3: mapping values are not allowed here")
    ]


def test_json_error_has_line_and_column() -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_document('{\n  "TrainingJobName": "demo",\n  "RoleArn": \n}', "job.json")
    assert problems_of(exc) == [("job.json", "not valid JSON: line 4 column 1: Expecting value")]


@pytest.mark.parametrize("text",
                         ["", "# only a comment\n", "- a\n- b\n", "just a string", "[1, 2]", "42"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_document(text, "job.yaml")
    assert (problems_of(exc)
            == [("job.yaml", "must hold a mapping of request fields at the top level")])


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(SpecError) as exc:
        specs.load_spec(missing)
    assert problems_of(exc) == [(str(missing), "cannot read: No such file or directory")]


def test_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as exc:
        specs.load_spec(tmp_path)
    assert problems_of(exc) == [(str(tmp_path), "cannot read: Is a directory")]


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("TrainingJobName: demo\n", encoding="utf-8")
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("this user reads files whatever their mode (root)")
        with pytest.raises(SpecError) as exc:
            specs.load_spec(path)
    finally:
        path.chmod(0o600)
    assert problems_of(exc) == [(str(path), "cannot read: Permission denied")]


def test_unreadable_file_any_user(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("TrainingJobName: demo\n", encoding="utf-8")

    def refuse(self: Path, *args: object, **kwargs: object) -> str:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(SpecError) as exc:
        specs.load_spec(path)
    assert problems_of(exc) == [(str(path), "cannot read: Permission denied")]


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_bytes(b"TrainingJobName: d\xe9mo\n")
    with pytest.raises(SpecError) as exc:
        specs.load_spec(path)
    assert problems_of(exc) == [(str(path), "is not UTF-8 text")]


def test_spec_error_message_lists_every_problem() -> None:
    err = SpecError([Problem("A.B", "bad"), Problem("", "general")])
    assert str(err) == "A.B: bad\ngeneral"


# --- the Local section ---------------------------------------------------------------------


def test_local_section_is_removed_from_the_request(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    (tmp_path / "ctx" / "Dockerfile").write_text("FROM scratch\n")
    path = tmp_path / "job.yaml"
    path.write_text(
        "TrainingJobName: demo\n"
        "Local:\n"
        "  Build: {Context: ctx, BuildArgs: {PY: 3.11, N: 2}}\n"
        "  Gpus: '0,1'\n"
        "  StopGracePeriodSeconds: 5\n",
        encoding="utf-8",
    )
    spec = specs.load_spec(path)
    assert spec.request == {"TrainingJobName": "demo"}
    assert spec.local == specs.LocalOptions(
        build=specs.BuildOptions(
            context=(tmp_path / "ctx").resolve(), dockerfile="Dockerfile",
            build_args={"PY": "3.11", "N": "2"},
        ),
        gpus="0,1",
        stop_grace_seconds=5.0,
    )
    assert spec.local.to_json() == {
        "StopGracePeriodSeconds": 5.0,
        "Gpus": "0,1",
        "Build": {
            "Context": str((tmp_path / "ctx").resolve()),
            "Dockerfile": "Dockerfile",
            "BuildArgs": {"PY": "3.11", "N": "2"},
        },
    }


def test_no_local_section() -> None:
    local = specs.parse_local(None, Path("/"))
    assert local == specs.LocalOptions(build=None, gpus=None, stop_grace_seconds=120.0)
    assert local.to_json() == {"StopGracePeriodSeconds": 120.0}


def test_assume_role_is_a_flag(tmp_path: Path) -> None:
    local = specs.parse_local({"AssumeRole": True}, tmp_path)
    assert local.assume_role and local.to_json()["AssumeRole"] is True
    assert specs.stored_spec({}, {**local.to_json(), "BaseDir": "/x"}).local.assume_role
    local = specs.parse_local({"InitProcess": False}, tmp_path)
    assert not local.init_process and local.to_json()["InitProcess"] is False
    assert specs.parse_local({}, tmp_path).init_process


def test_interruptions_are_seconds_of_training(tmp_path: Path) -> None:
    local = specs.parse_local({"Interruptions": [30, 2.5]}, tmp_path)
    assert local.interruptions == (30.0, 2.5) and local.to_json()["Interruptions"] == [30, 2.5]
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Interruptions": [0, "x", True]}, tmp_path)
    assert [p for p, _ in problems_of(exc)] == [
        "Local.Interruptions[0]", "Local.Interruptions[1]", "Local.Interruptions[2]"]
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Interruptions": 30}, tmp_path)
    assert problems_of(exc)[0][0] == "Local.Interruptions"
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"AssumeRole": "yes", "CloudWatch": 1}, tmp_path)
    assert problems_of(exc) == [("Local.CloudWatch", "must be true or false (got 1)"),
                                ("Local.AssumeRole", "must be true or false (got 'yes')")]


def test_local_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_local(["Build"], tmp_path)
    assert problems_of(exc) == [("Local", "must be a mapping")]


def test_local_backend_trials_on_and_cloud_image(tmp_path: Path) -> None:
    local = specs.parse_local({"Backend": "sagemaker", "TrialsOn": "sagemaker",
                               "CloudImage": "1.dkr.ecr.us-east-1.amazonaws.com/x:1"}, tmp_path)
    assert (local.backend, local.trials_on) == ("sagemaker", "sagemaker")
    assert specs.parse_local(local.to_json(), tmp_path) == local
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Backend": "cloud", "TrialsOn": 1, "CloudImage": " "}, tmp_path)
    assert [path for path, _ in problems_of(exc)] == [
        "Local.Backend", "Local.TrialsOn", "Local.CloudImage"]


def test_local_unknown_keys_are_each_reported(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Gpu": "all", "Grace": 3, "Gpus": "all"}, tmp_path)
    valid = (
        "(valid: AssumeRole, Backend, Build, CloudImage, CloudWatch, EngineWaitSeconds, Gpus, "
        "InitProcess, Interruptions, MaxLogLines, StopGracePeriodSeconds, TrialsOn)")
    assert problems_of(exc) == [
        ("Local.Gpu", f"is not a known field {valid}"),
        ("Local.Grace", f"is not a known field {valid}"),
    ]


def test_build_context_relative_to_the_base_dir(tmp_path: Path) -> None:
    ctx = tmp_path / "containers" / "demo"
    ctx.mkdir(parents=True)
    (ctx / "Dockerfile.gpu").write_text("FROM scratch\n")
    base = tmp_path / "examples"
    base.mkdir()
    local = specs.parse_local(
        {"Build": {"Context": "../containers/demo", "Dockerfile": "Dockerfile.gpu"}}, base
    )
    assert local.build == specs.BuildOptions(context=ctx.resolve(), dockerfile="Dockerfile.gpu")


def test_build_context_absolute(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    local = specs.parse_local({"Build": {"Context": str(tmp_path)}}, Path("/somewhere/else"))
    assert local.build is not None
    assert local.build.context == tmp_path.resolve()


def test_build_context_missing(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Build": {"Context": "nope"}}, tmp_path)
    assert problems_of(exc) == [
        ("Local.Build.Context", f"is not a folder: {(tmp_path / 'nope').resolve()}")
    ]


def test_build_context_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "ctx").write_text("not a folder")
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Build": {"Context": "ctx"}}, tmp_path)
    assert (problems_of(exc)
            == [("Local.Build.Context", f"is not a folder: {tmp_path.resolve() / 'ctx'}")])


def test_build_dockerfile_missing(tmp_path: Path) -> None:
    (tmp_path / "ctx").mkdir()
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Build": {"Context": "ctx", "Dockerfile": "Other"}}, tmp_path)
    assert problems_of(exc) == [
        ("Local.Build.Dockerfile",
         f"no such file in the context: {tmp_path.resolve() / 'ctx' / 'Other'}")
    ]


@pytest.mark.parametrize("build", [{}, {"Context": ""}, {"Context": 3}, {"Dockerfile": "D"}])
def test_build_context_required(tmp_path: Path, build: dict[str, object]) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Build": build}, tmp_path)
    assert problems_of(exc) == [
        ("Local.Build.Context", "is required: the folder to build the image from")
    ]


def test_build_must_be_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Build": "./ctx"}, tmp_path)
    assert problems_of(exc) == [
        ("Local.Build", "must be a mapping with Context (and optionally Dockerfile, BuildArgs)")
    ]


def test_build_unknown_keys_and_bad_build_args(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Build": {"Context": ".", "Args": {}, "BuildArgs": ["A=1"]}}, tmp_path)
    assert problems_of(exc) == [
        ("Local.Build.Args", "is not a known field (valid: BuildArgs, Context, Dockerfile)"),
        ("Local.Build.BuildArgs", "must be a mapping of strings"),
    ]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("all", "all"), (" all ", "all"), ("0", "0"), (0, "0"), (1, "1"), ("0,1", "0,1"),
     ("0, 2", "0, 2")],
)
def test_gpus_valid_forms(tmp_path: Path, raw: object, expected: str) -> None:
    assert specs.parse_local({"Gpus": raw}, tmp_path).gpus == expected


@pytest.mark.parametrize(("raw", "shown"), [("", "''"), ("gpu0", "'gpu0'"), ("0,,1", "'0,,1'"),
                                            ("-1", "'-1'"), ("ALL", "'ALL'"), (True, "'True'")])
def test_gpus_invalid_forms(tmp_path: Path, raw: object, shown: str) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Gpus": raw}, tmp_path)
    assert problems_of(exc) == [
        ("Local.Gpus", f"must be 'all' or a comma-separated list of device indexes (got {shown})")
    ]


@pytest.mark.parametrize(("raw", "expected"), [(0, 0.0), (10, 10.0), (2.5, 2.5)])
def test_stop_grace_period(tmp_path: Path, raw: float, expected: float) -> None:
    local = specs.parse_local({"StopGracePeriodSeconds": raw}, tmp_path)
    assert local.stop_grace_seconds == expected
    assert isinstance(local.stop_grace_seconds, float)


@pytest.mark.parametrize("raw", [-1, "10", True, None, math.nan, math.inf])
def test_stop_grace_period_invalid(tmp_path: Path, raw: object) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"StopGracePeriodSeconds": raw}, tmp_path)
    assert problems_of(exc) == [
        ("Local.StopGracePeriodSeconds", f"must be a number of seconds >= 0 (got {raw!r})")
    ]


def test_every_local_problem_at_once(tmp_path: Path) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_local(
            {"Extra": 1, "Build": {"Context": "missing"}, "Gpus": "x",
             "StopGracePeriodSeconds": -5},
            tmp_path,
        )
    assert [p for p, _ in problems_of(exc)] == [
        "Local.Extra", "Local.Build.Context", "Local.Gpus", "Local.StopGracePeriodSeconds",
    ]


def test_local_problem_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text("TrainingJobName: demo\nLocal: {Gpus: nope}\n", encoding="utf-8")
    with pytest.raises(SpecError) as exc:
        specs.load_spec(path)
    assert [p for p, _ in problems_of(exc)] == ["Local.Gpus"]


# --- resolve_file_uri -------------------------------------------------------------------


def test_resolve_file_uri_relative(tmp_path: Path) -> None:
    assert (specs.resolve_file_uri("file://data/train", tmp_path)
            == (tmp_path / "data" / "train").resolve())
    assert (specs.resolve_file_uri("file://../out", tmp_path / "examples")
            == (tmp_path / "out").resolve())
    assert specs.resolve_file_uri("file://./x", tmp_path) == (tmp_path / "x").resolve()


def test_resolve_file_uri_absolute(tmp_path: Path) -> None:
    assert specs.resolve_file_uri("file:///srv/data/train", tmp_path) == Path("/srv/data/train")
    assert specs.resolve_file_uri(f"file://{tmp_path}/a", Path("/elsewhere")) == tmp_path / "a"


# --- odd documents and Local values that used to crash or pass unnoticed ------------------


def test_duplicate_keys_in_yaml_are_reported_with_their_paths_and_lines() -> None:
    text = ("TrainingJobName: a\nTrainingJobName: b\nResourceConfig: {InstanceCount: 1, "
            "InstanceCount: 2}\nInputDataConfig:\n  - {ChannelName: x, ChannelName: y}\n")
    with pytest.raises(SpecError) as exc:
        specs.parse_document(text, "job.yaml")
    assert problems_of(exc) == [
        ("TrainingJobName", "is given twice in the same mapping (lines 1 and 2); give it once"),
        ("ResourceConfig.InstanceCount",
         "is given twice in the same mapping (lines 3 and 3); give it once"),
        ("InputDataConfig[0].ChannelName",
         "is given twice in the same mapping (lines 5 and 5); give it once"),
    ]


def test_duplicate_keys_in_json_are_reported_with_their_paths() -> None:
    text = (
        '{"TrainingJobName": "a", "HyperParameters": {"e": "1", "e": "2"}, "TrainingJobName": "b"}')
    with pytest.raises(SpecError) as exc:
        specs.parse_document(text, "job.json")
    assert problems_of(exc) == [
        ("HyperParameters.e", "is given twice in the same object; give it once"),
        ("TrainingJobName", "is given twice in the same object; give it once"),
    ]


def test_yaml_merge_keys_and_aliases_are_no_duplicates() -> None:
    # a shared node is checked once (a "billion laughs" document is refused: test_documents.py)
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"] + [
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]" for p, c in zip("abc", "bcd", strict=True)
    ]
    data = specs.parse_document("\n".join(levels)
                                + "\nbase: &base {x: 1}\nuse: {<<: *base, y: 2}\n", "f.yaml")
    assert data["use"] == {"x": 1, "y": 2}


@pytest.mark.parametrize(("text", "path", "where"), [
    ("a: " + "[" * 500 + "]" * 500, "a" + "[0]" * 99, ""),  # where it passed 100 levels
    ("a: " + "[" * 5000 + "]" * 5000, "deep.yaml", "line 1 column 1003: "),  # past libyaml's 1,000
    ('{"a": ' + "[" * 100000 + "]" * 100000 + "}", "deep.yaml", ""),  # deeper than json goes
])
def test_a_document_nested_too_deeply(text: str, path: str, where: str) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_document(text, "deep.yaml")
    message = f"{where}is nested more than 100 levels deep; a request never is"
    assert problems_of(exc) == [(path, message)]


@pytest.mark.parametrize("dockerfile", [5, None, ["D"], "", "  "])
def test_build_dockerfile_must_be_a_name(tmp_path: Path, dockerfile: object) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Build": {"Context": ".", "Dockerfile": dockerfile}}, tmp_path)
    assert problems_of(exc) == [
        ("Local.Build.Dockerfile",
         f"must be the Dockerfile's name in the context, a non-empty string (got {dockerfile!r})")
    ]


@pytest.mark.parametrize(("field", "value", "why"), [
    ("Context", "a\x00b", "contains a NUL character"),
    ("Context", "x" * 300, "File name too long"),
    ("Dockerfile", "a\x00b", "contains a NUL character"),
    ("Dockerfile", "y" * 300, "File name too long"),
])
def test_build_paths_that_name_no_usable_path(
    tmp_path: Path, field: str, value: str, why: str
) -> None:
    build = {"Context": ".", field: value}
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Build": build}, tmp_path)
    assert problems_of(exc) == [(f"Local.Build.{field}", f"is not a usable path: {why}")]


def test_build_args_values_must_be_strings(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Build": {"Context": ".", "BuildArgs": {"A": None, "B": [1], "C": True,
                                                                   "D": 1, "E": "x"}}}, tmp_path)
    assert problems_of(exc) == [
        ("Local.Build.BuildArgs.A", "must be a string (got None)"),
        ("Local.Build.BuildArgs.B", "must be a string (got [1])"),
        ("Local.Build.BuildArgs.C", "must be a string (got True)"),
    ]


@pytest.mark.parametrize("raw", ["١", "0,²", "٣,1"])
def test_gpus_take_ascii_digits_only(tmp_path: Path, raw: str) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"Gpus": raw}, tmp_path)
    assert problems_of(exc) == [
        ("Local.Gpus", f"must be 'all' or a comma-separated list of device indexes (got {raw!r})")
    ]


def test_path_problem(tmp_path: Path) -> None:
    assert specs.path_problem(str(tmp_path)) is None
    assert specs.path_problem(str(tmp_path / "missing" / "below")) is None
    (tmp_path / "f").write_text("x")
    # not a folder: the caller's to say
    assert specs.path_problem(str(tmp_path / "f" / "below")) is None
    assert specs.path_problem("a\x00") == "contains a NUL character"
    assert specs.path_problem("z" * 300) == "File name too long"


@pytest.mark.parametrize(("text", "path"), [
    ("HyperParameters: &a {x: *a}\n", "HyperParameters.x"),
    ("Tags: &t [{Key: a, Value: b}, *t]\n", "Tags[1]"),
    ("A: &m {<<: *m}\n", "A"),
])
def test_a_yaml_document_that_contains_itself(text: str, path: str) -> None:
    with pytest.raises(SpecError) as exc:
        specs.parse_document(text, "f.yaml")
    assert problems_of(exc) == [
        (path, "refers to a mapping or list that contains it (a YAML alias); a request cannot "
               "be recursive")
    ]


def test_engine_wait_is_a_local_option_kept_with_the_job(tmp_path: Path) -> None:
    local = specs.parse_local({"EngineWaitSeconds": 5}, tmp_path)
    assert local.engine_wait_seconds == 5.0
    assert specs.parse_local(local.to_json(), tmp_path) == local
    assert "EngineWaitSeconds" not in specs.parse_local({}, tmp_path).to_json()
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"EngineWaitSeconds": -1}, tmp_path)
    assert (problems_of(exc)
            == [("Local.EngineWaitSeconds", "must be a number of seconds >= 0 (got -1)")])


def test_max_log_lines_is_a_local_option(tmp_path: Path) -> None:
    local = specs.parse_local({"MaxLogLines": 100}, tmp_path)
    assert local.max_log_lines == 100 and specs.parse_local(local.to_json(), tmp_path) == local
    with pytest.raises(SpecError) as exc:
        specs.parse_local({"MaxLogLines": 1.5}, tmp_path)
    assert (problems_of(exc)
            == [("Local.MaxLogLines", "must be a whole number of lines >= 0 (got 1.5)")])
