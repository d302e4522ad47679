package alb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httputil"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// TargetState is a target's health as DescribeTargetHealth reports it.
type TargetState string

// Target states (elasticloadbalancingv2 TargetHealthStateEnum values).
const (
	StateInitial   TargetState = "initial"
	StateHealthy   TargetState = "healthy"
	StateUnhealthy TargetState = "unhealthy"
	StateDraining  TargetState = "draining"
)

// Reason codes, as DescribeTargetHealth reports them.
const (
	ReasonInitial        = "Elb.InitialHealthChecking"
	ReasonCodeMismatch   = "Target.ResponseCodeMismatch"
	ReasonTimeout        = "Target.Timeout"
	ReasonFailed         = "Target.FailedHealthChecks"
	ReasonDeregistration = "Target.DeregistrationInProgress"
)

// HealthCheck is a target group's health-check configuration. Durations are wall-clock
// durations: the emulator has already applied its time scale.
type HealthCheck struct {
	Path               string
	Interval           time.Duration
	Timeout            time.Duration
	HealthyThreshold   int
	UnhealthyThreshold int
	// Matcher is the HTTP code matcher: "200", "200-299" or "200,302".
	Matcher string
}

// ALB defaults for an HTTP target group (CreateTargetGroup documentation).
const (
	DefaultPath               = "/"
	DefaultInterval           = 30 * time.Second
	DefaultTimeout            = 5 * time.Second
	DefaultHealthyThreshold   = 5
	DefaultUnhealthyThreshold = 2
	DefaultMatcher            = "200"
)

// WithDefaults fills the zero fields with the ALB defaults.
func (h HealthCheck) WithDefaults() HealthCheck {
	if h.Path == "" {
		h.Path = DefaultPath
	}
	if h.Interval <= 0 {
		h.Interval = DefaultInterval
	}
	if h.Timeout <= 0 {
		h.Timeout = DefaultTimeout
	}
	if h.HealthyThreshold <= 0 {
		h.HealthyThreshold = DefaultHealthyThreshold
	}
	if h.UnhealthyThreshold <= 0 {
		h.UnhealthyThreshold = DefaultUnhealthyThreshold
	}
	if h.Matcher == "" {
		h.Matcher = DefaultMatcher
	}
	return h
}

// Validate reports a matcher the ALB would reject.
func (h HealthCheck) Validate() error {
	if _, err := parseMatcher(h.Matcher); err != nil {
		return err
	}
	if !strings.HasPrefix(h.Path, "/") {
		return fmt.Errorf("health-check path %q must start with /", h.Path)
	}
	return nil
}

// HealthChange is one target state transition.
type HealthChange struct {
	TargetGroup string
	Target      string
	From, To    TargetState
	Reason      string
	Time        time.Time
}

// Request is one request the load balancer handled.
type Request struct {
	// Listener is the listener rule ARN the request arrived on.
	Listener string
	// TargetGroup and Target are empty when no target could be selected.
	TargetGroup string
	Target      string
	Status      int
	// ELBError is set when the load balancer answered itself (no target, connection
	// error, timeout): HTTPCode_ELB_5XX_Count rather than HTTPCode_Target_5XX_Count.
	ELBError bool
	Duration time.Duration
}

// Options configures a LoadBalancer.
type Options struct {
	// FullName is the LoadBalancer dimension value, app/<name>/<id>.
	FullName string
	// OnRequest is called after every request (outside any lock).
	OnRequest func(Request)
	// OnHealth is called on every target state transition (outside any lock).
	OnHealth func(HealthChange)
	Logger   *slog.Logger
	// ProxyTimeout bounds the wait for a target's response headers (the ALB idle timeout);
	// default 60 s. Answered with 504 when it passes.
	ProxyTimeout time.Duration
}

// GroupCounts are a target group's cumulative counters.
type GroupCounts struct {
	Requests  int64 // RequestCount: requests for which a target in this group was selected
	Target2xx int64
	Target3xx int64
	Target4xx int64
	Target5xx int64 // HTTPCode_Target_5XX_Count
	// ConnectionErrors is TargetConnectionErrorCount.
	ConnectionErrors int64
}

