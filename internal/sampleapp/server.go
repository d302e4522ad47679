package sampleapp

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"
)

// Bodies of GET /health. The guide's Flask app answered "OK"; greenlight's default smoke
// check looks for it.
const (
	HealthyBody   = "OK"
	UnhealthyBody = "FAIL"
)

// Info is the body of GET /.
type Info struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
	Hostname string `json:"hostname"`
}

// Option changes how NewServer builds the handler.
type Option func(*server)

// WithRand replaces the source of ERROR_RATE's coin flips (uniform in [0,1)); tests make it
// deterministic. The default is math/rand/v2's, which is safe for concurrent use.
func WithRand(f func() float64) Option { return func(s *server) { s.rand = f } }

type server struct {
	faults  Faults
	logger  *slog.Logger
	rand    func() float64
	info    []byte // GET / body, encoded once
	version []byte // GET /version body, encoded once
	errBody []byte // GET / body when ERROR_RATE answers 500
}

// NewServer returns the service's handler: every route in one place, with access logging
// and the fault switches from cfg applied.
func NewServer(cfg Config, logger *slog.Logger, opts ...Option) http.Handler {
	s := &server{faults: cfg.Faults, logger: logger, rand: rand.Float64}
	for _, o := range opts {
		o(s)
	}
	s.info = mustJSON(Info{Version: cfg.Build.Version, Revision: cfg.Build.Revision, Hostname: cfg.Hostname})
	s.version = mustJSON(cfg.Build)
	s.errBody = mustJSON(map[string]string{
		"error": fmt.Sprintf("fault injected by %s=%s", EnvErrorRate, strconv.FormatFloat(cfg.Faults.ErrorRate, 'f', -1, 64)),
	})

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", s.health)
	mux.HandleFunc("GET /version", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.version) })
	mux.HandleFunc("GET /{$}", s.root)
	return s.logRequests(s.delay(mux))
}

func (s *server) health(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if s.faults.HealthFail {
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(UnhealthyBody))
		return
	}
	_, _ = w.Write([]byte(HealthyBody))
}

func (s *server) root(w http.ResponseWriter, r *http.Request) {
	if s.faults.ErrorRate > 0 && s.rand() < s.faults.ErrorRate {
		writeJSON(w, http.StatusInternalServerError, s.errBody)
		return
	}
	writeJSON(w, http.StatusOK, s.info)
}

// delay applies LATENCY_MS to every route, giving up early if the client goes away.
func (s *server) delay(next http.Handler) http.Handler {
	if s.faults.Latency <= 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(s.faults.Latency)
		defer t.Stop()
		select {
		case <-t.C:
			next.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}

// logRequests writes one JSON line per request: at info, except successful health checks
// (the ALB sends one every 30 s per target group), which go at debug.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(rec, r)
		level := slog.LevelInfo
		if r.URL.Path == "/health" && rec.status == http.StatusOK {
			level = slog.LevelDebug
		}
		ctx := r.Context()
		if !s.logger.Enabled(ctx, level) {
			return
		}
		s.logger.LogAttrs(ctx, level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rec.status),
			slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
			slog.String("remote", r.RemoteAddr),
		)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// mustJSON encodes values that always encode (structs of strings).
func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("sampleapp: encode %T: %v", v, err))
	}
	return append(b, '\n')
}
