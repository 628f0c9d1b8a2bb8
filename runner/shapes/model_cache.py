"""Remembered verdicts of the service model, so a command line that runs the same request
again (with another job name, as `make train` does) skips importing botocore and loading its
SageMaker model (about 200 ms of a short job).

An entry is keyed by the operation, the request with its name field replaced by a
placeholder, and the versions of botocore and of the validating code; it holds the problems
found in that request and the name field's rules, against which each run checks its own
name. Entries are only ever added; a stale one cannot be read, since any change to the
request, botocore or the code changes the key.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from runner.core.problems import Problem
from runner.shapes import patterns

NAME_FIELDS = {
    "CreateTrainingJob": "TrainingJobName",
    "CreateHyperParameterTuningJob": "HyperParameterTuningJobName",
}
PLACEHOLDER = "smlocal-cached-name"
_CODE = ("model.py", "patterns.py", "model_cache.py")


def validate_request_cached(
    params: dict[str, Any], operation: str, cache_dir: Path | None
) -> list[Problem]:
    """``runner.shapes.model.validate_request(params, operation)``, remembered under
    ``cache_dir``."""
    field = NAME_FIELDS.get(operation)
    name = params.get(field) if field else None
    if cache_dir is None or field is None or not isinstance(name, str):
        from runner.shapes import model as schema

        return schema.validate_request(params, operation)
    anonymous = {**params, field: PLACEHOLDER}
    try:
        key = _key(operation, anonymous)
    except (TypeError, ValueError):  # keys of mixed types (1 and "a") cannot be sorted: no cache
        from runner.shapes import model as schema

        return schema.validate_request(params, operation)
    path = cache_dir / f"{key}.json"
    entry = _read(path)
    if entry is None:
        from runner.shapes import model as schema

        found = [p for p in schema.validate_request(anonymous, operation) if p.path != field]
        entry = {"problems": [[p.path, p.message] for p in found],
                 "name_rule": schema.string_rule(operation, field)}
        _write(path, entry)
    problems = [Problem(str(p), str(m)) for p, m in entry["problems"]]
    rule = entry["name_rule"]
    problems += [
        Problem(field, message)
        for message in patterns.string_problems(name, minimum=rule["minimum"],
                                                maximum=rule["maximum"], pattern=rule["pattern"])
    ]
    return sorted(set(problems))


def _key(operation: str, params: dict[str, Any]) -> str:
    digest = hashlib.sha256()
    digest.update(json.dumps([operation, params], sort_keys=True, default=repr).encode())
    import botocore  # the package alone (~10 ms), not its session or model

    digest.update(str(botocore.__version__).encode())
    here = Path(__file__).resolve().parent
    for name in _CODE:
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def _read(path: Path) -> dict[str, Any] | None:
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return (entry if isinstance(entry, dict) and "problems" in entry and "name_rule" in entry
            else None)


def _write(path: Path, entry: dict[str, Any]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(entry), encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written is only slower
