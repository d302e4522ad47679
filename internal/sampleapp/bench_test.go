package sampleapp

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The benchmarks go through the whole handler (mux, access log at the default level with a
// real JSON encoder writing to io.Discard), without the network.

type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

func benchmarkRoute(b *testing.B, path string) {
	h := NewServer(testConfig(Faults{}), NewLogger(discardWriter{}, slog.LevelInfo))
	req := httptest.NewRequest("GET", path, nil)
	w := &nopWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		h.ServeHTTP(w, req)
	}
}

type discardWriter struct{}

func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }

func BenchmarkRoot(b *testing.B)   { benchmarkRoute(b, "/") }
func BenchmarkHealth(b *testing.B) { benchmarkRoute(b, "/health") }
