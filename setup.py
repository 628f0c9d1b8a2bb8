"""What pyproject.toml cannot say: the built-in algorithms (``algorithms/`` at the top of the
repository, where their Dockerfiles and the Makefile build images from) are installed as
``runner.algorithms``, so that an installed smlocal finds their manifests and hyperparameter
rules (runner/api/builtin.py) and puts no generic ``algorithms`` package in site-packages.
Everything else about the package is in pyproject.toml."""

from __future__ import annotations

from setuptools import find_namespace_packages, find_packages, setup

ALGORITHMS = ["runner.algorithms"] + [
    f"runner.algorithms.{name}" for name in find_packages("algorithms")
]

setup(
    # (what [tool.setuptools.packages.find] include = ["runner*"] found, plus the algorithms)
    packages=find_namespace_packages(include=["runner*"]) + ALGORITHMS,
    package_dir={"runner.algorithms": "algorithms"},
)
