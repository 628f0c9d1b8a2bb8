"""Keeping credentials out of what smlocal writes: log lines (the store, the terminal,
CloudWatch), failure reasons and reports.

Two nets: the exact secrets the runner knows (the session's secret key and token, handed to
the container), and patterns of credential-shaped text (access key ids, ``secret_access_key =
...`` assignments, presigned-URL signatures, passwords in URLs) whoever printed them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "****"
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # AKIA... (long-term) and ASIA... (temporary) access key ids
    (re.compile(r"\b((?:AKIA|ASIA)[A-Z0-9]{4})[A-Z0-9]{12}\b"), r"\1" + MASK),
    # aws_secret_access_key = ..., "SecretAccessKey": "...", AWS_SESSION_TOKEN=...
    (
        re.compile(
            r"(?i)((?:aws_)?(?:secret_access_key|secretaccesskey|secret_key|session_token|sessiontoken|security_token)"
            r"[\"']?\s*[:=]\s*[\"']?)[A-Za-z0-9/+=]{8,}"
        ),
        r"\1" + MASK,
    ),
    # presigned URLs and SigV4 headers
    (re.compile(r"(?i)(X-Amz-(?:Signature|Credential|Security-Token)=)[^&\s\"']+"), r"\1" + MASK),
    (re.compile(r"(Signature=)[0-9a-f]{64}"), r"\1" + MASK),
    # scheme://user:password@host
    (re.compile(r"(\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)[^/\s@]+@"), r"\1" + MASK + "@"),
)


def _may_hold_credentials(text: str) -> bool:
    """Every pattern above needs one of these in the text: a cheap first test."""
    low = text.lower()
    return ("akia" in low or "asia" in low or "secret" in low or "token" in low or "x-amz-" in low
            or "signature=" in low or "@" in low)


class Redactor:
    """``redactor(text)``: ``text`` with known secrets and credential-shaped values masked."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def add(self, *secrets: str | None) -> None:
        self._secrets = sorted(set(self._secrets) | {s for s in secrets if s and len(s) >= 8},
                               key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if not _may_hold_credentials(text):  # the common case
            return text
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text


def redact(text: str) -> str:
    """``text`` with credential-shaped values masked (no known secrets)."""
    return _DEFAULT(text)


_DEFAULT = Redactor()
