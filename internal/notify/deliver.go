package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Request is one webhook POST: the body and any headers beyond Content-Type.
type Request struct {
	Body   []byte
	Header http.Header
}

// Delivery is what a successful Post did.
type Delivery struct {
	Status   int
	Attempts int
	// Waits are the pauses between attempts (backoff or Retry-After).
	Waits []time.Duration
}

// StatusError is a non-2xx answer. Body is a short, single-line excerpt of the response.
type StatusError struct {
	Status     int
	Body       string
	RetryAfter time.Duration
}

func (e *StatusError) Error() string {
	s := "HTTP " + strconv.Itoa(e.Status)
	if t := http.StatusText(e.Status); t != "" {
		s += " " + t
	}
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// Temporary reports whether the platform asks to try again: 408, 429 and 5xx.
func (e *StatusError) Temporary() bool {
	return e.Status == http.StatusTooManyRequests || e.Status == http.StatusRequestTimeout || e.Status >= 500
}

// TransportError is a failure to get an answer (connection refused, timeout, TLS). Its
// message has the URL removed: net/http's *url.Error carries the whole URL.
type TransportError struct {
	Msg     string
	Timeout bool
}

func (e *TransportError) Error() string { return e.Msg }

// Temporary is always true: the next try may reach the platform.
func (e *TransportError) Temporary() bool { return true }

// GiveUpError ends a delivery that kept failing in a retryable way: out of attempts, or out
// of the Lambda's time. A later invocation may succeed.
type GiveUpError struct {
	Attempts int
	Why      string
	Last     error
}

func (e *GiveUpError) Error() string {
	return fmt.Sprintf("gave up after %d attempts (%s): %v", e.Attempts, e.Why, e.Last)
}

func (e *GiveUpError) Unwrap() error { return e.Last }

// Temporary is true: giving up now is not a verdict on the message.
func (e *GiveUpError) Temporary() bool { return true }

// IsPermanent reports whether err says that trying the same delivery again cannot succeed
// (a 4xx other than 408/429, a bad secret, a rendering failure). Errors that say nothing
// either way count as retryable.
func IsPermanent(err error) bool {
	var t interface{ Temporary() bool }
	if errors.As(err, &t) {
		return !t.Temporary()
	}
	var p *permanentError
	return errors.As(err, &p)
}

// permanentError marks an error that no retry can fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string   { return e.err.Error() }
func (e *permanentError) Unwrap() error   { return e.err }
func (e *permanentError) Temporary() bool { return false }

func permanent(err error) error { return &permanentError{err} }

// Poster posts webhooks with retries. Build it once per process (NewPoster): it holds the
// one http.Client.
type Poster struct {
	client *http.Client
	opts   PosterOptions
}

// PosterOptions tune retries; zero values take the defaults.
type PosterOptions struct {
	// AttemptTimeout bounds one request. Default 10 s.
	AttemptTimeout time.Duration
	// MaxAttempts bounds tries per delivery. Default 5.
	MaxAttempts int
	// BaseDelay and MaxDelay shape the exponential backoff. Defaults 1 s and 20 s.
	BaseDelay, MaxDelay time.Duration
	// Reserve is time kept back from the context's deadline for bookkeeping after the last
	// attempt (ledger, dead-letter queue). Default 3 s.
	Reserve time.Duration
	// MinAttempt is the least time worth starting an attempt with. Default 1 s.
	MinAttempt time.Duration
	// Sleep waits d or until ctx ends (tests inject a recorder).
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock (tests).
	Now func() time.Time
	// Jitter spreads a backoff delay; default: uniformly in [d/2, d).
	Jitter func(d time.Duration) time.Duration
	// Transport replaces the default transport (tests).
	Transport http.RoundTripper
	// UserAgent is sent with every request.
	UserAgent string
}

// NewPoster builds the process's Poster.
func NewPoster(o PosterOptions) *Poster {
	if o.AttemptTimeout <= 0 {
		o.AttemptTimeout = 10 * time.Second
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.BaseDelay <= 0 {
		o.BaseDelay = time.Second
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 20 * time.Second
	}
	if o.Reserve <= 0 {
		o.Reserve = 3 * time.Second
	}
	if o.MinAttempt <= 0 {
		o.MinAttempt = time.Second
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Jitter == nil {
		o.Jitter = func(d time.Duration) time.Duration { return d/2 + rand.N(d/2+1) }
	}
	if o.UserAgent == "" {
		o.UserAgent = "greenlight-notify"
	}
	tr := o.Transport
	if tr == nil {
		tr = &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			TLSHandshakeTimeout:   5 * time.Second,
			ResponseHeaderTimeout: o.AttemptTimeout,
			MaxIdleConnsPerHost:   4,
			IdleConnTimeout:       60 * time.Second,
			ForceAttemptHTTP2:     true,
		}
	}
	return &Poster{
		opts: o,
		client: &http.Client{
			Transport: tr,
			// A webhook that redirects has moved: report it, do not follow with a GET.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Post sends req to u until it gets a 2xx, a permanent answer, or runs out of attempts or
// of the context's time (less the reserve). 429 and 5xx are retried after Retry-After when
// the platform sends one (seconds or an HTTP date), else after an exponential backoff with
// jitter. Errors never contain the URL.
func (p *Poster) Post(ctx context.Context, u WebhookURL, req Request) (Delivery, error) {
	o := p.opts
	var d Delivery
	deadline, hasDeadline := ctx.Deadline()
	reserve, minAttempt := o.Reserve, o.MinAttempt
	if hasDeadline {
		// A short Lambda timeout still gets its attempt: the reserve and the least attempt
		// take at most a quarter of the time there is.
		total := deadline.Sub(o.Now())
		reserve, minAttempt = min(reserve, total/4), min(minAttempt, total/4)
	}
	remaining := func() time.Duration {
		if !hasDeadline {
			return time.Duration(1<<62 - 1)
		}
		return deadline.Sub(o.Now()) - reserve
	}
	var last error
	for attempt := 1; ; attempt++ {
		left := remaining()
		if left < minAttempt || left <= 0 {
			if last == nil {
				last = errors.New("no time left to try")
			}
			return d, &GiveUpError{Attempts: d.Attempts, Why: "out of time", Last: last}
		}
		d.Attempts = attempt
		status, err := p.once(ctx, u, req, min(o.AttemptTimeout, left))
		if err == nil {
			d.Status = status
			return d, nil
		}
		last = err
		if IsPermanent(err) {
			return d, err
		}
		if ctx.Err() != nil {
			return d, &GiveUpError{Attempts: attempt, Why: "out of time", Last: err}
		}
		if attempt >= o.MaxAttempts {
			return d, &GiveUpError{Attempts: attempt, Why: "out of attempts", Last: err}
		}
		wait := p.backoff(attempt)
		var se *StatusError
		if errors.As(err, &se) && se.RetryAfter > 0 {
			wait = se.RetryAfter
		}
		if wait > remaining()-minAttempt {
			return d, &GiveUpError{Attempts: attempt, Why: fmt.Sprintf("out of time: the next try would be in %s", wait.Round(time.Millisecond)), Last: err}
		}
		d.Waits = append(d.Waits, wait)
		if err := o.Sleep(ctx, wait); err != nil {
			return d, &GiveUpError{Attempts: attempt, Why: "out of time", Last: last}
		}
	}
}

// backoff is the pause after the n-th failed attempt: BaseDelay·2^(n-1), capped, jittered.
func (p *Poster) backoff(n int) time.Duration {
	d := p.opts.BaseDelay << min(n-1, 20)
	if d > p.opts.MaxDelay || d <= 0 {
		d = p.opts.MaxDelay
	}
	return p.opts.Jitter(d)
}

func (p *Poster) once(ctx context.Context, u WebhookURL, req Request, timeout time.Duration) (int, error) {
	actx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	hr, err := http.NewRequestWithContext(actx, http.MethodPost, u.reveal(), bytes.NewReader(req.Body))
	if err != nil {
		return 0, permanent(errors.New("cannot build the request: " + u.redactIn(err.Error())))
	}
	hr.Header.Set("Content-Type", "application/json; charset=utf-8")
	hr.Header.Set("User-Agent", p.opts.UserAgent)
	for k, vs := range req.Header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	resp, err := p.client.Do(hr)
	if err != nil {
		return 0, transportError(err, u)
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // let the connection be reused
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return resp.StatusCode, nil
	}
	se := &StatusError{Status: resp.StatusCode, Body: truncate(u.redactIn(oneLine(validUTF8(string(head)))), 200, byteLen)}
	if ra, ok := parseRetryAfter(resp.Header.Get("Retry-After"), p.opts.Now()); ok {
		se.RetryAfter = ra
	}
	if resp.StatusCode >= 300 && resp.StatusCode < 400 {
		se.Body = strings.TrimSpace("the webhook redirects elsewhere: create a new webhook and store its URL in the secret " + se.Body)
	}
	return resp.StatusCode, se
}

// transportError strips the URL that *url.Error carries.
func transportError(err error, u WebhookURL) error {
	te := &TransportError{}
	var ue *url.Error
	if errors.As(err, &ue) {
		te.Timeout = ue.Timeout()
		err = ue.Err
	}
	if errors.Is(err, context.DeadlineExceeded) {
		te.Timeout = true
	}
	te.Msg = u.redactIn(err.Error())
	if te.Timeout {
		te.Msg = "timed out: " + te.Msg
	}
	return te
}

// retryAfterLimit is the longest Retry-After honoured; a longer one (in seconds or as a
// date) is ignored and the backoff applies.
const retryAfterLimit = 24 * time.Hour

// parseRetryAfter reads Retry-After as seconds (Discord sends fractions) or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if !(secs >= 0 && secs <= retryAfterLimit.Seconds()) { // also refuses NaN
			return 0, false
		}
		return time.Duration(secs * float64(time.Second)), true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		if d > retryAfterLimit {
			return 0, false
		}
		return d, true
	}
	return 0, false
}