// Counts are the load balancer's cumulative counters.
type Counts struct {
	Requests int64 // RequestCount at load-balancer level (every request)
	ELB5xx   int64 // HTTPCode_ELB_5XX_Count
	ELB502   int64
	ELB503   int64
	ELB504   int64
	Groups   map[string]GroupCounts
}

// LoadBalancer is one emulated Application Load Balancer.
type LoadBalancer struct {
	opts      Options
	log       *slog.Logger
	transport *http.Transport
	hcClient  *http.Client

	mu        sync.Mutex
	groups    map[string]*TargetGroup
	listeners map[string]*Listener
	counts    Counts
	closed    bool
	wg        sync.WaitGroup
}

// New returns a load balancer with no listeners and no target groups.
func New(opts Options) *LoadBalancer {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.ProxyTimeout <= 0 {
		opts.ProxyTimeout = 60 * time.Second
	}
	return &LoadBalancer{
		opts: opts,
		log:  opts.Logger.With("load_balancer", opts.FullName),
		transport: &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   16,
			IdleConnTimeout:       30 * time.Second,
			ResponseHeaderTimeout: opts.ProxyTimeout,
		},
		// ALB health checks open a new connection per check.
		hcClient:  &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}},
		groups:    map[string]*TargetGroup{},
		listeners: map[string]*Listener{},
		counts:    Counts{Groups: map[string]GroupCounts{}},
	}
}

// FullName is the LoadBalancer dimension value.
func (lb *LoadBalancer) FullName() string { return lb.opts.FullName }

// TargetGroup is one target group of the load balancer.
type TargetGroup struct {
	lb  *LoadBalancer
	ARN string
	hc  HealthCheck
	mt  matcher

	// guarded by lb.mu
	targets map[string]*target
	order   []string
	rr      int
}

type target struct {
	id, addr   string
	state      TargetState
	reason     string
	successes  int
	failures   int
	inflight   int
	registered time.Time
	stop       chan struct{}
	idle       chan struct{} // closed when inflight reaches 0 while draining
}

// AddTargetGroup adds (or returns the existing) target group with this health check.
func (lb *LoadBalancer) AddTargetGroup(arn string, hc HealthCheck) (*TargetGroup, error) {
	hc = hc.WithDefaults()
	if err := hc.Validate(); err != nil {
		return nil, fmt.Errorf("target group %s: %w", arn, err)
	}
	mt, _ := parseMatcher(hc.Matcher)
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if g, ok := lb.groups[arn]; ok {
		return g, nil
	}
	g := &TargetGroup{lb: lb, ARN: arn, hc: hc, mt: mt, targets: map[string]*target{}}
	lb.groups[arn] = g
	lb.counts.Groups[arn] = GroupCounts{}
	return g, nil
}

// TargetGroup returns the group with this ARN, or nil.
func (lb *LoadBalancer) TargetGroup(arn string) *TargetGroup {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.groups[arn]
}

// HealthCheck is the group's configuration (defaults applied).
func (g *TargetGroup) HealthCheck() HealthCheck { return g.hc }

// Register adds a target (id, host:port) in state initial and starts health-checking it,
// one check every Interval.
func (g *TargetGroup) Register(id, addr string) {
	lb := g.lb
	lb.mu.Lock()
	if lb.closed {
		lb.mu.Unlock()
		return
	}
	if _, ok := g.targets[id]; ok {
		lb.mu.Unlock()
		return
	}
	t := &target{id: id, addr: addr, state: StateInitial, reason: ReasonInitial, registered: time.Now(), stop: make(chan struct{})}
	g.targets[id] = t
	g.order = append(g.order, id)
	lb.wg.Add(1)
	lb.mu.Unlock()
	lb.log.Debug("alb: target registered", "target_group", g.ARN, "target", id, "addr", addr)
	go g.healthLoop(t)
}

