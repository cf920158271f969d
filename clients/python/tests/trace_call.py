"""An application that traces its Tessera calls, for the Rust end-to-end test
``tests/e2e/client_traces.rs`` (which asserts on what a real OTLP receiver got).

Inside one application span it logs in with a wrong password, then the right one (each with a TOTP
code), and introspects the new session with the service token, all through
:class:`~tessera_auth_client.tracing.TracingInterceptor`. The SDK exports over OTLP/gRPC to
``OTEL_EXPORTER_OTLP_ENDPOINT`` as ``OTEL_SERVICE_NAME``. Prints one JSON line: the application
span's trace and span ids, and the session token (for the test to search the exported bytes for).

Env: TESSERA_ADDR, TESSERA_SERVICE_TOKEN, TRACE_USERNAME, TRACE_PASSWORD, TRACE_WRONG_PASSWORD,
TRACE_TOTP_CODE. Run: ``python -m tests.trace_call`` from clients/python.
"""

from __future__ import annotations

import json
import os
import sys

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from tessera_auth_client import Client, InvalidCredentials
from tessera_auth_client.tracing import TracingInterceptor


def main() -> int:
    env = os.environ
    provider = TracerProvider(resource=Resource.create())
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    tracer = trace.get_tracer("trace_call")

    tracing = [TracingInterceptor()]
    with (
        Client(env["TESSERA_ADDR"], interceptors=tracing) as anonymous,
        Client(
            env["TESSERA_ADDR"], token=env["TESSERA_SERVICE_TOKEN"], interceptors=tracing
        ) as service,
        tracer.start_as_current_span("check a caller") as span,
    ):
        try:
            anonymous.login(
                env["TRACE_USERNAME"],
                env["TRACE_WRONG_PASSWORD"],
                totp_code=env["TRACE_TOTP_CODE"],
            )
            print("a wrong password was accepted", file=sys.stderr)
            return 1
        except InvalidCredentials:
            pass
        session = anonymous.login(
            env["TRACE_USERNAME"], env["TRACE_PASSWORD"], totp_code=env["TRACE_TOTP_CODE"]
        )
        seen = service.introspect(session.token)
        if not seen.active:
            print("the new session is not active", file=sys.stderr)
            return 1
        context = span.get_span_context()
    # Exports what is still queued before returning.
    provider.shutdown()
    ids = {
        "trace_id": trace.format_trace_id(context.trace_id),
        "span_id": trace.format_span_id(context.span_id),
        "token": session.token,
    }
    print(json.dumps(ids))
    return 0


if __name__ == "__main__":
    sys.exit(main())
