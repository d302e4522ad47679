package notify

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// cannedTransport answers every request with the same response.
type cannedTransport struct {
	status int
	header http.Header
	body   []byte
}

func (c cannedTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: c.status, Header: c.header, Body: io.NopCloser(bytes.NewReader(c.body))}, nil
}

// fakeClock is a clock that sleeping advances.
type fakeClock struct {
	mu    sync.Mutex
	t     time.Time
	waits []time.Duration
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.waits = append(c.waits, d)
	c.t = c.t.Add(d)
	return nil
}

// FuzzWebhookResponse: whatever a chat platform answers (status, Retry-After, body), Post
// never panics; 2xx is a delivery; 408, 429 and 5xx are retried and end in a GiveUpError
// (retryable); any other status is a permanent *StatusError after one attempt; the error
// text is one line of valid UTF-8 that never contains the webhook URL or its path; every
// wait is between 0 and 24 h, and within a Lambda's deadline the waits fit in it.
// Seeds: testdata/fuzz/FuzzWebhookResponse.
func FuzzWebhookResponse(f *testing.F) {
	const hook = "https://hooks.slack.com" + secretPath
	u, err := ParseWebhookURL(hook)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte, lambda bool) {
		if status < 100 || status > 999 {
			status = 100 + (status%900+900)%900
		}
		start := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
		if ra, ok := parseRetryAfter(retryAfter, start); ok && (ra < 0 || ra > retryAfterLimit) {
			t.Fatalf("parseRetryAfter(%q) = %s: want a wait between 0 and %s", retryAfter, ra, retryAfterLimit)
		}
		clock := &fakeClock{t: start}
		p := NewPoster(PosterOptions{
			Transport: cannedTransport{status: status, header: http.Header{"Retry-After": {retryAfter}}, body: body},
			Sleep:     clock.Sleep, Now: clock.Now, Jitter: func(d time.Duration) time.Duration { return d },
		})
		ctx := context.Background()
		budget := time.Duration(0)
		if lambda {
			// A Lambda's remaining time: Post reads the deadline against its own clock.
			budget = time.Minute
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Hour))
			defer cancel()
			ctx = deadlineAt{ctx, start.Add(budget)}
		}
		d, err := p.Post(ctx, u, Request{Body: []byte(`{"text":"hi"}`)})
		var total time.Duration
		for _, w := range clock.waits {
			if w < 0 || w > retryAfterLimit {
				t.Fatalf("status %d, Retry-After %q: a wait of %s", status, retryAfter, w)
			}
			total += w
		}
		if budget > 0 && total > budget {
			t.Fatalf("status %d, Retry-After %q: waits %v add up to %s, past the %s deadline", status, retryAfter, clock.waits, total, budget)
		}
		if d.Attempts > 5 || len(clock.waits) >= max(d.Attempts, 1) {
			t.Fatalf("status %d: %d attempts, waits %v", status, d.Attempts, clock.waits)
		}
		if status >= 200 && status < 300 {
			if err != nil || d.Status != status || d.Attempts != 1 {
				t.Fatalf("status %d: Post = %+v, %v; want delivered at the first attempt", status, d, err)
			}
			return
		}
		if err == nil {
			t.Fatalf("status %d: Post succeeded", status)
		}
		msg := err.Error()
		if strings.Contains(msg, hook) || strings.Contains(msg, secretPath) || !utf8.ValidString(msg) || strings.ContainsAny(msg, "\n\r") {
			t.Fatalf("status %d: error %q leaks the URL, or is not one line of UTF-8", status, msg)
		}
		var se *StatusError
		if !errors.As(err, &se) || se.Status != status || len(se.Body) > 400 {
			t.Fatalf("status %d: error %v (%T); want a *StatusError for it with a short body", status, err, err)
		}
		temporary := status == 408 || status == 429 || status >= 500
		var gu *GiveUpError
		switch {
		case temporary && (IsPermanent(err) || !errors.As(err, &gu)):
			t.Fatalf("status %d: %v (%T); want a retryable GiveUpError", status, err, err)
		case !temporary && (!IsPermanent(err) || d.Attempts != 1):
			t.Fatalf("status %d: %v after %d attempts; want permanent at the first", status, err, d.Attempts)
		}
	})
}

// deadlineAt reports a deadline on the fake clock's time line, which is what Post compares
// with its Now.
type deadlineAt struct {
	context.Context
	at time.Time
}

func (d deadlineAt) Deadline() (time.Time, bool) { return d.at, true }

// TestParseRetryAfterBounds pins the two answers the fuzz property caught: "NaN" parsed as a
// number of seconds gave a negative wait, and an HTTP date years ahead an unbounded one
// (a Post without a deadline would have slept for years). Both are ignored now, like a
// Retry-After of more than 24 h in seconds always was.
func TestParseRetryAfterBounds(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"2", 2 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"86400", 24 * time.Hour, true},
		{"86401", 0, false},
		{"-1", 0, false},
		{"NaN", 0, false},
		{"nan", 0, false},
		{"+Inf", 0, false},
		{"Fri, 20 Nov 2026 10:00:30 GMT", 30 * time.Second, true},
		{"Fri, 20 Nov 2026 09:00:00 GMT", 0, true},
		{"Sat, 21 Nov 2026 10:00:00 GMT", 24 * time.Hour, true},
		{"Fri, 20 Nov 2036 10:00:30 GMT", 0, false},
		{"Fri, 31 Dec 9999 23:59:59 GMT", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		if got, ok := parseRetryAfter(tt.in, now); got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}