// Deregister stops routing new requests to the target and waits, at most until ctx ends,
// for the requests in flight to finish (connection draining); then the target is removed.
func (g *TargetGroup) Deregister(ctx context.Context, id string) {
	lb := g.lb
	lb.mu.Lock()
	t, ok := g.targets[id]
	if !ok {
		lb.mu.Unlock()
		return
	}
	from := t.state
	if t.state != StateDraining {
		t.state, t.reason = StateDraining, ReasonDeregistration
		close(t.stop)
		t.idle = make(chan struct{})
		if t.inflight == 0 {
			close(t.idle)
		}
	}
	idle := t.idle
	lb.mu.Unlock()
	if from != StateDraining {
		lb.notifyHealth(HealthChange{TargetGroup: g.ARN, Target: id, From: from, To: StateDraining, Reason: ReasonDeregistration, Time: time.Now()})
	}
	select {
	case <-idle:
	case <-ctx.Done():
	}
	lb.mu.Lock()
	delete(g.targets, id)
	for i, v := range g.order {
		if v == id {
			g.order = append(g.order[:i], g.order[i+1:]...)
			break
		}
	}
	lb.mu.Unlock()
}

// TargetHealth is one target as DescribeTargetHealth shows it.
type TargetHealth struct {
	ID     string
	Addr   string
	State  TargetState
	Reason string
}

// Targets lists the registered targets in registration order.
func (g *TargetGroup) Targets() []TargetHealth {
	g.lb.mu.Lock()
	defer g.lb.mu.Unlock()
	out := make([]TargetHealth, 0, len(g.order))
	for _, id := range g.order {
		t := g.targets[id]
		out = append(out, TargetHealth{ID: id, Addr: t.addr, State: t.state, Reason: t.reason})
	}
	return out
}

// State is the target's state ("" when it is not registered).
func (g *TargetGroup) State(id string) TargetState {
	g.lb.mu.Lock()
	defer g.lb.mu.Unlock()
	if t, ok := g.targets[id]; ok {
		return t.state
	}
	return ""
}

func (g *TargetGroup) healthLoop(t *target) {
	defer g.lb.wg.Done()
	// Like the ALB, the first check runs one interval after registration.
	timer := time.NewTimer(g.hc.Interval)
	defer timer.Stop()
	for {
		select {
		case <-t.stop:
			return
		case <-timer.C:
		}
		ok, reason := g.probe(t)
		g.record(t, ok, reason)
		timer.Reset(g.hc.Interval)
	}
}

func (g *TargetGroup) probe(t *target) (bool, string) {
	ctx, cancel := context.WithTimeout(context.Background(), g.hc.Timeout)
	defer cancel()
	go func() {
		select {
		case <-t.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+t.addr+g.hc.Path, nil)
	if err != nil {
		return false, ReasonFailed
	}
	req.Header.Set("User-Agent", "ELB-HealthChecker/2.0")
	resp, err := g.lb.hcClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return false, ReasonTimeout
		}
		return false, ReasonFailed
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if !g.mt.match(resp.StatusCode) {
		return false, ReasonCodeMismatch
	}
	return true, ""
}

func (g *TargetGroup) record(t *target, ok bool, reason string) {
	lb := g.lb
	lb.mu.Lock()
	if t.state == StateDraining || g.targets[t.id] != t {
		lb.mu.Unlock()
		return
	}
	from := t.state
	if ok {
		t.successes++
		t.failures = 0
		if t.state != StateHealthy && t.successes >= g.hc.HealthyThreshold {
			t.state, t.reason = StateHealthy, ""
		}
	} else {
		t.failures++
		t.successes = 0
		if t.state == StateInitial {
			t.reason = ReasonInitial
		}
		if t.state != StateUnhealthy && t.failures >= g.hc.UnhealthyThreshold {
			t.state, t.reason = StateUnhealthy, reason
		}
	}
	to, why := t.state, t.reason
	lb.mu.Unlock()
	if from != to {
		lb.log.Debug("alb: target health changed", "target_group", g.ARN, "target", t.id, "from", from, "to", to, "reason", why)
		lb.notifyHealth(HealthChange{TargetGroup: g.ARN, Target: t.id, From: from, To: to, Reason: why, Time: time.Now()})
	}
}

func (lb *LoadBalancer) notifyHealth(c HealthChange) {
	if lb.opts.OnHealth != nil {
		lb.opts.OnHealth(c)
	}
}

// Listener is one listener rule: a reverse proxy forwarding to target groups by weight.
type Listener struct {
	lb    *LoadBalancer
	Rule  string
	url   string
	srv   *http.Server
	proxy *httputil.ReverseProxy
	// guarded by lb.mu
	weights map[string]int
}

