"""A training job's run: its hosts, its data in and out, its logs and metrics."""
