"""Images a request names, built from ``Local.Build`` before its job runs (skipped when
nothing they depend on changed)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from runner.core.specs import BuildOptions, is_tuning_request
from runner.engines.base import Backend


def build_images(backend: Backend, build: BuildOptions | None, images: list[str],
                 notify: Callable[[str], None]) -> None:
    """Build each of ``images`` from ``build`` (nothing without it), telling ``notify``."""
    if build is None:
        return
    from runner.engines.docker.images import ensure_image

    for image in images:
        notify(f"building {image} from {build.context}")
        ensure_image(cast(Any, backend), build.context, image,
                     dockerfile=build.dockerfile,  # Docker's own
                     build_args=build.build_args, on_log=lambda line: notify(f"  {line}"))


def request_images(request: dict[str, Any]) -> list[str]:
    """The images a CreateTrainingJob or CreateHyperParameterTuningJob request runs."""
    if is_tuning_request(request):
        from runner.tuning import trial_jobs

        definitions = [d for _, _, d in trial_jobs.definitions(request)]
    else:
        definitions = [request]
    images = {(d.get("AlgorithmSpecification") or {}).get("TrainingImage") for d in definitions}
    return sorted(i for i in images if isinstance(i, str) and i)
