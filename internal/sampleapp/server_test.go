package sampleapp

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var testBuild = Build{Version: "v1.2.3", Revision: "0123abcd"}

func testConfig(f Faults) Config {
	return Config{Build: testBuild, Hostname: "ip-10-0-11-23", Faults: f}
}

// serve sends one request through the handler and returns the response.
func serve(t *testing.T, h http.Handler, method, path string) *http.Response {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }

func TestRoutes(t *testing.T) {
	h := NewServer(testConfig(Faults{}), discard())
	tests := []struct {
		method, path string
		status       int
		contentType  string
		body         string // exact, or JSON compared field by field when it starts with {
	}{
		{"GET", "/health", 200, "text/plain; charset=utf-8", "OK"},
		{"HEAD", "/health", 200, "text/plain; charset=utf-8", "OK"}, // net/http drops it on the wire
		{"GET", "/", 200, "application/json", `{"version":"v1.2.3","revision":"0123abcd","hostname":"ip-10-0-11-23"}`},
		{"GET", "/version", 200, "application/json", `{"version":"v1.2.3","revision":"0123abcd"}`},
		{"GET", "/nope", 404, "", ""},
		{"POST", "/health", 405, "", ""},
		{"POST", "/", 405, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := serve(t, h, tt.method, tt.path)
			if r.StatusCode != tt.status {
				t.Fatalf("%s %s status = %d, want %d", tt.method, tt.path, r.StatusCode, tt.status)
			}
			if tt.contentType != "" {
				if got := r.Header.Get("Content-Type"); got != tt.contentType {
					t.Errorf("%s %s Content-Type = %q, want %q", tt.method, tt.path, got, tt.contentType)
				}
				if got := r.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("%s %s Cache-Control = %q, want no-store", tt.method, tt.path, got)
				}
			}
			got := body(t, r)
			if strings.HasPrefix(tt.body, "{") {
				assertJSON(t, got, tt.body)
			} else if tt.status == 200 && got != tt.body {
				t.Errorf("%s %s body = %q, want %q", tt.method, tt.path, got, tt.body)
			}
		})
	}
}

func assertJSON(t *testing.T, got, want string) {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("body %q is not JSON: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %q: %v", want, err)
	}
	if len(g) != len(w) {
		t.Errorf("body = %s, want %s", got, want)
	}
	for k, v := range w {
		if g[k] != v {
			t.Errorf("body[%q] = %v, want %v (body %s)", k, g[k], v, got)
		}
	}
}

func TestHealthFail(t *testing.T) {
	h := NewServer(testConfig(Faults{HealthFail: true}), discard())
	r := serve(t, h, "GET", "/health")
	if r.StatusCode != 500 || body(t, r) != "FAIL" {
		t.Errorf("GET /health with HEALTH_FAIL = %d, want 500 FAIL", r.StatusCode)
	}
	// Only the health check fails: the smoke test's other checks and users still get 200.
	if r := serve(t, h, "GET", "/"); r.StatusCode != 200 {
		t.Errorf("GET / with HEALTH_FAIL = %d, want 200", r.StatusCode)
	}
}

// seq returns the values in order, then keeps returning the last one.
func seq(vals ...float64) func() float64 {
	i := 0
	return func() float64 {
		v := vals[min(i, len(vals)-1)]
		i++
		return v
	}
}

