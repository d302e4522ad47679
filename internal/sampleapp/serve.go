package sampleapp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// ErrCrashed is returned by Serve when CRASH_AFTER has passed: the process should exit
// non-zero, as a crashing container would.
var ErrCrashed = errors.New("crashed on purpose (" + EnvCrashAfter + ")")

// NewLogger returns the process's JSON logger at level, writing to w.
func NewLogger(w io.Writer, level slog.Leveler) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// Serve serves h on ln until ctx is done, then shuts down gracefully: it stops accepting,
// lets requests in flight finish for up to cfg.ShutdownTimeout, and returns nil. When
// cfg.Faults.CrashAfter passes first it drops every connection at once and returns
// ErrCrashed.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, cfg Config, logger *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		// The ALB's idle timeout is 60 s; keep connections open a little longer so the
		// ALB, not the app, closes idle ones (avoids 502s on reused connections).
		IdleTimeout: 65 * time.Second,
		ErrorLog:    slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	var crash <-chan time.Time
	if d := cfg.Faults.CrashAfter; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		crash = t.C
	}

	select {
	case err := <-served:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-crash:
		logger.Error("crashing on purpose", "after", cfg.Faults.CrashAfter.String())
		_ = srv.Close()
		<-served
		return ErrCrashed
	case <-ctx.Done():
	}

	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	// ctx is already done; the shutdown needs a deadline of its own.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	<-served // http.ErrServerClosed once Shutdown has begun
	if err != nil {
		_ = srv.Close()
		return fmt.Errorf("graceful shutdown within %s: %w", cfg.ShutdownTimeout, err)
	}
	logger.Info("stopped")
	return nil
}
