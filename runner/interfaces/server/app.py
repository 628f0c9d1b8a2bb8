"""``smlocal serve``: an HTTP endpoint that speaks SageMaker's API (an ASGI app, Starlette, on
uvicorn), so boto3 and SageMaker SDK code with ``endpoint_url`` pointed here run unchanged.

Every request is one ``POST /`` naming its operation in ``X-Amz-Target``; its answer is the
operation's output shape, or AWS's error shape (``__type``, ``message``) with AWS's HTTP status:
``ValidationException`` (every problem as ``Field.Path: what is wrong``), ``ResourceNotFound``,
``ResourceInUse``, ``UnknownOperationException`` for an operation smlocal does not serve, and
``InternalFailure`` (500, one line, no traceback) for a bug of ours. CloudWatch Logs and
CloudWatch (their reads of training jobs' logs and metrics) answer on the same port.
Signatures are accepted unchecked, unless ``--auth`` asks (``auth``). Handlers run on the
server's thread pool; jobs run on threads of their own.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import uuid
from collections.abc import Callable

import botocore.model
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from runner.api.errors import ENGINE_ERRORS, NAME_ERRORS, ValidationException, error_code
from runner.api.service import Service
from runner.core.documents import MAX_DOCUMENT_BYTES
from runner.core.problems import Problem, SpecError
from runner.interfaces.server import wire
from runner.interfaces.server.auth import Signatures
from runner.interfaces.server.operations import CHECKS_ITSELF, OPERATIONS, listener
from runner.shapes.model import validate_request

log = logging.getLogger("smlocal.server")


def make_app(service: Service, signatures: Signatures | None = None) -> Starlette:
    """The app; with ``signatures``, a request not signed with their credentials is refused
    (403, AWS's error shape) before it is read."""

    async def endpoint(request: Request) -> Response:
        body = await _body(request)
        if body is None:
            return _error(None, 413, "SerializationException",
                          f"the request body is over {MAX_DOCUMENT_BYTES:,} bytes")
        if signatures is not None:
            refusal = signatures.check(request.method, str(request.url), request.headers, body)
            if refusal is not None:
                return _error(None, 403, refusal.code, refusal.message)
        return await run_in_threadpool(answer, service, request.headers.get("x-amz-target"), body)

    return Starlette(routes=[Route("/", endpoint, methods=["POST"])])


async def _body(request: Request) -> bytes | None:
    """The request's body, or None past MAX_DOCUMENT_BYTES (read no further than that)."""
    length = request.headers.get("content-length", "")
    if length.isascii() and length.isdigit() and int(length[:19]) > MAX_DOCUMENT_BYTES:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_DOCUMENT_BYTES:
            return None
    return bytes(body)


def answer(service: Service, target: str | None, body: bytes) -> Response:
    """The response to one request (never raises)."""
    op = None
    try:
        op = wire.operation(target)
        service_name = op.service_model.service_name
        handler = OPERATIONS.get((service_name, op.name))
        if handler is None:
            raise wire.WireError("UnknownOperationException", f"smlocal does not serve {op.name}")
        params = wire.parameters(body)
        if op.name not in CHECKS_ITSELF:
            problems = validate_request(params, op.name, service_name)
            if problems:
                raise ValidationException(problems)
        return _response(op, 200, wire.response_body(op, handler(service, params)))
    except wire.WireError as exc:
        return _error(op, exc.status, exc.code, str(exc))
    except SpecError as exc:  # ValidationException, or a request the specs refuse
        return _error(op, 400, getattr(exc, "code", "ValidationException"),
                      "; ".join(str(p) for p in exc.problems))
    except NAME_ERRORS as exc:
        return _error(op, 400, getattr(exc, "code", None) or error_code(exc) or "ResourceNotFound",
                      str(exc))
    except ENGINE_ERRORS as exc:  # the engine or the machine failed it: said, not a bug
        log.warning("smlocal: %s failed: %s", target, exc)
        return _error(op, 500, "InternalFailure", f"smlocal: {exc}")
    except Exception as exc:  # a bug of ours: one line back, the traceback in the server's log
        log.exception("smlocal: internal error answering %s", target)
        return _error(op, 500, "InternalFailure",
                      f"smlocal failed: {type(exc).__name__}: {exc}")


def _response(op: botocore.model.OperationModel | None, status: int, body: bytes) -> Response:
    return Response(body, status_code=status, media_type=wire.content_type(op),
                    headers={"x-amzn-RequestId": str(uuid.uuid4())})


def _error(op: botocore.model.OperationModel | None, status: int, code: str,
           message: str) -> Response:
    return _response(op, status, wire.error_body(code, message))


def serve(service: Service, host: str, port: int, announce: Callable[[str], None],
          signatures: Signatures | None = None) -> None:
    """Listen on ``host``:``port`` (``--port`` refused, as bad input, when it cannot be had),
    ``announce`` the URL, carry on with the jobs no process runs (a restart's), then answer
    requests (only those ``signatures`` accept, when given) until interrupted (SIGINT,
    SIGTERM)."""
    import uvicorn

    listener_socket = _bind(host, port)
    bound = listener_socket.getsockname()[1]
    announce(f"http://{f'[{host}]' if ':' in host else host}:{bound}")
    service.as_server()
    carried = service.carry_on(listener)
    if carried:
        log.info("smlocal: carrying on with %d job(s) no process ran: %s", len(carried),
                 ", ".join(carried))
    config = uvicorn.Config(make_app(service, signatures), log_level="warning", lifespan="off")
    with contextlib.suppress(KeyboardInterrupt):  # (uvicorn raises the stopping signal again)
        uvicorn.Server(config).run(sockets=[listener_socket])


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port``, bound here so that a port in use or a host
    that is not this machine's is a clear refusal (uvicorn would log and exit)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise SpecError([Problem("--host", f"cannot listen on {host!r}: "
                                           f"{exc.strerror or exc}")]) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise SpecError([Problem("--port", f"cannot listen on {host}:{port}: "
                                           f"{exc.strerror or exc}")]) from None
    return sock