type reqState struct {
	addr    string
	status  int
	elb     bool
	connErr bool
}

type stateKey struct{}

// AddListener starts a listener for rule on addr (default 127.0.0.1:0, a free port) that
// forwards by weights (target group ARN → weight).
func (lb *LoadBalancer) AddListener(rule, addr string, weights map[string]int) (*Listener, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	lb.mu.Lock()
	if l, ok := lb.listeners[rule]; ok {
		lb.mu.Unlock()
		return l, nil
	}
	lb.mu.Unlock()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listener for rule %s: %w", rule, err)
	}
	l := &Listener{lb: lb, Rule: rule, url: "http://" + ln.Addr().String(), weights: copyWeights(weights)}
	l.proxy = &httputil.ReverseProxy{
		Transport: lb.transport,
		Rewrite: func(pr *httputil.ProxyRequest) {
			st := pr.In.Context().Value(stateKey{}).(*reqState)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = st.addr
			pr.Out.Host = pr.In.Host
			pr.SetXForwarded()
		},
		ModifyResponse: func(resp *http.Response) error {
			st := resp.Request.Context().Value(stateKey{}).(*reqState)
			st.status = resp.StatusCode
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			st := r.Context().Value(stateKey{}).(*reqState)
			if r.Context().Err() != nil {
				// The client went away: the ALB logs 460 and counts no 5xx.
				st.status = 460
				return
			}
			code := http.StatusBadGateway
			var ne net.Error
			if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
				code = http.StatusGatewayTimeout
			}
			if st.status == 0 && code == http.StatusBadGateway {
				st.connErr = true
			}
			st.status, st.elb = code, true
			w.WriteHeader(code)
		},
		ErrorLog: nil,
	}
	l.srv = &http.Server{Handler: l, ReadHeaderTimeout: 10 * time.Second}
	lb.mu.Lock()
	if lb.closed {
		lb.mu.Unlock()
		ln.Close()
		return nil, errors.New("load balancer is closed")
	}
	lb.listeners[rule] = l
	lb.mu.Unlock()
	go func() { _ = l.srv.Serve(ln) }()
	return l, nil
}

// Listener returns the listener for rule, or nil.
func (lb *LoadBalancer) Listener(rule string) *Listener {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	return lb.listeners[rule]
}

// URL is http://127.0.0.1:<port>.
func (l *Listener) URL() string { return l.url }

// SetWeights replaces the forward weights (target group ARN → weight), as ModifyRule does.
func (l *Listener) SetWeights(w map[string]int) {
	l.lb.mu.Lock()
	l.weights = copyWeights(w)
	l.lb.mu.Unlock()
}

// Weights returns a copy of the forward weights.
func (l *Listener) Weights() map[string]int {
	l.lb.mu.Lock()
	defer l.lb.mu.Unlock()
	return copyWeights(l.weights)
}

func copyWeights(w map[string]int) map[string]int {
	out := make(map[string]int, len(w))
	for k, v := range w {
		out[k] = v
	}
	return out
}

// ServeHTTP picks a target group by weight and a target by round robin, and proxies.
func (l *Listener) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	lb := l.lb
	g, t, code := lb.pick(l)
	if t == nil {
		lb.mu.Lock()
		lb.counts.Requests++
		lb.countELB(code)
		lb.mu.Unlock()
		http.Error(w, strconv.Itoa(code)+" "+http.StatusText(code), code)
		lb.notifyRequest(Request{Listener: l.Rule, TargetGroup: groupARN(g), Status: code, ELBError: true, Duration: time.Since(start)})
		return
	}
	st := &reqState{addr: t.addr}
	l.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))

	lb.mu.Lock()
	lb.counts.Requests++
	gc := lb.counts.Groups[g.ARN]
	gc.Requests++
	switch {
	case st.status == 460:
		// client closed the connection: counted as a request, no status class
	case st.elb:
		lb.countELB(st.status)
		if st.connErr {
			gc.ConnectionErrors++
		}
	case st.status >= 500:
		gc.Target5xx++
	case st.status >= 400:
		gc.Target4xx++
	case st.status >= 300:
		gc.Target3xx++
	default:
		gc.Target2xx++
	}
	lb.counts.Groups[g.ARN] = gc
	t.inflight--
	if t.inflight == 0 && t.idle != nil {
		select {
		case <-t.idle:
		default:
			close(t.idle)
		}
	}
	lb.mu.Unlock()
	lb.notifyRequest(Request{Listener: l.Rule, TargetGroup: g.ARN, Target: t.id, Status: st.status, ELBError: st.elb, Duration: time.Since(start)})
}

