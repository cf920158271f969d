"""OpenTelemetry trace-context propagation for Tessera calls (install the ``otel`` extra).

>>> from tessera_auth_client import Client
>>> from tessera_auth_client.tracing import TracingInterceptor
>>> tessera = Client("https://tessera:50051", token=service_token,
...                  interceptors=[TracingInterceptor()])

Each unary call gets a ``CLIENT`` span named after the RPC (``tessera.v1.AuthService/Introspect``)
under the caller's current span, with OpenTelemetry's RPC attributes (``rpc.system``,
``rpc.service``, ``rpc.method``, ``rpc.grpc.status_code``), and that span's context travels to the
server in the call's metadata through the globally configured propagator (W3C ``traceparent`` by
default), as OpenTelemetry's own gRPC instrumentation does. The server's spans (the RPC, its SQL)
then join the caller's trace. A stream (``watch_revocations``) carries the caller's context without
a span of its own: it lives as long as the watch.

Nothing of a request, a response or the call's other metadata reaches a span: no token, password
or TOTP code, only the method and the status code. With no tracer provider configured, the spans
are OpenTelemetry's no-op spans and only an already-sampled caller context is propagated.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from grpc import aio
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

__all__ = ["AsyncTracingInterceptor", "TracingInterceptor"]

_INSTRUMENTATION = "tessera_auth_client"

_Req = TypeVar("_Req")
_Resp = TypeVar("_Resp")


def _method_name(method: str | bytes) -> str:
    # grpc passes "/tessera.v1.AuthService/Introspect" (bytes under grpc.aio).
    text = method.decode("ascii", "replace") if isinstance(method, bytes) else method
    return text.lstrip("/")


def _span_attributes(name: str) -> dict[str, str]:
    service, _, method = name.rpartition("/")
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}


def _with_context(metadata: Any) -> list[tuple[str, str | bytes]]:
    """The call's metadata plus the current context's propagation headers (replacing any the
    caller set by hand, so the server sees exactly one ``traceparent``)."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    kept = [(key, value) for key, value in (metadata or ()) if key.lower() not in carrier]
    return kept + list(carrier.items())


def _record_status(span: trace.Span, code: grpc.StatusCode | None) -> None:
    if code is None:
        return
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        # The code's name only: a status message is the server's text, not ours to export.
        span.set_status(Status(StatusCode.ERROR, code.name))


class _CallDetails(grpc.ClientCallDetails):
    def __init__(self, details: grpc.ClientCallDetails, metadata: Any) -> None:
        self.method = details.method
        self.timeout = details.timeout
        self.metadata = metadata
        self.credentials = details.credentials
        self.wait_for_ready = details.wait_for_ready
        self.compression = details.compression


class TracingInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Client spans and trace-context propagation for :class:`~tessera_auth_client.Client`.

    Args:
        tracer_provider: where the spans go; the global provider when ``None``.
    """

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer(_INSTRUMENTATION, tracer_provider=tracer_provider)

    def intercept_unary_unary(
        self,
        continuation: Callable[[grpc.ClientCallDetails, _Req], Any],
        client_call_details: grpc.ClientCallDetails,
        request: _Req,
    ) -> Any:
        name = _method_name(client_call_details.method)
        with self._tracer.start_as_current_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=_span_attributes(name),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            details = _CallDetails(client_call_details, _with_context(client_call_details.metadata))
            call = continuation(details, request)
            # A unary call's outcome is complete once code() returns; the span covers the call.
            _record_status(span, call.code())
            return call

    def intercept_unary_stream(
        self,
        continuation: Callable[[grpc.ClientCallDetails, _Req], Any],
        client_call_details: grpc.ClientCallDetails,
        request: _Req,
    ) -> Any:
        details = _CallDetails(client_call_details, _with_context(client_call_details.metadata))
        return continuation(details, request)


class AsyncTracingInterceptor(aio.UnaryUnaryClientInterceptor, aio.UnaryStreamClientInterceptor):
    """:class:`TracingInterceptor` for :class:`~tessera_auth_client.AsyncClient` (``grpc.aio``)."""

    def __init__(self, tracer_provider: trace.TracerProvider | None = None) -> None:
        self._tracer = trace.get_tracer(_INSTRUMENTATION, tracer_provider=tracer_provider)

    @staticmethod
    def _details(details: aio.ClientCallDetails) -> aio.ClientCallDetails:
        return aio.ClientCallDetails(
            details.method,
            details.timeout,
            aio.Metadata(*_with_context(details.metadata)),
            details.credentials,
            details.wait_for_ready,
        )

    async def intercept_unary_unary(
        self,
        continuation: Callable[
            [aio.ClientCallDetails, _Req], Awaitable[aio.UnaryUnaryCall[_Req, _Resp]]
        ],
        client_call_details: aio.ClientCallDetails,
        request: _Req,
    ) -> aio.UnaryUnaryCall[_Req, _Resp]:
        name = _method_name(client_call_details.method)
        with self._tracer.start_as_current_span(
            name,
            kind=SpanKind.CLIENT,
            attributes=_span_attributes(name),
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            call = await continuation(self._details(client_call_details), request)
            _record_status(span, await call.code())
            return call

    async def intercept_unary_stream(
        self,
        continuation: Callable[
            [aio.ClientCallDetails, _Req], Awaitable[aio.UnaryStreamCall[_Req, _Resp]]
        ],
        client_call_details: aio.ClientCallDetails,
        request: _Req,
    ) -> AsyncIterator[_Resp] | aio.UnaryStreamCall[_Req, _Resp]:
        return await continuation(self._details(client_call_details), request)
