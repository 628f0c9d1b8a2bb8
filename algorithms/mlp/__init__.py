"""Multilayer perceptron classifier (``python3 -m algorithms.mlp`` trains under the container contract)."""
