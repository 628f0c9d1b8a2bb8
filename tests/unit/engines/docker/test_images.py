"""Tests for runner.engines.docker.images: the context hash and the FROM lines of a Dockerfile."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runner.engines.docker.images import base_images, context_hash


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "code" / "lib").mkdir(parents=True)
    (root / "Dockerfile").write_text("FROM python:3.11-slim\nCOPY . /opt/ml/code\n")
    (root / "code" / "train").write_text("#!/bin/sh\necho hi\n")
    (root / "code" / "train").chmod(0o755)
    (root / "code" / "lib" / "util.py").write_text("X = 1\n")
    return root


def digest(ctx: Path, dockerfile: str = "Dockerfile", args: dict[str, str] | None = None,
           bases: list[str] | None = None) -> str:
    return context_hash(ctx, dockerfile, args or {}, ["sha256:aaa"] if bases is None else bases)


# --- context_hash ---------------------------------------------------------------------------


def test_hash_is_stable(ctx: Path) -> None:
    first = digest(ctx, args={"A": "1", "B": "2"})
    assert first == digest(ctx, args={"B": "2", "A": "1"})  # order of the args is irrelevant
    assert len(first) == 64 and int(first, 16) >= 0


def test_hash_stays_when_a_file_is_rewritten_with_the_same_bytes(ctx: Path) -> None:
    before = digest(ctx)
    (ctx / "code" / "lib" / "util.py").write_text("X = 1\n")
    os.utime(ctx / "code" / "lib" / "util.py", (1, 1))
    assert digest(ctx) == before


def test_hash_same_for_two_copies_of_a_context(ctx: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "elsewhere" / "ctx"
    shutil.copytree(ctx, copy)
    assert digest(copy) == digest(ctx)


def test_hash_changes_with_a_files_bytes(ctx: Path) -> None:
    before = digest(ctx)
    (ctx / "code" / "lib" / "util.py").write_text("X = 2\n")
    assert digest(ctx) != before


def test_hash_changes_with_a_files_name(ctx: Path) -> None:
    before = digest(ctx)
    (ctx / "code" / "lib" / "util.py").rename(ctx / "code" / "lib" / "utils.py")
    assert digest(ctx) != before


def test_hash_changes_when_a_file_moves_to_another_folder(ctx: Path) -> None:
    before = digest(ctx)
    (ctx / "code" / "lib" / "util.py").rename(ctx / "code" / "util.py")
    assert digest(ctx) != before


def test_hash_changes_with_a_new_file(ctx: Path) -> None:
    before = digest(ctx)
    (ctx / "code" / "empty").write_text("")
    assert digest(ctx) != before


def test_hash_changes_with_a_removed_file(ctx: Path) -> None:
    before = digest(ctx)
    (ctx / "code" / "lib" / "util.py").unlink()
    assert digest(ctx) != before


def test_hash_changes_with_the_executable_bit(ctx: Path) -> None:
    # SageMaker runs ``train`` as a command: making it executable must rebuild the image.
    (ctx / "code" / "train").chmod(0o644)
    before = digest(ctx)
    (ctx / "code" / "train").chmod(0o755)
    assert digest(ctx) != before


def test_hash_changes_with_a_symlink_target(ctx: Path) -> None:
    link = ctx / "code" / "current"
    link.symlink_to("lib/util.py")
    before = digest(ctx)
    link.unlink()
    link.symlink_to("train")
    assert digest(ctx) != before


def test_hash_changes_with_a_build_arg(ctx: Path) -> None:
    before = digest(ctx, args={"PY": "3.11"})
    assert digest(ctx, args={"PY": "3.12"}) != before
    assert digest(ctx, args={"PYTHON": "3.11"}) != before
    assert digest(ctx, args={"PY": "3.11", "X": ""}) != before
    assert digest(ctx, args={}) != before


def test_hash_changes_with_a_base_id(ctx: Path) -> None:
    before = digest(ctx, bases=["sha256:aaa"])
    assert digest(ctx, bases=["sha256:bbb"]) != before
    assert digest(ctx, bases=["sha256:aaa", "sha256:bbb"]) != before
    assert digest(ctx, bases=[]) != before


def test_hash_changes_with_the_dockerfile_name(ctx: Path) -> None:
    (ctx / "Dockerfile.gpu").write_text("FROM python:3.11-slim\n")
    assert digest(ctx, dockerfile="Dockerfile.gpu") != digest(ctx, dockerfile="Dockerfile")


# --- base_images ----------------------------------------------------------------------------


def test_base_images_plain() -> None:
    text = "FROM python:3.11-slim\nRUN pip install numpy\n"
    assert base_images(text, {}) == ["python:3.11-slim"]


def test_base_images_multi_stage_and_case() -> None:
    text = (
        "# FROM commented:out\n"
        "FROM golang:1.22 AS build\n"
        "RUN go build\n"
        "  from   debian:bookworm-slim\n"
        "COPY --from=build /app /app\n"
    )
    assert base_images(text, {}) == ["golang:1.22", "debian:bookworm-slim"]


def test_base_images_platform_flag() -> None:
    text = ("FROM --platform=linux/amd64 python:3.11 AS base\n"
            "FROM --platform=$BUILDPLATFORM alpine:3\n")
    assert base_images(text, {}) == ["python:3.11", "alpine:3"]


def test_base_images_arg_defaults() -> None:
    text = "ARG PY=3.11\nARG VARIANT=slim\nFROM python:${PY}-$VARIANT\n"
    assert base_images(text, {}) == ["python:3.11-slim"]


def test_base_images_build_args_win_over_defaults() -> None:
    text = "ARG PY=3.11\nARG BASE\nFROM ${BASE}python:${PY}\n"
    assert base_images(text, {"PY": "3.12"}) == ["python:3.12"]
    assert (base_images(text, {"PY": "3.12", "BASE": "registry.local/"})
            == ["registry.local/python:3.12"])


def test_base_images_unknown_arg_is_empty() -> None:
    assert base_images("FROM python:${NOPE}3.11\n", {}) == ["python:3.11"]


def test_base_images_arg_redeclared_in_a_stage_keeps_its_global_default() -> None:
    # Only the ARGs before the first FROM apply to FROM lines; ``ARG PY`` inside a stage
    # (to use the value in RUN) must not blank it for the next stage's FROM.
    text = "ARG PY=3.11\nFROM python:${PY}\nARG PY\nRUN echo $PY\nFROM python:${PY}-slim\n"
    assert base_images(text, {}) == ["python:3.11", "python:3.11-slim"]
    text = "ARG PY=3.11\nFROM python:${PY}\nARG PY=2.7\nFROM python:${PY}-slim\n"
    assert base_images(text, {}) == ["python:3.11", "python:3.11-slim"]


def test_base_images_quoted_arg_default() -> None:
    text = 'ARG BASE="nvidia/cuda:12.1.0-runtime-ubuntu22.04"\nFROM ${BASE}\n'
    assert base_images(text, {}) == ["nvidia/cuda:12.1.0-runtime-ubuntu22.04"]
    assert base_images("ARG B='alpine:3'\nFROM $B\n", {}) == ["alpine:3"]


def test_base_images_none() -> None:
    assert base_images("# nothing\n", {}) == []
