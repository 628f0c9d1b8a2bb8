"""Images: build one from a folder, and skip the build when nothing it depends on changed.

A build is labelled with a hash of its context (every file's path and bytes), its Dockerfile
name, build arguments and the id of each local image the Dockerfile starts FROM; an image
whose label matches is current.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
from collections.abc import Callable
from pathlib import Path

from runner.engines.docker.backend import DockerBackend

HASH_LABEL = "smlocal.context-hash"
_FROM = re.compile(r"^\s*FROM\s+(?:--platform=\S+\s+)?(\S+)", re.IGNORECASE | re.MULTILINE)
_ARG = re.compile(r"^\s*ARG\s+(\w+)(?:=(\S+))?", re.IGNORECASE | re.MULTILINE)


def context_hash(
    context: Path, dockerfile: str, build_args: dict[str, str], base_ids: list[str]
) -> str:
    """A digest of everything a build depends on (pure but for reading the files)."""
    digest = hashlib.sha256()
    digest.update(dockerfile.encode())
    for key in sorted(build_args):
        digest.update(f"\0arg {key}={build_args[key]}".encode())
    for base in base_ids:
        digest.update(f"\0base {base}".encode())
    for root, dirs, names in os.walk(context):
        dirs.sort()
        for name in sorted(names):
            path = Path(root, name)
            # The mode too: COPY keeps it, and ``train`` must be executable.
            mode = stat.S_IMODE(path.lstat().st_mode)
            digest.update(f"\0file {path.relative_to(context)}\0{mode:o}\0".encode())
            if path.is_symlink():
                digest.update(os.readlink(path).encode())
            else:
                digest.update(path.read_bytes())
    return digest.hexdigest()


def base_images(dockerfile_text: str, build_args: dict[str, str]) -> list[str]:
    """The images a Dockerfile starts FROM, with ARG defaults and build args substituted.

    As in Docker, only the ARGs before the first FROM apply to FROM lines (an ARG inside a
    stage, e.g. ``ARG VERSION`` re-declared to use it in RUN, does not), and quotes around
    a default are not part of its value."""
    first_from = _FROM.search(dockerfile_text)
    preamble = dockerfile_text[: first_from.start()] if first_from else dockerfile_text
    args = {m.group(1): (m.group(2) or "").strip("\"'") for m in _ARG.finditer(preamble)}
    args.update(build_args)
    out = []
    for match in _FROM.finditer(dockerfile_text):
        ref = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), ""), match.group(1))
        out.append(ref)
    return out


def ensure_image(
    backend: DockerBackend,
    context: Path,
    tag: str,
    *,
    dockerfile: str = "Dockerfile",
    build_args: dict[str, str] | None = None,
    on_log: Callable[[str], None] = lambda _line: None,
) -> bool:
    """Build ``tag`` from ``context`` unless an image with the same context hash exists.
    Returns True when it built."""
    args = dict(build_args or {})
    text = (context / dockerfile).read_text(encoding="utf-8")
    base_ids = []
    for base in base_images(text, args):
        if backend.image_exists(base):
            base_ids.append(str(backend.api.inspect_image(base)["Id"]))
        else:
            base_ids.append(base)
    wanted = context_hash(context, dockerfile, args, base_ids)
    if backend.image_labels(tag).get(HASH_LABEL) == wanted:
        return False
    backend.build_image(str(context), dockerfile, tag, args, on_log, labels={HASH_LABEL: wanted})
    return True
