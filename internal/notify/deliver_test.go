package notify

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is an httptest webhook that answers from a script, one response per request, and
// records what it received.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	bodies []string
	heads  []http.Header
	script []func(w http.ResponseWriter, r *http.Request)
	calls  atomic.Int32
}

func newReceiver(t testing.TB, script ...func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rc := &receiver{script: script}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := int(rc.calls.Add(1)) - 1
		b, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.bodies = append(rc.bodies, string(b))
		rc.heads = append(rc.heads, r.Header.Clone())
		rc.mu.Unlock()
		if n >= len(rc.script) {
			n = len(rc.script) - 1
		}
		rc.script[n](w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

// Bodies returns what the receiver got so far.
func (rc *receiver) Bodies() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]string(nil), rc.bodies...)
}

func status(code int, body string, header ...string) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, body)
	}
}

func hang(d time.Duration) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(d):
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusOK)
	}
}

// sleepRecorder replaces time.Sleep: it records the waits and returns at once.
type sleepRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleepRecorder) Sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleepRecorder) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// testPoster has no jitter (the full backoff) and records its sleeps.
func testPoster(sr *sleepRecorder, o PosterOptions) *Poster {
	o.Sleep = sr.Sleep
	o.Jitter = func(d time.Duration) time.Duration { return d }
	return NewPoster(o)
}

func mustURL(t testing.TB, s string) WebhookURL {
	t.Helper()
	u, err := ParseWebhookURL(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

const secretPath = "/services/T0001/B0002/s3cr3tT0k3n"

func TestPost(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name         string
		script       []func(http.ResponseWriter, *http.Request)
		wantErr      bool
		wantPerm     bool
		wantStatus   int
		wantAttempts int
		wantWaits    []time.Duration
	}{
		{"success", []func(http.ResponseWriter, *http.Request){status(200, "ok")}, false, false, 200, 1, nil},
		{"202 accepted (Teams Workflows)", []func(http.ResponseWriter, *http.Request){status(202, "")}, false, false, 202, 1, nil},
		{"429 with Retry-After seconds, then success", []func(http.ResponseWriter, *http.Request){status(429, "rate_limited", "Retry-After", "7"), status(200, "ok")}, false, false, 200, 2, []time.Duration{7 * time.Second}},
		{"429 with Retry-After HTTP date, then success", []func(http.ResponseWriter, *http.Request){status(429, "", "Retry-After", now.Add(4*time.Second).Format(http.TimeFormat)), status(200, "ok")}, false, false, 200, 2, []time.Duration{4 * time.Second}},
		{"429 without Retry-After backs off", []func(http.ResponseWriter, *http.Request){status(429, ""), status(429, ""), status(204, "")}, false, false, 204, 3, []time.Duration{time.Second, 2 * time.Second}},
		{"500 then success", []func(http.ResponseWriter, *http.Request){status(500, "oops"), status(200, "ok")}, false, false, 200, 2, []time.Duration{time.Second}},
		{"503 until out of attempts", []func(http.ResponseWriter, *http.Request){status(503, "down")}, true, false, 0, 3, []time.Duration{time.Second, 2 * time.Second}},
		{"404 is permanent", []func(http.ResponseWriter, *http.Request){status(404, "no_service")}, true, true, 0, 1, nil},
		{"400 is permanent", []func(http.ResponseWriter, *http.Request){status(400, "invalid_blocks")}, true, true, 0, 1, nil},
		{"redirect is permanent", []func(http.ResponseWriter, *http.Request){status(302, "", "Location", "https://example.com/")}, true, true, 0, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.script...)
			sr := &sleepRecorder{}
			p := testPoster(sr, PosterOptions{MaxAttempts: 3, Now: func() time.Time { return now }})
			d, err := p.Post(context.Background(), mustURL(t, rc.URL+secretPath), Request{Body: []byte(`{"text":"hi"}`)})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Post() error = %v; want error %v", err, tt.wantErr)
			}
			if err != nil && IsPermanent(err) != tt.wantPerm {
				t.Errorf("IsPermanent(%v) = %v; want %v", err, IsPermanent(err), tt.wantPerm)
			}
			if err != nil && strings.Contains(err.Error(), "s3cr3tT0k3n") {
				t.Errorf("error %q contains the webhook URL's token", err)
			}
			if err == nil && d.Status != tt.wantStatus {
				t.Errorf("Post() status = %d; want %d", d.Status, tt.wantStatus)
			}
			if got := int(rc.calls.Load()); got != tt.wantAttempts {
				t.Errorf("receiver got %d requests; want %d", got, tt.wantAttempts)
			}
			if got := sr.Waits(); !equalDurations(got, tt.wantWaits) {
				t.Errorf("waits = %v; want %v", got, tt.wantWaits)
			}
			if h := rc.heads[0]; h.Get("Content-Type") != "application/json; charset=utf-8" || h.Get("User-Agent") != "greenlight-notify" {
				t.Errorf("request headers = %v", h)
			}
		})
	}
}

