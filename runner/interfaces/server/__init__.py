"""``smlocal serve``: SageMaker's own API over HTTP, a front end of the service."""
