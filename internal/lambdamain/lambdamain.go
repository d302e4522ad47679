// Package lambdamain is the main of greenlight's Lambda functions: one JSON slog logger per
// process (lambdacontext: the request ID on every record), the handler built once from the
// environment, then lambda.Start. Each functions/<name>/main.go supplies only its build.
package lambdamain

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// Build reads the configuration from getenv, makes the clients and returns the handler (any
// signature lambda.Start accepts).
type Build[H any] func(ctx context.Context, getenv func(string) string, log *slog.Logger) (H, error)

// Run builds the handler and serves it. A handler that cannot be built is logged with the
// reason and the process exits, so the first invocation fails with that reason in the logs.
func Run[H any](name string, build Build[H]) {
	log := lambdacontext.NewLogger()
	slog.SetDefault(log)
	h, err := build(context.Background(), os.Getenv, log)
	if err != nil {
		log.Error(name+" cannot start", "error", err)
		os.Exit(1)
	}
	lambda.Start(h)
}