func TestPostStatusErrorDetail(t *testing.T) {
	rc := newReceiver(t, status(404, "no_service\n"+strings.Repeat("x", 5000)))
	p := testPoster(&sleepRecorder{}, PosterOptions{})
	_, err := p.Post(context.Background(), mustURL(t, rc.URL+secretPath), Request{Body: []byte(`{}`)})
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 404 || !strings.HasPrefix(se.Body, "no_service x") || len(se.Body) > 200 {
		t.Fatalf("Post() error = %#v; want a StatusError 404 with a short one-line body", err)
	}
}

// TestPostTimeout: a receiver that never answers in time is retried, then given up on
// (retryably) before the context's deadline less the reserve.
func TestPostTimeout(t *testing.T) {
	rc := newReceiver(t, hang(2*time.Second))
	p := NewPoster(PosterOptions{AttemptTimeout: 150 * time.Millisecond, BaseDelay: 10 * time.Millisecond, MaxAttempts: 10,
		Reserve: 100 * time.Millisecond, MinAttempt: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	_, err := p.Post(ctx, mustURL(t, rc.URL+secretPath), Request{Body: []byte(`{}`)})
	var gu *GiveUpError
	if !errors.As(err, &gu) || IsPermanent(err) {
		t.Fatalf("Post() error = %v; want a retryable GiveUpError", err)
	}
	var te *TransportError
	if !errors.As(err, &te) || !te.Timeout {
		t.Errorf("Post() error = %v; want a timeout underneath", err)
	}
	if n := rc.calls.Load(); n < 2 {
		t.Errorf("receiver got %d requests; want the timeout retried", n)
	}
	if ctx.Err() != nil {
		t.Errorf("Post() returned after the context's deadline; want it to keep the reserve")
	}
	if strings.Contains(err.Error(), "s3cr3tT0k3n") || strings.Contains(err.Error(), rc.URL) {
		t.Errorf("error %q contains the webhook URL", err)
	}
}

// TestPostRetryAfterBeyondBudget: a Retry-After the Lambda cannot wait out ends the delivery
// at once (retryably), without sleeping.
func TestPostRetryAfterBeyondBudget(t *testing.T) {
	rc := newReceiver(t, status(429, "", "Retry-After", "3600"))
	sr := &sleepRecorder{}
	p := testPoster(sr, PosterOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := p.Post(ctx, mustURL(t, rc.URL+secretPath), Request{Body: []byte(`{}`)})
	var gu *GiveUpError
	if !errors.As(err, &gu) || !strings.Contains(gu.Why, "out of time") || IsPermanent(err) {
		t.Fatalf("Post() error = %v; want a retryable out-of-time GiveUpError", err)
	}
	if len(sr.Waits()) != 0 || rc.calls.Load() != 1 {
		t.Errorf("slept %v after %d requests; want no sleep after 1", sr.Waits(), rc.calls.Load())
	}
}

// TestPostConnectionRefused: transport errors are retryable and carry no URL.
func TestPostConnectionRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := testPoster(&sleepRecorder{}, PosterOptions{MaxAttempts: 2})
	_, err = p.Post(context.Background(), mustURL(t, "http://"+addr+secretPath+"?sig=qu3ryS1g"), Request{Body: []byte(`{}`)})
	var te *TransportError
	if !errors.As(err, &te) || IsPermanent(err) {
		t.Fatalf("Post() error = %v; want a retryable TransportError", err)
	}
	for _, leak := range []string{"s3cr3tT0k3n", "qu3ryS1g", secretPath} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error %q contains %q", err, leak)
		}
	}
}

func TestBackoffCappedAndJittered(t *testing.T) {
	p := NewPoster(PosterOptions{BaseDelay: time.Second, MaxDelay: 5 * time.Second})
	for n := 1; n <= 40; n++ {
		d := p.backoff(n)
		full := min(time.Second<<min(n-1, 20), 5*time.Second)
		if d < full/2 || d > full {
			t.Fatalf("backoff(%d) = %v; want within [%v, %v]", n, d, full/2, full)
		}
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPostShortDeadline: with a Lambda timeout shorter than the reserve (the 3 s default),
// the delivery is still tried.
func TestPostShortDeadline(t *testing.T) {
	rc := newReceiver(t, status(200, "ok"))
	p := NewPoster(PosterOptions{}) // Reserve 3 s, MinAttempt 1 s
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	d, err := p.Post(ctx, mustURL(t, rc.URL+secretPath), Request{Body: []byte(`{}`)})
	if err != nil || d.Status != 200 {
		t.Fatalf("Post() with a 2 s deadline = %+v, %v; want one successful attempt", d, err)
	}
}
