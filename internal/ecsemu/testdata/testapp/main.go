// Command testapp is the ECS emulator tests' container: an HTTP server on HOST:PORT with the
// sample app's fault switches (HEALTH_FAIL=1, ERROR_RATE=0.5, LATENCY_MS, CRASH_AFTER=5s)
// plus EXIT_AT_START=<code>. Every answer carries VERSION, so tests see blue and green.
package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if code := os.Getenv("EXIT_AT_START"); code != "" {
		n, _ := strconv.Atoi(code)
		fmt.Fprintln(os.Stderr, "testapp: exiting at start with", n)
		os.Exit(n)
	}
	version := os.Getenv("VERSION")
	rate, _ := strconv.ParseFloat(os.Getenv("ERROR_RATE"), 64)
	latency, _ := strconv.Atoi(os.Getenv("LATENCY_MS"))
	healthFail := os.Getenv("HEALTH_FAIL") == "1"
	var n atomic.Int64

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if healthFail {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, "OK")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if latency > 0 {
			time.Sleep(time.Duration(latency) * time.Millisecond)
		}
		i := n.Add(1)
		// Deterministic error rate: request i fails when floor(i*rate) moves.
		if rate > 0 && int64(float64(i)*rate) > int64(float64(i-1)*rate) {
			http.Error(w, "injected error "+version, http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, version)
	})
	addr := net.JoinHostPort(os.Getenv("HOST"), os.Getenv("PORT"))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		os.Exit(3)
	}
	srv := &http.Server{Handler: mux}
	if d, err := time.ParseDuration(os.Getenv("CRASH_AFTER")); err == nil && d > 0 {
		time.AfterFunc(d, func() { fmt.Fprintln(os.Stderr, "testapp: crashing"); os.Exit(2) })
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintln(os.Stderr, "testapp: listening on", addr, "version", version)
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
}
