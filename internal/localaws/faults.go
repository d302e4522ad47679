package localaws

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Fault injection for the rehearsal's fault scenarios: a proxy in front of moto that answers
// slowly (and now and then not at all), and the killing of a bootstrap mid-invocation.

// SlowFaults makes a Proxy hold a share of the requests before forwarding them, as an
// overloaded AWS endpoint answers late.
type SlowFaults struct {
	// Share is the fraction of requests held, in [0, 1].
	Share float64
	// Min and Max bound how long a held request waits (uniformly in between).
	Min, Max time.Duration
	// DropEvery, when > 0, ends every n-th held request after its wait with a connection
	// reset instead of forwarding it: the request never reaches moto, and the caller sees
	// what a connection lost in transit looks like (the AWS SDK retries it).
	DropEvery int
	// Seed makes the decisions repeatable.
	Seed uint64
}

func (f *SlowFaults) validate() error {
	switch {
	case f.Share < 0 || f.Share > 1 || math.IsNaN(f.Share):
		return fmt.Errorf("localaws: SlowFaults.Share %v: want a fraction in [0, 1]", f.Share)
	case f.Min < 0 || f.Max < f.Min:
		return fmt.Errorf("localaws: SlowFaults Min %s, Max %s: want 0 ≤ Min ≤ Max", f.Min, f.Max)
	case f.DropEvery < 0:
		return fmt.Errorf("localaws: SlowFaults.DropEvery %d: want 0 (never) or more", f.DropEvery)
	}
	return nil
}

// ProxyStats is what a Proxy did since its faults were last set.
type ProxyStats struct {
	Requests int
	// Held and Dropped count the requests held, and those of them ended with a reset.
	Held    int
	Dropped int
	// HeldFor is the time the held requests waited, in total.
	HeldFor time.Duration
	// HeldByService counts the held requests per AWS service (from the request's signature:
	// dynamodb, sns, ssm, states …).
	HeldByService map[string]int
}

// Services lists the services with held requests: "dynamodb 4, ssm 1".
func (s ProxyStats) Services() string {
	names := make([]string, 0, len(s.HeldByService))
	for n := range s.HeldByService {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s %d", n, s.HeldByService[n])
	}
	return strings.Join(parts, ", ")
}

// Proxy forwards HTTP requests to a local AWS endpoint (moto), unchanged unless faults are
// set. Give the processes under test its URL as their endpoint (AWS_ENDPOINT_URL): it can
// then slow their calls without touching anyone else's.
type Proxy struct {
	// URL is the proxy's endpoint, http://127.0.0.1:<port>.
	URL string

	srv   *http.Server
	proxy *httputil.ReverseProxy

	mu     sync.Mutex
	faults *SlowFaults
	rnd    *rand.Rand
	stats  ProxyStats
}

// StartProxy listens on a free loopback port and forwards to target.
func StartProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("localaws: proxy target %q: want a URL such as http://127.0.0.1:5000", target)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{URL: "http://" + ln.Addr().String(), stats: ProxyStats{HeldByService: map[string]int{}}}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) },
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "localaws proxy: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// SetFaults replaces the faults (nil forwards everything at once) and zeroes the stats.
func (p *Proxy) SetFaults(f *SlowFaults) error {
	if f != nil {
		if err := f.validate(); err != nil {
			return err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults, p.rnd = nil, nil
	if f != nil {
		c := *f
		p.faults = &c
		p.rnd = rand.New(rand.NewPCG(f.Seed, f.Seed^0x2545f4914f6cdd1d))
	}
	p.stats = ProxyStats{HeldByService: map[string]int{}}
	return nil
}

// Stats returns what the proxy did since SetFaults.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.HeldByService = map[string]int{}
	for k, v := range p.stats.HeldByService {
		s.HeldByService[k] = v
	}
	return s
}

// Close stops the proxy.
func (p *Proxy) Close() error { return p.srv.Close() }

// plan decides what happens to one request: how long it is held and whether it is dropped.
func (p *Proxy) plan(service string) (hold time.Duration, drop bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stats.Requests++
	f := p.faults
	if f == nil || p.rnd.Float64() >= f.Share {
		return 0, false
	}
	hold = f.Min
	if f.Max > f.Min {
		hold += time.Duration(p.rnd.Int64N(int64(f.Max - f.Min)))
	}
	p.stats.Held++
	p.stats.HeldFor += hold
	p.stats.HeldByService[service]++
	if f.DropEvery > 0 && p.stats.Held%f.DropEvery == 0 {
		p.stats.Dropped++
		drop = true
	}
	return hold, drop
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	hold, drop := p.plan(SignedService(r.Header.Get("Authorization")))
	if hold > 0 {
		t := time.NewTimer(hold)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return // the caller gave up: the request never reaches moto
		}
	}
	if drop {
		resetConnection(w)
		return
	}
	p.proxy.ServeHTTP(w, r)
}

// resetConnection closes the request's connection with a TCP reset, without an answer.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "localaws proxy: dropped", http.StatusServiceUnavailable)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST instead of FIN
	}
	_ = conn.Close()
}

var credentialScope = regexp.MustCompile(`Credential=[^/,]+/\d{8}/[^/,]+/([^/,]+)/aws4_request`)

// SignedService is the AWS service a SigV4 Authorization header was signed for ("dynamodb",
// "sns", "states" …), or "unsigned".
func SignedService(authorization string) string {
	if m := credentialScope.FindStringSubmatch(authorization); m != nil {
		return m[1]
	}
	return "unsigned"
}

// KillBootstrap ends the bootstrap process aws-lambda-rie runs, with SIGKILL, and leaves
// the emulator running, as a Lambda runtime dies mid-invocation (out of memory, a crash):
// the invocation in flight fails with Runtime.ExitError and the emulator starts a new
// bootstrap for the next one, as Lambda does. It returns the PIDs it killed; none is an
// error (the emulator starts the bootstrap with the first invocation).
func (r *RIE) KillBootstrap() ([]int, error) {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return nil, errors.New("localaws: KillBootstrap: the emulator is not running")
	}
	kids := childPIDs(r.cmd.Process.Pid)
	if len(kids) == 0 {
		return nil, fmt.Errorf("localaws: KillBootstrap: aws-lambda-rie for %s (pid %d) runs no bootstrap now", r.Name, r.cmd.Process.Pid)
	}
	for _, k := range kids {
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, k := range kids {
		for alive(k) {
			if time.Now().After(deadline) {
				return kids, fmt.Errorf("localaws: KillBootstrap: the bootstrap of %s (pid %d) did not exit", r.Name, k)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return kids, nil
}
