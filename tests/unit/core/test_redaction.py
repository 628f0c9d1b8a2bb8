"""Tests for runner.core.redaction: credentials never printed, stored or shipped."""

from __future__ import annotations

import pytest

from runner.core.redaction import MASK, Redactor, redact


def test_known_secrets_are_masked() -> None:
    r = Redactor(["wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", None, "short"])
    assert r("key is wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY!") == f"key is {MASK}!"
    assert r("short stays") == "short stays"  # too short to be a secret worth masking
    r.add("FwoGZXIvYXdzEJr//////////wEaDN-session-token")
    assert "FwoGZ" not in r("token=FwoGZXIvYXdzEJr//////////wEaDN-session-token")


@pytest.mark.parametrize(("text", "gone"), [
    ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", "IOSFODNN7EXAMPLE"),
    ("temporary ASIAJEXAMPLEXEG2JICE used", "MPLEXEG2JICE"),
    ("aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
    ('{"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}', "wJalrXUtnFEMI"),
    ("AWS_SESSION_TOKEN: IQoJb3JpZ2luX2VjEJr//////////", "IQoJb3JpZ2luX2VjEJr"),
    ("https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIA/x&X-Amz-Signature=abcdef0123",
     "abcdef0123"),
    ("endpoint http://minio:supersecret@localhost:9000/", "supersecret"),
])
def test_credential_shapes_are_masked(text: str, gone: str) -> None:
    out = redact(text)
    assert gone not in out and MASK in out


def test_ordinary_lines_pass_unchanged() -> None:
    for line in ("epoch=3 train_loss=0.25", "tokenizer loaded 3 files", "secret santa", ""):
        assert redact(line) == line
