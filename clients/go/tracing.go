package tessera

import (
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"google.golang.org/grpc"
)

// WithTracing records an OpenTelemetry client span for every call and propagates the caller's
// trace context to Tessera in the call's metadata, so the server's spans (the RPC, its SQL) join
// the caller's trace. It mounts otelgrpc's client stats handler, with OpenTelemetry's gRPC
// conventions: span names such as "tessera.v1.AuthService/Introspect", rpc.* attributes, the global
// TracerProvider and TextMapPropagator unless opts say otherwise.
//
// Set a propagator once in the application, as for any OpenTelemetry instrumentation (the global
// default propagates nothing):
//
//	otel.SetTextMapPropagator(propagation.TraceContext{})
//
// Spans carry the method and status code only: no token, password or TOTP code, which travel in
// requests and metadata that the handler does not record.
func WithTracing(opts ...otelgrpc.Option) Option {
	return func(c *dialConfig) {
		c.grpcOpts = append(c.grpcOpts, grpc.WithStatsHandler(otelgrpc.NewClientHandler(opts...)))
	}
}
