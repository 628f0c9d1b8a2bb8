"""The container contract: every /opt/ml path, channels, instance types, GPUs, metrics, log
lines."""
