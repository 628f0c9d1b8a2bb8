"""``smlocal serve --with-moto``: a moto server beside smlocal's, on loopback, standing in for
S3 (and STS) so a demo needs no AWS account. It is in memory: what is put there is gone when
the server stops. The serving process's S3 endpoint is pointed at it (its jobs read and write
there); clients are told where it is."""

from __future__ import annotations

import logging
import os
from typing import Any

from runner.core.problems import Problem, SpecError

DEMO_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "smlocal-demo", "AWS_SECRET_ACCESS_KEY": "smlocal-demo"}


def start_moto() -> tuple[Any, str]:
    """A moto server on a free loopback port, and its URL; this process's S3 and STS go to
    it (with stand-in credentials when the process has none: moto takes any)."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise SpecError([Problem("--with-moto", (
            "needs moto's server: pip install 'moto[server]'"))]) from None
    import botocore.session

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # (a line per request otherwise)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL_S3"] = url
    os.environ["AWS_ENDPOINT_URL_STS"] = url
    if botocore.session.Session().get_credentials() is None:
        os.environ.update(DEMO_CREDENTIALS)
    return server, url
