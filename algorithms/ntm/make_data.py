#!/usr/bin/env python3
"""Make NTM's demo data offline: a bag-of-words corpus drawn from LDA's generative process
with known topics, so that topic recovery can be measured.

    python3 algorithms/ntm/make_data.py [--out data/ntm] [--topics 20] [--vocab 500]
                                        [--docs 4000] [--doc-length 100] [--seed 1]

Writes (numpy only, deterministic for a seed):

    OUT/train/train.csv            documents, CSV: one document a row, VOCAB columns of
    OUT/validation/validation.csv  word counts, no header (the NTM's input; feature_dim=VOCAB)
    OUT/test/test.csv
    OUT/truth/topic_word.npy       TOPICS x VOCAB, the true topic-word distributions
    OUT/truth/doc_topic_train.npy  the true topic proportions of the training documents
    OUT/truth/vocab.txt            one made-up word a line ("w000".."w499")
    OUT/truth/meta.json            the generator's settings and the split sizes

Generative process: each topic's word distribution ~ Dirichlet(beta) over the vocabulary;
each document's topic proportions ~ Dirichlet(alpha); its length ~ Poisson(doc_length)
(at least 10); each word: a topic from the proportions, a word from that topic.
Split: 75% train, 12.5% validation, 12.5% test.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def generate(num_topics: int = 20, vocab_size: int = 500, num_docs: int = 4000, doc_length: int = 100,
             alpha: float = 0.1, beta: float = 0.05, seed: int = 1) -> dict[str, np.ndarray]:
    """``{"topic_word": K x V, "doc_topic": D x K, "counts": D x V (int)}``."""
    rng = np.random.default_rng(seed)
    topic_word = rng.dirichlet(np.full(vocab_size, beta), size=num_topics)
    doc_topic = rng.dirichlet(np.full(num_topics, alpha), size=num_docs)
    lengths = np.maximum(rng.poisson(doc_length, size=num_docs), 10)
    counts = np.zeros((num_docs, vocab_size), dtype=np.int64)
    for d in range(num_docs):
        # Words per topic, then words within each topic: the same distribution as drawing
        # a topic and then a word for each token.
        per_topic = rng.multinomial(lengths[d], doc_topic[d])
        for k in np.flatnonzero(per_topic):
            counts[d] += rng.multinomial(per_topic[k], topic_word[k])
    return {"topic_word": topic_word, "doc_topic": doc_topic, "counts": counts}


def split(num_docs: int) -> tuple[slice, slice, slice]:
    n_train = int(round(num_docs * 0.75))
    n_valid = int(round(num_docs * 0.125))
    return slice(0, n_train), slice(n_train, n_train + n_valid), slice(n_train + n_valid, num_docs)


def write_counts(path: Path, counts: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, counts, fmt="%d", delimiter=",")


def write_corpus(out: Path, **settings: float) -> dict[str, object]:
    corpus = generate(**settings)  # type: ignore[arg-type]
    counts = corpus["counts"]
    parts = dict(zip(("train", "validation", "test"), split(counts.shape[0]), strict=True))
    for name, part in parts.items():
        write_counts(out / name / f"{name}.csv", counts[part])
    truth = out / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    np.save(truth / "topic_word.npy", corpus["topic_word"])
    np.save(truth / "doc_topic_train.npy", corpus["doc_topic"][parts["train"]])
    width = len(str(counts.shape[1] - 1))
    (truth / "vocab.txt").write_text("".join(f"w{i:0{width}d}\n" for i in range(counts.shape[1])))
    meta = {**settings, "split": {k: p.stop - p.start for k, p in parts.items()},
            "feature_dim": int(counts.shape[1]), "mean_doc_length": float(counts.sum(1).mean())}
    (truth / "meta.json").write_text(json.dumps(meta, indent=1) + "\n")
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[2] / "data" / "ntm")
    parser.add_argument("--topics", type=int, default=20)
    parser.add_argument("--vocab", type=int, default=500)
    parser.add_argument("--docs", type=int, default=4000)
    parser.add_argument("--doc-length", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=0.1, help="Dirichlet prior of topic proportions")
    parser.add_argument("--beta", type=float, default=0.05, help="Dirichlet prior of topic-word distributions")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    meta = write_corpus(args.out, num_topics=args.topics, vocab_size=args.vocab, num_docs=args.docs,
                        doc_length=args.doc_length, alpha=args.alpha, beta=args.beta, seed=args.seed)
    print(f"ntm data: {args.out} ({meta['split']}, feature_dim={meta['feature_dim']}, "
          f"{args.topics} true topics in {args.out / 'truth' / 'topic_word.npy'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
