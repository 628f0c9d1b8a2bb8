"""Schedulers: continue/stop per reported objective value (early stopping, Hyperband)."""
