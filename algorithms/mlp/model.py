"""The MLP classifier: (standardise) -> [linear -> (batch norm) -> activation -> (dropout)]
per hidden layer -> linear to num_classes logits. The standardisation's mean and standard
deviation are buffers, so the saved state dict carries them."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def hidden_sizes(spec: str) -> list[int]:
    if spec.strip().lower() == "none":
        return []
    return [int(part) for part in spec.split(",") if part.strip()]


class MLP(nn.Module):
    mean: torch.Tensor
    scale: torch.Tensor

    def __init__(self, feature_dim: int, num_classes: int, hidden: list[int], activation: str = "relu",
                 dropout: float = 0.0, batch_norm: bool = False):
        super().__init__()
        self.register_buffer("mean", torch.zeros(feature_dim))
        self.register_buffer("scale", torch.ones(feature_dim))
        layers: list[nn.Module] = []
        width = feature_dim
        for size in hidden:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*layers)

    def set_normalization(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        self.mean.copy_(mean)
        # Constant features (std 0) pass through centred, not divided by zero.
        self.scale.copy_(torch.where(std > 1e-8, std, torch.ones_like(std)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net((x - self.mean) / self.scale)
        return out
