"""Hyperparameter tuning: search spaces, strategies, schedulers and the tuner."""
