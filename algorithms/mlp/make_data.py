#!/usr/bin/env python3
"""Make the MLP's demo data offline: scikit-learn's bundled digits data set (1,797 8x8
images of handwritten digits, 10 classes; ``sklearn.datasets.load_digits`` reads it from
the package, nothing is downloaded).

    python3 algorithms/mlp/make_data.py [--out data/mlp] [--seed 0]

Needs scikit-learn (``.venv/bin/pip install scikit-learn``; a data-step dependency only,
the image does not need it). Writes a stratified 60/20/20 split, CSV without a header, the
label (0-9) first and then the 64 pixel values (0-16), one image a row:

    OUT/train/train.csv            (1,078 rows; num_classes=10, feature_dim=64)
    OUT/validation/validation.csv  (359 rows)
    OUT/test/test.csv              (360 rows)
    OUT/meta.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def load_digits_split(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        sys.exit("make_data.py: scikit-learn is needed for the digits data: .venv/bin/pip install scikit-learn")
    x, y = load_digits(return_X_y=True)
    x_train, x_rest, y_train, y_rest = train_test_split(x, y, test_size=0.4, stratify=y, random_state=seed)
    x_valid, x_test, y_valid, y_test = train_test_split(x_rest, y_rest, test_size=0.5, stratify=y_rest,
                                                        random_state=seed)
    return {"train": (x_train, y_train), "validation": (x_valid, y_valid), "test": (x_test, y_test)}


def write_split(out: Path, name: str, x: np.ndarray, y: np.ndarray) -> None:
    folder = out / name
    folder.mkdir(parents=True, exist_ok=True)
    rows = np.column_stack([y.astype(np.int64), x.astype(np.int64)])
    np.savetxt(folder / f"{name}.csv", rows, fmt="%d", delimiter=",")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "data" / "mlp")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    parts = load_digits_split(args.seed)
    for name, (x, y) in parts.items():
        write_split(args.out, name, x, y)
    meta = {"source": "sklearn.datasets.load_digits", "seed": args.seed, "num_classes": 10, "feature_dim": 64,
            "split": {name: int(len(y)) for name, (_x, y) in parts.items()}}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"mlp data: {args.out} ({meta['split']}, num_classes=10, feature_dim=64)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
