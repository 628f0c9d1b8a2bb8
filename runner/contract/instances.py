"""Instance types: the CPUs, memory and GPUs a container gets for an ``ml.*`` type.

The figures are AWS's published sizes. ``local`` means no limit at all and ``local_gpu``
all of this machine's GPUs with no CPU or memory limit, as in the SageMaker SDK's local mode.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class InstanceType:
    name: str
    vcpus: float | None  # None: no limit
    memory_gib: float | None
    gpus: int  # -1: all of this machine's GPUs

    @property
    def wants_gpu(self) -> bool:
        return self.gpus != 0

    @property
    def memory_bytes(self) -> int | None:
        return None if self.memory_gib is None else int(self.memory_gib * 1024**3)


def _family(prefix: str, sizes: Mapping[str, tuple[float, float, int]]) -> dict[str, InstanceType]:
    return {
        f"{prefix}.{size}": InstanceType(f"{prefix}.{size}", cpu, mem, gpu)
        for size, (cpu, mem, gpu) in sizes.items()
    }


_GENERAL = {
    "large": (2, 8, 0), "xlarge": (4, 16, 0), "2xlarge": (8, 32, 0), "4xlarge": (16, 64, 0),
    "8xlarge": (32, 128, 0), "12xlarge": (48, 192, 0), "16xlarge": (64, 256, 0),
    "24xlarge": (96, 384, 0),
}
_COMPUTE = {
    "large": (2, 4, 0), "xlarge": (4, 8, 0), "2xlarge": (8, 16, 0), "4xlarge": (16, 32, 0),
    "9xlarge": (36, 72, 0), "12xlarge": (48, 96, 0), "18xlarge": (72, 144, 0),
    "24xlarge": (96, 192, 0),
}
# c6i and c7i come in 8x/16x/32x (c7i: 48x) sizes, not c5's 9x/18x.
_COMPUTE_6I = {
    "large": (2, 4, 0), "xlarge": (4, 8, 0), "2xlarge": (8, 16, 0), "4xlarge": (16, 32, 0),
    "8xlarge": (32, 64, 0), "12xlarge": (48, 96, 0), "16xlarge": (64, 128, 0),
    "24xlarge": (96, 192, 0), "32xlarge": (128, 256, 0),
}
_COMPUTE_7I = {**{k: v for k, v in _COMPUTE_6I.items() if k != "32xlarge"},
               "48xlarge": (192, 384, 0)}
_MEMORY = {
    "large": (2, 16, 0), "xlarge": (4, 32, 0), "2xlarge": (8, 64, 0), "4xlarge": (16, 128, 0),
    "8xlarge": (32, 256, 0), "12xlarge": (48, 384, 0), "16xlarge": (64, 512, 0),
    "24xlarge": (96, 768, 0),
}

TABLE: dict[str, InstanceType] = {
    "local": InstanceType("local", None, None, 0),
    "local_gpu": InstanceType("local_gpu", None, None, -1),
    **_family("ml.m4", {"xlarge": (4, 16, 0), "2xlarge": (8, 32, 0), "4xlarge": (16, 64, 0),
                        "10xlarge": (40, 160, 0), "16xlarge": (64, 256, 0)}),
    **_family("ml.m5", _GENERAL),
    **_family("ml.m5d", _GENERAL),
    **_family("ml.m6i", {**_GENERAL, "32xlarge": (128, 512, 0)}),
    **_family("ml.m7i", {**_GENERAL, "48xlarge": (192, 768, 0)}),
    **_family("ml.c4", {"xlarge": (4, 7.5, 0), "2xlarge": (8, 15, 0), "4xlarge": (16, 30, 0),
                        "8xlarge": (36, 60, 0)}),
    **_family("ml.c5", _COMPUTE),
    **_family("ml.c5n", {"xlarge": (4, 10.5, 0), "2xlarge": (8, 21, 0), "4xlarge": (16, 42, 0),
                         "9xlarge": (36, 96, 0), "18xlarge": (72, 192, 0)}),
    **_family("ml.c6i", _COMPUTE_6I),
    **_family("ml.c7i", _COMPUTE_7I),
    **_family("ml.r5", _MEMORY),
    **_family("ml.r5d", _MEMORY),
    **_family("ml.t3", {"medium": (2, 4, 0), "large": (2, 8, 0), "xlarge": (4, 16, 0),
                        "2xlarge": (8, 32, 0)}),
    **_family("ml.p2", {"xlarge": (4, 61, 1), "8xlarge": (32, 488, 8), "16xlarge": (64, 732, 16)}),
    **_family("ml.p3", {"2xlarge": (8, 61, 1), "8xlarge": (32, 244, 4), "16xlarge": (64, 488, 8)}),
    **_family("ml.p3dn", {"24xlarge": (96, 768, 8)}),
    **_family("ml.p4d", {"24xlarge": (96, 1152, 8)}),
    **_family("ml.p4de", {"24xlarge": (96, 1152, 8)}),
    **_family("ml.p5", {"4xlarge": (16, 256, 1), "48xlarge": (192, 2048, 8)}),
    **_family("ml.g4dn", {"xlarge": (4, 16, 1), "2xlarge": (8, 32, 1), "4xlarge": (16, 64, 1),
                          "8xlarge": (32, 128, 1), "12xlarge": (48, 192, 4),
                          "16xlarge": (64, 256, 1)}),
    **_family("ml.g5", {"xlarge": (4, 16, 1), "2xlarge": (8, 32, 1), "4xlarge": (16, 64, 1),
                        "8xlarge": (32, 128, 1), "12xlarge": (48, 192, 4),
                        "16xlarge": (64, 256, 1), "24xlarge": (96, 384, 4),
                        "48xlarge": (192, 768, 8)}),
    **_family("ml.g6", {"xlarge": (4, 16, 1), "2xlarge": (8, 32, 1), "4xlarge": (16, 64, 1),
                        "8xlarge": (32, 128, 1), "12xlarge": (48, 192, 4),
                        "16xlarge": (64, 256, 1), "24xlarge": (96, 384, 4),
                        "48xlarge": (192, 768, 8)}),
}


def lookup(name: str) -> InstanceType | None:
    """The instance type called ``name``; an unknown ``ml.p*``/``ml.g*`` type counts as one GPU."""
    known = TABLE.get(name)
    if known is not None:
        return known
    if name.startswith("ml.") and is_gpu_name(name):
        return InstanceType(name, None, None, 1)
    return None


def is_gpu_name(name: str) -> bool:
    return name == "local_gpu" or name.startswith(("ml.p", "ml.g"))
