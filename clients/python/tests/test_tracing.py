"""TracingInterceptor and AsyncTracingInterceptor against a real gRPC server on loopback that keeps
the metadata each call brought: the client span, and the ``traceparent`` the server received.

The whole path through a real Tessera to an OTLP receiver is ``tests/e2e/client_traces.rs``.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tessera_auth_client import AsyncClient, Client, TesseraError
from tessera_auth_client._proto.tessera.v1 import auth_pb2 as pb
from tessera_auth_client._proto.tessera.v1 import auth_pb2_grpc
from tessera_auth_client.tracing import AsyncTracingInterceptor, TracingInterceptor

PASSWORD = "planted-password-in-a-request"
TOKEN = "planted-service-token"


class _Recorder(auth_pb2_grpc.AuthServiceServicer):
    """Answers Introspect (inactive), refuses Login, streams nothing; keeps each call's metadata."""

    def __init__(self) -> None:
        self.metadata: list[list[tuple[str, str]]] = []

    def _keep(self, context: grpc.ServicerContext) -> None:
        self.metadata.append([(k, str(v)) for k, v in context.invocation_metadata()])

    def Introspect(
        self, request: pb.IntrospectRequest, context: grpc.ServicerContext
    ) -> pb.IntrospectResponse:
        self._keep(context)
        return pb.IntrospectResponse(active=False)

    def Login(self, request: pb.LoginRequest, context: grpc.ServicerContext) -> pb.LoginResponse:
        self._keep(context)
        context.abort(grpc.StatusCode.UNAUTHENTICATED, "refused")

    def WatchRevocations(
        self, request: pb.WatchRevocationsRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchRevocationsResponse]:
        self._keep(context)
        return iter(())


@pytest.fixture
def recorder() -> Iterator[tuple[str, _Recorder]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    # The stubs declare every RPC abstract; the calls this module makes are the ones it answers.
    servicer = _Recorder()  # type: ignore[abstract]
    auth_pb2_grpc.add_AuthServiceServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"http://127.0.0.1:{port}", servicer
    finally:
        server.stop(grace=None)


@pytest.fixture
def spans() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _traceparent(metadata: list[tuple[str, str]]) -> str:
    values = [v for k, v in metadata if k == "traceparent"]
    assert len(values) == 1, metadata
    return values[0]


def _parent_of(traceparent: str) -> tuple[str, str]:
    """The trace and span ids a ``traceparent`` names (its flags may add W3C's random-id bit)."""
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00" and int(flags, 16) & 1, traceparent
    return trace_id, span_id


def _expected(span: ReadableSpan) -> tuple[str, str]:
    context = span.get_span_context()
    assert context is not None
    return trace.format_trace_id(context.trace_id), trace.format_span_id(context.span_id)


def _by_name(exported: tuple[ReadableSpan, ...], name: str) -> ReadableSpan:
    return next(s for s in exported if s.name == name)


def _no_secret(exported: tuple[ReadableSpan, ...]) -> None:
    for span in exported:
        text = repr(dict(span.attributes or {})) + repr(span.events) + str(span.status.description)
        assert PASSWORD not in text and TOKEN not in text, span


def _check_unary(exported: tuple[ReadableSpan, ...], received: list[list[tuple[str, str]]]) -> None:
    app = _by_name(exported, "app")
    introspect = _by_name(exported, "tessera.v1.AuthService/Introspect")
    assert introspect.kind is SpanKind.CLIENT
    assert introspect.parent is not None and introspect.parent.span_id == app.context.span_id
    assert dict(introspect.attributes or {}) == {
        "rpc.system": "grpc",
        "rpc.service": "tessera.v1.AuthService",
        "rpc.method": "Introspect",
        "rpc.grpc.status_code": 0,
    }
    assert introspect.status.status_code is StatusCode.UNSET
    login = _by_name(exported, "tessera.v1.AuthService/Login")
    assert login.status.status_code is StatusCode.ERROR
    assert login.status.description == "UNAUTHENTICATED"
    assert dict(login.attributes or {})["rpc.grpc.status_code"] == 16
    assert not login.events, "no exception (and its message) is recorded"
    _no_secret(exported)
    # The server received each call's own span as the parent, and the bearer token still.
    assert len(received) == 2
    assert _parent_of(_traceparent(received[0])) == _expected(introspect)
    assert ("authorization", f"Bearer {TOKEN}") in received[0]
    assert _parent_of(_traceparent(received[1])) == _expected(login)


def test_sync_calls_get_client_spans_and_carry_their_context(
    recorder: tuple[str, _Recorder], spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    addr, servicer = recorder
    provider, exporter = spans
    tracing = [TracingInterceptor(tracer_provider=provider)]
    with (
        Client(addr, token=TOKEN, interceptors=tracing) as client,
        provider.get_tracer("test").start_as_current_span("app"),
    ):
        assert not client.introspect("some-token").active
        with pytest.raises(TesseraError):
            client.login("alice", PASSWORD)
    _check_unary(exporter.get_finished_spans(), servicer.metadata)


@pytest.mark.asyncio
async def test_async_calls_get_client_spans_and_carry_their_context(
    recorder: tuple[str, _Recorder], spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    addr, servicer = recorder
    provider, exporter = spans
    client = AsyncClient(
        addr, token=TOKEN, interceptors=[AsyncTracingInterceptor(tracer_provider=provider)]
    )
    try:
        with provider.get_tracer("test").start_as_current_span("app"):
            assert not (await client.introspect("some-token")).active
            with pytest.raises(TesseraError):
                await client.login("alice", PASSWORD)
    finally:
        await client.close()
    _check_unary(exporter.get_finished_spans(), servicer.metadata)


def test_a_stream_carries_the_callers_context_and_replaces_a_hand_set_one(
    recorder: tuple[str, _Recorder], spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    addr, servicer = recorder
    provider, exporter = spans
    stale = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with (
        grpc.insecure_channel(addr.removeprefix("http://")) as channel,
        provider.get_tracer("test").start_as_current_span("app"),
    ):
        traced = grpc.intercept_channel(channel, TracingInterceptor(tracer_provider=provider))
        stub: Any = auth_pb2_grpc.AuthServiceStub(traced)
        stream = stub.WatchRevocations(
            pb.WatchRevocationsRequest(), metadata=(("traceparent", stale),), timeout=10
        )
        assert list(stream) == []
    (app,) = exporter.get_finished_spans()
    assert app.name == "app"
    assert _parent_of(_traceparent(servicer.metadata[0])) == _expected(app)
