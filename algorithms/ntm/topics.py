#!/usr/bin/env python3
"""Topic recovery: how well an NTM's learned topics match the true topics of generated data.

    python3 algorithms/ntm/topics.py MODEL [TRUE_TOPICS] [--greedy] [--top-words N]

MODEL is a ``model.tar.gz`` (as the job writes it under
``<S3OutputPath>/<job>/output/``), or a folder holding ``topic_word.npy``. TRUE_TOPICS is a
``.npy`` matrix of the true topic-word distributions (default:
``data/ntm/truth/topic_word.npy``, written by ``make_data.py``). Prints
``topic_recovery_cosine=<mean>`` and each true topic's match.

The score: the cosine similarity of every learned topic with every true topic, a one-to-one
matching of learned to true topics that maximises the total (Hungarian,
``scipy.optimize.linear_sum_assignment``; greedy, best pair first, without scipy or with
``--greedy``), and the mean over the matched pairs. 1.0 is perfect recovery; topics drawn
at random from the same Dirichlet score far lower. Needs numpy (and scipy for Hungarian).
"""

from __future__ import annotations

import argparse
import io
import sys
import tarfile
from pathlib import Path
from typing import Any

import numpy as np

TOPIC_WORD = "topic_word.npy"


def cosine_matrix(learned: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Cosine similarity of every learned topic (row) with every true topic (column)."""
    a = np.asarray(learned, dtype=np.float64)
    b = np.asarray(true, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"topic matrices must share the vocabulary: {a.shape} vs {b.shape}")
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-12)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-12)
    sim: np.ndarray = a @ b.T
    return sim


def match(sim: np.ndarray, greedy: bool = False) -> list[tuple[int, int]]:
    """One-to-one (learned, true) pairs maximising the total similarity; min(K1, K2) pairs."""
    if not greedy:
        try:
            from scipy.optimize import linear_sum_assignment
        except ImportError:
            greedy = True
        else:
            rows, cols = linear_sum_assignment(sim, maximize=True)
            return sorted(zip(rows.tolist(), cols.tolist(), strict=True), key=lambda p: p[1])
    pairs: list[tuple[int, int]] = []
    used_rows: set[int] = set()
    used_cols: set[int] = set()
    for flat in np.argsort(-sim, axis=None):
        r, c = divmod(int(flat), sim.shape[1])
        if r in used_rows or c in used_cols:
            continue
        pairs.append((r, c))
        used_rows.add(r)
        used_cols.add(c)
        if len(pairs) == min(sim.shape):
            break
    return sorted(pairs, key=lambda p: p[1])


def topic_recovery(learned: np.ndarray, true: np.ndarray, greedy: bool = False) -> dict[str, Any]:
    """``{"mean_cosine", "pairs": [(learned, true, cosine)], "best_per_true", "method"}``.
    ``best_per_true`` is the mean over true topics of their best cosine with any learned
    topic (not one-to-one: an upper bound on ``mean_cosine``)."""
    sim = cosine_matrix(learned, true)
    pairs = match(sim, greedy=greedy)
    scored = [(r, c, float(sim[r, c])) for r, c in pairs]
    method = "greedy" if greedy else _method()
    return {
        "mean_cosine": float(np.mean([s for _r, _c, s in scored])),
        "pairs": scored,
        "best_per_true": float(sim.max(axis=0).mean()),
        "method": method,
        "learned_topics": int(sim.shape[0]),
        "true_topics": int(sim.shape[1]),
    }


def _method() -> str:
    try:
        import scipy.optimize  # noqa: F401
    except ImportError:
        return "greedy"
    return "hungarian"


def load_topic_word(model: str | Path) -> np.ndarray:
    """``topic_word.npy`` from a model.tar.gz or a model folder."""
    path = Path(model)
    if path.is_dir():
        loaded: np.ndarray = np.load(path / TOPIC_WORD)
        return loaded
    with tarfile.open(path, "r:*") as tar:
        for member in tar.getmembers():
            if member.isfile() and Path(member.name).name == TOPIC_WORD:
                extracted = tar.extractfile(member)
                assert extracted is not None
                member_data: np.ndarray = np.load(io.BytesIO(extracted.read()))
                return member_data
    raise FileNotFoundError(f"{model} holds no {TOPIC_WORD}")


def main(argv: list[str] | None = None) -> int:
    default_truth = Path(__file__).resolve().parents[2] / "data" / "ntm" / "truth" / TOPIC_WORD
    parser = argparse.ArgumentParser(description="Topic recovery of an NTM model against true topics.")
    parser.add_argument("model", type=Path, help="model.tar.gz or a folder with topic_word.npy")
    parser.add_argument("truth", type=Path, nargs="?", default=default_truth, help="true topics, .npy")
    parser.add_argument("--greedy", action="store_true", help="greedy matching instead of Hungarian")
    parser.add_argument("--top-words", type=int, default=0, help="also print each matched topic's top N word ids")
    args = parser.parse_args(argv)
    try:
        learned = load_topic_word(args.model)
        true = np.load(args.truth)
        result = topic_recovery(learned, true, greedy=args.greedy)
    except (OSError, ValueError, tarfile.TarError) as exc:
        print(f"topics.py: {exc}", file=sys.stderr)
        return 2
    for r, c, s in result["pairs"]:
        line = f"true topic {c:3d} <- learned topic {r:3d}: cosine {s:.3f}"
        if args.top_words:
            top_l = np.argsort(-learned[r])[: args.top_words].tolist()
            top_t = np.argsort(-true[c])[: args.top_words].tolist()
            line += f"  learned top {top_l}  true top {top_t}"
        print(line)
    print(f"topic_recovery_cosine={result['mean_cosine']:.4f} ({result['method']}, "
          f"{result['learned_topics']} learned vs {result['true_topics']} true topics; "
          f"best-per-true-topic mean {result['best_per_true']:.4f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
