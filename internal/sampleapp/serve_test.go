package sampleapp

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
)

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	return ln
}

func TestServeShutsDownGracefully(t *testing.T) {
	ln := listen(t)
	cfg := Config{Build: testBuild, ShutdownTimeout: 5 * time.Second, Faults: Faults{Latency: 300 * time.Millisecond}}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, NewServer(cfg, discard()), cfg, discard()) }()

	// A request in flight when SIGTERM arrives (ctx cancelled) still gets its answer.
	got := make(chan error, 1)
	go func() {
		r, err := http.Get("http://" + ln.Addr().String() + "/version")
		if err == nil {
			_, _ = io.Copy(io.Discard, r.Body)
			_ = r.Body.Close()
			if r.StatusCode != 200 {
				err = errors.New(r.Status)
			}
		}
		got <- err
	}()
	time.Sleep(100 * time.Millisecond) // the request is now waiting out LATENCY_MS
	cancel()

	if err := <-got; err != nil {
		t.Errorf("request in flight during shutdown: %v, want 200", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve after cancel = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

func TestServeCrashAfter(t *testing.T) {
	ln := listen(t)
	cfg := Config{Build: testBuild, Faults: Faults{CrashAfter: 150 * time.Millisecond}}
	start := time.Now()
	err := Serve(context.Background(), ln, NewServer(cfg, discard()), cfg, discard())
	if !errors.Is(err, ErrCrashed) {
		t.Fatalf("Serve with CRASH_AFTER=150ms = %v, want ErrCrashed", err)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("crashed after %v, before CRASH_AFTER", took)
	}
}

func TestServeShutdownTimeout(t *testing.T) {
	ln := listen(t)
	cfg := Config{ShutdownTimeout: 50 * time.Millisecond, Faults: Faults{Latency: 10 * time.Second}}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- Serve(ctx, ln, NewServer(cfg, discard()), cfg, discard()) }()
	go func() {
		if r, err := http.Get("http://" + ln.Addr().String() + "/"); err == nil {
			_ = r.Body.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	select {
	case err := <-served:
		if err == nil || !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Serve with a request outliving SHUTDOWN_TIMEOUT = %v, want a deadline error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not give up after SHUTDOWN_TIMEOUT")
	}
}
