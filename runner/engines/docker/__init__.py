"""The local Docker engine (docker-py's low-level API) as a backend."""
