// Command tracecall is an application that traces its Tessera calls, for the Rust end-to-end test
// tests/e2e/client_traces.rs (which asserts on what a real OTLP receiver got).
//
// Inside one application span it logs in with a wrong password, then the right one (each with a
// TOTP code), and introspects the new session with the service token, through a client dialed with
// tessera.WithTracing. The SDK exports over OTLP/gRPC to OTEL_EXPORTER_OTLP_ENDPOINT as
// OTEL_SERVICE_NAME. It prints one JSON line: the application span's trace and span ids, and the
// session token (for the test to search the exported bytes for).
//
// Env: TESSERA_ADDR, TESSERA_SERVICE_TOKEN, TRACE_USERNAME, TRACE_PASSWORD, TRACE_WRONG_PASSWORD,
// TRACE_TOTP_CODE.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	tessera "github.com/tessera-auth/tessera/clients/go"
)

type report struct {
	TraceID string `json:"trace_id"`
	SpanID  string `json:"span_id"`
	Token   string `json:"token"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tracecall:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	// Reads OTEL_EXPORTER_OTLP_ENDPOINT; the default resource reads OTEL_SERVICE_NAME.
	exporter, err := otlptracegrpc.New(ctx)
	if err != nil {
		return err
	}
	provider := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter))
	otel.SetTracerProvider(provider)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	addr := os.Getenv("TESSERA_ADDR")
	opts := []tessera.Option{tessera.WithTracing(), tessera.WithDefaultTimeout(30 * time.Second)}
	client, err := tessera.Dial(ctx, addr, opts...)
	if err != nil {
		return err
	}
	defer client.Close()
	service := client.WithToken(os.Getenv("TESSERA_SERVICE_TOKEN"))

	out, err := checkCaller(ctx, client, service)
	if err != nil {
		return err
	}
	// Exports what is still queued before printing.
	if err := provider.Shutdown(ctx); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(out)
}

func checkCaller(ctx context.Context, client, service *tessera.Client) (report, error) {
	ctx, span := otel.Tracer("tracecall").Start(ctx, "check a caller")
	defer span.End()
	username, totp := os.Getenv("TRACE_USERNAME"), os.Getenv("TRACE_TOTP_CODE")

	_, err := client.Login(ctx, tessera.Credentials{Username: username, Password: os.Getenv("TRACE_WRONG_PASSWORD"), TOTPCode: totp})
	if !errors.Is(err, tessera.ErrInvalidCredentials) {
		return report{}, fmt.Errorf("a wrong password: want ErrInvalidCredentials, got %v", err)
	}
	session, err := client.Login(ctx, tessera.Credentials{Username: username, Password: os.Getenv("TRACE_PASSWORD"), TOTPCode: totp})
	if err != nil {
		return report{}, err
	}
	info, err := service.Introspect(ctx, session.Token.Expose())
	if err != nil {
		return report{}, err
	}
	if !info.Active {
		return report{}, errors.New("the new session is not active")
	}
	sc := span.SpanContext()
	return report{TraceID: sc.TraceID().String(), SpanID: sc.SpanID().String(), Token: session.Token.Expose()}, nil
}
