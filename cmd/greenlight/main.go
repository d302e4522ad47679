// Command greenlight is the operator CLI: status, history, deploy, rollback, verify and
// routes (and any command another file in this directory registers). The commands live in
// internal/cli; this file only wires the process to them.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/greenlight-deploy/greenlight/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is the whole program, for tests: arguments, environment and streams in, exit code out.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) int {
	return newApp(getenv, stdin, stdout, stderr).Run(ctx, args)
}

func newApp(getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) *cli.App {
	app := cli.New(getenv, stdin, stdout, stderr)
	app.Register(registry...)
	return app
}