func TestErrorRate(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		flips []float64
		want  []int
	}{
		{"off never fails", 0, []float64{0, 0.5, 0.999}, []int{200, 200, 200}},
		{"a flip below the rate fails", 0.25, []float64{0.1, 0.25, 0.9, 0.2499}, []int{500, 200, 200, 500}},
		{"all", 1, []float64{0, 0.5, 0.999999}, []int{500, 500, 500}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewServer(testConfig(Faults{ErrorRate: tt.rate}), discard(), WithRand(seq(tt.flips...)))
			for i, want := range tt.want {
				r := serve(t, h, "GET", "/")
				if r.StatusCode != want {
					t.Errorf("request %d (flip %v, ERROR_RATE %v) status = %d, want %d", i, tt.flips[i], tt.rate, r.StatusCode, want)
				}
				if want == 500 {
					assertJSON(t, body(t, r), `{"error":"fault injected by ERROR_RATE=`+formatRate(tt.rate)+`"}`)
				}
			}
			// The health check and /version never fail from ERROR_RATE, so the ALB keeps
			// the task and the alarm, not the health check, has to catch it.
			if r := serve(t, h, "GET", "/health"); r.StatusCode != 200 {
				t.Errorf("GET /health with ERROR_RATE %v = %d, want 200", tt.rate, r.StatusCode)
			}
			if r := serve(t, h, "GET", "/version"); r.StatusCode != 200 {
				t.Errorf("GET /version with ERROR_RATE %v = %d, want 200", tt.rate, r.StatusCode)
			}
		})
	}
}

func formatRate(r float64) string {
	b, _ := json.Marshal(r)
	return string(b)
}

func TestErrorRateWithDefaultRandomness(t *testing.T) {
	h := NewServer(testConfig(Faults{ErrorRate: 0.5}), discard())
	const n = 2000
	fails := 0
	for range n {
		if serve(t, h, "GET", "/").StatusCode == 500 {
			fails++
		}
	}
	// Binomial(2000, 0.5): mean 1000, sd ≈ 22; ±200 is over 8 sd.
	if fails < 800 || fails > 1200 {
		t.Errorf("ERROR_RATE=0.5 failed %d of %d requests, want about half", fails, n)
	}
}

func TestLatency(t *testing.T) {
	const latency = 60 * time.Millisecond
	h := NewServer(testConfig(Faults{Latency: latency}), discard())
	for _, path := range []string{"/", "/health", "/version"} {
		start := time.Now()
		r := serve(t, h, "GET", path)
		if took := time.Since(start); took < latency {
			t.Errorf("GET %s with LATENCY_MS=60 answered after %v, want at least %v", path, took, latency)
		}
		if r.StatusCode != 200 {
			t.Errorf("GET %s with LATENCY_MS = %d, want 200", path, r.StatusCode)
		}
	}
}

func TestLatencyGivesUpWhenTheClientLeaves(t *testing.T) {
	h := NewServer(testConfig(Faults{Latency: time.Hour}), discard())
	ctx, cancel := context.WithCancel(context.Background())
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil).WithContext(ctx))
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler with LATENCY_MS kept waiting after the client went away")
	}
	if rec.Body.Len() != 0 {
		t.Errorf("handler wrote %q to a client that left", rec.Body.String())
	}
}

func TestAccessLog(t *testing.T) {
	var buf bytes.Buffer
	logger := NewLogger(&buf, slog.LevelInfo)
	h := NewServer(testConfig(Faults{HealthFail: false}), logger)
	serve(t, h, "GET", "/health") // successful health checks are debug: not written at info
	serve(t, h, "GET", "/")
	serve(t, h, "GET", "/nope")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("access log has %d lines, want 2 (/, /nope):\n%s", len(lines), buf.String())
	}
	var rec struct {
		Level, Msg, Method, Path string
		Status                   int
		DurationMs               *float64 `json:"duration_ms"`
	}
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatalf("access log line %q is not JSON: %v", lines[1], err)
	}
	if rec.Level != "INFO" || rec.Msg != "request" || rec.Method != "GET" || rec.Path != "/nope" || rec.Status != 404 || rec.DurationMs == nil {
		t.Errorf("access log line = %s, want INFO request GET /nope 404 with duration_ms", lines[1])
	}

	buf.Reset()
	serve(t, NewServer(testConfig(Faults{HealthFail: true}), logger), "GET", "/health")
	if !strings.Contains(buf.String(), `"status":500`) {
		t.Errorf("a failing health check was not logged at info: %q", buf.String())
	}
}
