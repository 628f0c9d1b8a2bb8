"""The Neural Topic Model: a variational autoencoder over bag-of-words documents.

- Encoder: log(1 + counts) -> fully connected layers (``encoder_layers``, activation
  ``encoder_layers_activation``, optional batch norm) -> mean and log-variance of a
  Gaussian over ``num_topics`` dimensions.
- Topic layer: z ~ N(mu, sigma^2) by the reparameterisation trick, topic proportions
  theta = softmax(z) (a logistic-normal distribution over the simplex).
- Decoder: each topic k is a distribution over words, beta_k = softmax(W_k); a document's
  word distribution is the mixture sum_k theta_k beta_k (LDA's likelihood).
- Loss per document: reconstruction = -sum_w count_w log p(w | theta), plus the KL
  divergence of N(mu, sigma^2) from the prior N(0, I); the total is their sum.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def encoder_sizes(spec: str, num_topics: int) -> list[int]:
    """``auto`` is SageMaker NTM's default: two layers of 3 x and 2 x num_topics units."""
    if spec.strip().lower() == "auto":
        return [3 * num_topics, 2 * num_topics]
    return [int(part) for part in spec.split(",") if part.strip()]


class NTM(nn.Module):
    def __init__(self, feature_dim: int, num_topics: int, encoder_layers: list[int],
                 activation: str = "sigmoid", batch_norm: bool = False):
        super().__init__()
        self.feature_dim, self.num_topics = feature_dim, num_topics
        layers: list[nn.Module] = []
        width = feature_dim
        for size in encoder_layers:
            layers.append(nn.Linear(width, size))
            if batch_norm:
                layers.append(nn.BatchNorm1d(size))
            layers.append(ACTIVATIONS[activation]())
            width = size
        self.encoder = nn.Sequential(*layers)
        self.mu = nn.Linear(width, num_topics)
        self.logvar = nn.Linear(width, num_topics)
        # Topic-word logits; small random values so that topics start apart.
        self.topic_word_logits = nn.Parameter(0.01 * torch.randn(num_topics, feature_dim))
        # Start with small posterior variances: the reconstruction term dominates early.
        nn.init.constant_(self.logvar.bias, -2.0)

    def topic_word(self) -> torch.Tensor:
        """num_topics x feature_dim, each row a distribution over the vocabulary."""
        return F.softmax(self.topic_word_logits, dim=1)

    def encode(self, counts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(torch.log1p(counts))
        return self.mu(h), self.logvar(h).clamp(-10.0, 10.0)

    def forward(self, counts: torch.Tensor, sample: bool = True) -> dict[str, torch.Tensor]:
        """Per-document losses: ``recons``, ``kl`` and ``total`` (each of shape [batch]), and
        the topic proportions ``theta``. ``sample=False`` uses the posterior mean (evaluation)."""
        mu, logvar = self.encode(counts)
        if sample:
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        else:
            z = mu
        theta = F.softmax(z, dim=1)
        word_probs = theta @ self.topic_word()
        recons = -(counts * torch.log(word_probs + 1e-10)).sum(dim=1)
        kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(dim=1)
        return {"recons": recons, "kl": kl, "total": recons + kl, "theta": theta}
