package smoketest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// MaxRedirects is how many same-host redirects a check follows.
const MaxRedirects = 3

// userAgent identifies the hook's requests in the service's access logs.
const userAgent = "greenlight-smoketest/1"

// Target is one place the checks run against: a green task (its private IP and the container
// port) or the test listener.
type Target struct {
	// Task is the green task's ID; empty for the test listener.
	Task string
	// Address is host:port as shown in evidence ("10.0.1.23:8080").
	Address string
	// base is the scheme, host and optional path prefix every check path is appended to.
	base *url.URL
	// headers are added to every check (the test listener rule's header conditions).
	headers map[string]string
}

// TaskTarget is a green task at ip:port, probed over plain HTTP.
func TaskTarget(task, ip string, port int) Target {
	addr := net.JoinHostPort(ip, fmt.Sprint(port))
	return Target{Task: task, Address: addr, base: &url.URL{Scheme: "http", Host: addr}}
}

// ListenerTarget is the test listener at base (scheme, host, optional port and path prefix).
func ListenerTarget(base *url.URL, headers map[string]string) Target {
	b := *base
	b.Path = strings.TrimRight(b.Path, "/")
	b.RawQuery, b.Fragment, b.User = "", "", nil
	return Target{Address: b.Host, base: &b, headers: headers}
}

// requestURL joins the target's base and a check path. The path was validated to start
// with "/"; the result must still have the target's host, whatever the path holds.
func (t Target) requestURL(path string) (string, error) {
	u, err := url.Parse(t.base.Scheme + "://" + t.base.Host + t.base.Path + path)
	if err != nil {
		return "", fmt.Errorf("path %q: %v", path, err)
	}
	if u.Host != t.base.Host || u.Scheme != t.base.Scheme || u.User != nil {
		return "", fmt.Errorf("path %q would leave %s", path, t.base.Host)
	}
	return u.String(), nil
}

// ProbeKind classifies one probe's outcome for Decide.
type ProbeKind int

const (
	// ProbePassed: the check answered as expected.
	ProbePassed ProbeKind = iota
	// ProbeFailed: the check answered, wrongly (status, body, latency, a timeout after connecting).
	ProbeFailed
	// ProbeNotReady: nothing accepted the connection (refused, dial timeout, no route, DNS).
	ProbeNotReady
	// ProbeIncomplete: the hook ran out of its own time before the probe finished.
	ProbeIncomplete
)

func (k ProbeKind) String() string {
	return [...]string{"passed", "failed", "not ready", "incomplete"}[k]
}

// Probe is one check against one target: the evidence and its classification.
type Probe struct {
	Kind     ProbeKind
	Evidence result.CheckEvidence
}

// runner runs checks against targets.
type runner struct {
	client      *http.Client
	parallelism int
	attempts    int
	interval    time.Duration
	now         func() time.Time
}

// NewHTTPClient returns the client the hook probes with: no proxy from the environment,
// same-host redirects only (at most MaxRedirects), no overall timeout (each check has its
// own), and a TLS configuration that verifies certificates.
func NewHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   8,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{Transport: tr, CheckRedirect: checkRedirect}
}

type redirectNoteKey struct{}

// checkRedirect follows a redirect only to the same scheme, host and port, at most
// MaxRedirects times; otherwise the redirect response itself is the answer, and the reason
// is noted for the evidence.
func checkRedirect(req *http.Request, via []*http.Request) error {
	note, _ := req.Context().Value(redirectNoteKey{}).(*string)
	set := func(s string) error {
		if note != nil {
			*note = s
		}
		return http.ErrUseLastResponse
	}
	orig := via[0].URL
	if !sameOrigin(orig, req.URL) {
		return set(fmt.Sprintf("redirect to %s not followed (another host)", clip(req.URL.String(), 120)))
	}
	if len(via) > MaxRedirects {
		return set(fmt.Sprintf("more than %d redirects; stopped at %s", MaxRedirects, clip(req.URL.String(), 120)))
	}
	return nil
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) && effectivePort(a) == effectivePort(b)
}

func effectivePort(u *url.URL) string {
	if p := u.Port(); p != "" {
		return p
	}
	if strings.EqualFold(u.Scheme, "https") {
		return "443"
	}
	return "80"
}

// clip shortens s to at most n bytes (cut on a rune boundary) and marks the cut.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// job is one target × check.
type job struct {
	target Target
	check  routes.Check
}

// run probes every target with every check, at most parallelism at a time, and returns the
// probes in target-then-check order. A failing or unready check is tried again up to
// attempts times, interval apart, and its last try is what counts. ctx bounds everything:
// probes cut off by it are Incomplete.
func (r *runner) run(ctx context.Context, stage string, targets []Target, checks []routes.Check) []Probe {
	jobs := make([]job, 0, len(targets)*len(checks))
	for _, t := range targets {
		for _, c := range checks {
			jobs = append(jobs, job{t, c})
		}
	}
	out := make([]Probe, len(jobs))
	par := r.parallelism
	if par <= 0 {
		par = routes.DefaultParallelism
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i := range jobs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() {
				// A bug here must cost one probe, not the process (and with it the verdict).
				if v := recover(); v != nil {
					ev := r.evidence(stage, jobs[i])
					ev.Failure = fmt.Sprintf("greenlight failed internally: %v", v)
					out[i] = Probe{Kind: ProbeFailed, Evidence: ev}
				}
			}()
			out[i] = r.probeWithAttempts(ctx, sem, stage, jobs[i])
		}(i)
	}
	wg.Wait()
	return out
}

