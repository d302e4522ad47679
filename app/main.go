// Command app is greenlight's sample service: the Go counterpart of the hand-run guide's
// Flask app, with GET /health for the ALB, GET / and GET /version to show which build
// answers, and fault switches (HEALTH_FAIL, ERROR_RATE, LATENCY_MS, CRASH_AFTER) for
// rehearsing rollbacks. The logic lives in internal/sampleapp; this file only wires it.
//
// Build: go build ./app, or the image: docker buildx build -f app/Dockerfile . (from the
// repository root).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/greenlight-deploy/greenlight/internal/sampleapp"
)

// Set with -ldflags "-X main.version=v1.2.3 -X main.revision=<git sha>"; the VERSION and
// REVISION environment variables override them.
var (
	version  = sampleapp.DefaultVersion
	revision = ""
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "app:", err)
		stop()
		os.Exit(1)
	}
}

// run starts the service and blocks until ctx is done (graceful shutdown, nil) or the
// service fails (including CRASH_AFTER, sampleapp.ErrCrashed).
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	fs.SetOutput(stdout)
	showVersion := fs.Bool("version", false, "print the version and revision, then exit")
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}

	cfg, err := sampleapp.ConfigFromEnv(getenv, sampleapp.Build{Version: version, Revision: revision})
	if err != nil {
		return err
	}
	if *showVersion {
		_, err := fmt.Fprintf(stdout, "%s %s\n", cfg.Build.Version, cfg.Build.Revision)
		return err
	}
	if cfg.Hostname, err = os.Hostname(); err != nil {
		cfg.Hostname = "unknown"
	}

	logger := sampleapp.NewLogger(stdout, cfg.LogLevel).With("version", cfg.Build.Version)
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return fmt.Errorf("listen on %s (HOST, PORT): %w", cfg.Addr(), err)
	}
	logger.Info("listening", "addr", ln.Addr().String(), "revision", cfg.Build.Revision, "faults", cfg.Faults)
	return sampleapp.Serve(ctx, ln, sampleapp.NewServer(cfg, logger), cfg, logger)
}