func groupARN(g *TargetGroup) string {
	if g == nil {
		return ""
	}
	return g.ARN
}

// countELB must be called with lb.mu held.
func (lb *LoadBalancer) countELB(code int) {
	lb.counts.ELB5xx++
	switch code {
	case 502:
		lb.counts.ELB502++
	case 503:
		lb.counts.ELB503++
	case 504:
		lb.counts.ELB504++
	}
}

func (lb *LoadBalancer) notifyRequest(r Request) {
	if lb.opts.OnRequest != nil {
		lb.opts.OnRequest(r)
	}
}

// pick chooses the target group (weighted) and the target (round robin over healthy
// targets; over every non-draining target when none is healthy, the ALB's fail-open rule).
// It returns the HTTP status the load balancer answers with when no target is available.
// The chosen target's in-flight count is incremented.
func (lb *LoadBalancer) pick(l *Listener) (*TargetGroup, *target, int) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	type cand struct {
		g *TargetGroup
		w int
	}
	var cands []cand
	total := 0
	arns := make([]string, 0, len(l.weights))
	for arn := range l.weights {
		arns = append(arns, arn)
	}
	sort.Strings(arns)
	for _, arn := range arns {
		w := l.weights[arn]
		g := lb.groups[arn]
		if w <= 0 || g == nil {
			continue
		}
		cands = append(cands, cand{g, w})
		total += w
	}
	if total == 0 {
		return nil, nil, http.StatusServiceUnavailable
	}
	n := rand.IntN(total)
	var g *TargetGroup
	for _, c := range cands {
		if n < c.w {
			g = c.g
			break
		}
		n -= c.w
	}
	var healthy, open []*target
	for _, id := range g.order {
		t := g.targets[id]
		switch t.state {
		case StateHealthy:
			healthy = append(healthy, t)
			open = append(open, t)
		case StateDraining:
		default:
			open = append(open, t)
		}
	}
	pool := healthy
	if len(pool) == 0 {
		pool = open
	}
	if len(pool) == 0 {
		return g, nil, http.StatusServiceUnavailable
	}
	g.rr++
	t := pool[g.rr%len(pool)]
	t.inflight++
	return g, t, 0
}

// Counts returns a snapshot of the cumulative counters.
func (lb *LoadBalancer) Counts() Counts {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	c := lb.counts
	c.Groups = make(map[string]GroupCounts, len(lb.counts.Groups))
	for k, v := range lb.counts.Groups {
		c.Groups[k] = v
	}
	return c
}

// Close stops every listener and health checker and drops idle connections.
func (lb *LoadBalancer) Close() {
	lb.mu.Lock()
	if lb.closed {
		lb.mu.Unlock()
		return
	}
	lb.closed = true
	ls := make([]*Listener, 0, len(lb.listeners))
	for _, l := range lb.listeners {
		ls = append(ls, l)
	}
	for _, g := range lb.groups {
		for _, t := range g.targets {
			if t.state != StateDraining {
				close(t.stop)
				t.state = StateDraining
			}
		}
	}
	lb.mu.Unlock()
	for _, l := range ls {
		_ = l.srv.Close()
	}
	lb.wg.Wait()
	lb.transport.CloseIdleConnections()
}

type matcher [][2]int

func (m matcher) match(code int) bool {
	for _, r := range m {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

func parseMatcher(s string) (matcher, error) {
	var m matcher
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 200 || a > 499 {
			return nil, fmt.Errorf("health-check matcher %q: want codes 200-499 like \"200\", \"200-299\" or \"200,302\"", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a || b > 499 {
				return nil, fmt.Errorf("health-check matcher %q: want codes 200-499 like \"200\", \"200-299\" or \"200,302\"", s)
			}
		}
		m = append(m, [2]int{a, b})
	}
	return m, nil
}