func (r *runner) probeWithAttempts(ctx context.Context, sem chan struct{}, stage string, j job) Probe {
	attempts := max(r.attempts, 1)
	var p Probe
	tried := 0
	for tried < attempts {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			if tried == 0 {
				ev := r.evidence(stage, j)
				ev.Failure = "not run: the hook ran out of time"
				return Probe{Kind: ProbeIncomplete, Evidence: ev}
			}
			return annotate(p, tried) // the last real answer is better evidence than "not run"
		}
		p = r.probeOnce(ctx, stage, j)
		<-sem
		tried++
		if p.Kind == ProbePassed || p.Kind == ProbeIncomplete || tried == attempts {
			break
		}
		t := time.NewTimer(r.interval)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return annotate(p, tried)
		}
	}
	return annotate(p, tried)
}

// annotate adds "(after 3 attempts)" to a failure that was tried more than once.
func annotate(p Probe, tried int) Probe {
	if tried > 1 && p.Kind != ProbePassed && p.Evidence.Failure != "" {
		p.Evidence.Failure += fmt.Sprintf(" (after %d attempts)", tried)
	}
	return p
}

func (r *runner) evidence(stage string, j job) result.CheckEvidence {
	return result.CheckEvidence{
		Stage: stage, Task: j.target.Task, Address: j.target.Address, Check: j.check.Name,
		Method: method(j.check), Path: j.check.Path, At: r.now().UTC(),
	}
}

func method(c routes.Check) string {
	if c.Method == "" {
		return http.MethodGet
	}
	return c.Method
}

// probeOnce makes one request and classifies it.
func (r *runner) probeOnce(ctx context.Context, stage string, j job) Probe {
	ev := r.evidence(stage, j)
	timeout := time.Duration(j.check.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = routes.DefaultTimeoutMs * time.Millisecond
	}
	u, err := j.target.requestURL(j.check.Path)
	if err != nil {
		ev.Failure = err.Error()
		return Probe{Kind: ProbeFailed, Evidence: ev}
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var connected atomic.Bool
	var redirect string
	trace := &httptrace.ClientTrace{
		ConnectDone: func(_, _ string, err error) {
			if err == nil {
				connected.Store(true)
			}
		},
		GotConn: func(httptrace.GotConnInfo) { connected.Store(true) },
	}
	rctx := context.WithValue(httptrace.WithClientTrace(cctx, trace), redirectNoteKey{}, &redirect)
	var body io.Reader
	if j.check.Body != "" {
		body = strings.NewReader(j.check.Body)
	}
	req, err := http.NewRequestWithContext(rctx, method(j.check), u, body)
	if err != nil {
		ev.Failure = "cannot build the request: " + err.Error()
		return Probe{Kind: ProbeFailed, Evidence: ev}
	}
	req.Header.Set("User-Agent", userAgent)
	for k, v := range j.target.headers {
		req.Header.Set(k, v)
	}
	for k, v := range j.check.Headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		ev.LatencyMs = time.Since(start).Milliseconds()
		switch {
		case ctx.Err() != nil:
			ev.Failure = "not finished: the hook ran out of time"
			return Probe{Kind: ProbeIncomplete, Evidence: ev}
		case !connected.Load():
			ev.Failure = dialFailure(err, timeout)
			return Probe{Kind: ProbeNotReady, Evidence: ev}
		case errors.Is(err, context.DeadlineExceeded):
			ev.Failure = fmt.Sprintf("no response within %d ms", timeout.Milliseconds())
		default:
			ev.Failure = "request failed: " + errText(err)
		}
		return Probe{Kind: ProbeFailed, Evidence: ev}
	}
	defer resp.Body.Close()
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, MaxBodyRead+1))
	got := response{status: resp.StatusCode, latency: time.Since(start), redirect: redirect}
	if len(b) > MaxBodyRead {
		b, got.truncated = b[:MaxBodyRead], true
	}
	got.body = b
	ev.Status = resp.StatusCode
	ev.LatencyMs = got.latency.Milliseconds()
	ev.BodyExcerpt = excerpt(b)
	if rerr != nil {
		if ctx.Err() != nil {
			ev.Failure = "not finished: the hook ran out of time"
			return Probe{Kind: ProbeIncomplete, Evidence: ev}
		}
		if errors.Is(rerr, context.DeadlineExceeded) {
			ev.Failure = fmt.Sprintf("body not complete within %d ms", timeout.Milliseconds())
		} else {
			ev.Failure = "reading the body: " + errText(rerr)
		}
		return Probe{Kind: ProbeFailed, Evidence: ev}
	}
	if fails := evaluate(j.check, got); len(fails) > 0 {
		ev.Failure = strings.Join(fails, "; ")
		return Probe{Kind: ProbeFailed, Evidence: ev}
	}
	ev.Passed = true
	return Probe{Kind: ProbePassed, Evidence: ev}
}

// dialFailure names why nothing accepted the connection.
func dialFailure(err error, timeout time.Duration) string {
	var dns *net.DNSError
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "no route to host"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve %s: %s", dns.Name, dns.Err)
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Sprintf("could not connect within %d ms", timeout.Milliseconds())
	}
	return "could not connect: " + errText(err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errText is the innermost useful message, without the URL that *url.Error repeats.
func errText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}
