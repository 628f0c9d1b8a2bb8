"""``smlocal serve``: SageMaker's API over HTTP, for boto3 and SDK scripts run unchanged."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from runner.core.problems import Problem, SpecError

EXIT_OK = 0


def cmd_serve(args: argparse.Namespace, service: Any) -> int:
    import logging

    from runner.interfaces.server.app import serve
    from runner.interfaces.server.auth import server_signatures

    if not 0 <= args.port <= 65535:
        raise SpecError([Problem("--port", f"must be a port number, 0 to 65535 (got {args.port})")])
    signatures = server_signatures() if args.auth else None
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    where = "loopback only: this machine" if args.host in ("127.0.0.1", "::1", "localhost") else (
        "NOT loopback: other machines can reach it")
    if signatures is not None:
        where += f"; requests must be signed with access key ...{signatures.access_key[-4:]}"
    elif not where.startswith("loopback"):
        where += "; requests are not authenticated (--auth checks them)"

    def announce(url: str) -> None:
        print(f"smlocal: serving SageMaker's API on {url} ({where}); point endpoint_url (or "
              f"AWS_ENDPOINT_URL_SAGEMAKER) there. Ctrl-C stops.", file=sys.stderr)

    moto = None
    if args.with_moto:
        if args.endpoint_url:
            raise SpecError([Problem("--with-moto", "cannot be used with --endpoint-url")])
        from runner.interfaces.server.demo_s3 import start_moto

        moto, s3_url = start_moto()
        print(f"smlocal: S3 is a moto server at {s3_url}, in memory: what is put there is gone "
              f"when this server stops; point AWS_ENDPOINT_URL_S3 there", file=sys.stderr)
    try:
        serve(service, args.host, args.port, announce, signatures)
    finally:
        if moto is not None:
            moto.stop()
    return EXIT_OK
