package alb

import (
	"context"
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

// backend is an httptest server whose /health status and / response can be switched.
type backend struct {
	*httptest.Server
	healthStatus atomic.Int32
	status       atomic.Int32
	name         string
	hold         chan struct{} // when non-nil, / blocks until closed
}

func newBackend(t *testing.T, name string) *backend {
	b := &backend{name: name}
	b.healthStatus.Store(200)
	b.status.Store(200)
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			w.WriteHeader(int(b.healthStatus.Load()))
			return
		}
		if b.hold != nil {
			<-b.hold
		}
		w.WriteHeader(int(b.status.Load()))
		io.WriteString(w, b.name)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) addr() string { return strings.TrimPrefix(b.URL, "http://") }

var fastHC = HealthCheck{Path: "/health", Interval: 10 * time.Millisecond, Timeout: time.Second, HealthyThreshold: 3, UnhealthyThreshold: 2}

func waitState(t *testing.T, g *TargetGroup, id string, want TargetState) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if g.State(id) == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("target %s state = %q, want %q", id, g.State(id), want)
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestHealthThresholds(t *testing.T) {
	var mu sync.Mutex
	var changes []HealthChange
	lb := New(Options{FullName: "app/x/1", OnHealth: func(c HealthChange) { mu.Lock(); changes = append(changes, c); mu.Unlock() }})
	defer lb.Close()
	g, err := lb.AddTargetGroup("tg-a", fastHC)
	if err != nil {
		t.Fatal(err)
	}
	good := newBackend(t, "good")
	g.Register("good", good.addr())
	waitState(t, g, "good", StateHealthy)

	bad := newBackend(t, "bad")
	bad.healthStatus.Store(500)
	g.Register("bad", bad.addr())
	waitState(t, g, "bad", StateUnhealthy)
	for _, th := range g.Targets() {
		if th.ID == "bad" && th.Reason != ReasonCodeMismatch {
			t.Errorf("bad target reason = %q, want %q", th.Reason, ReasonCodeMismatch)
		}
	}
	// Recovery needs HealthyThreshold consecutive successes.
	bad.healthStatus.Store(200)
	waitState(t, g, "bad", StateHealthy)

	mu.Lock()
	defer mu.Unlock()
	var seq []string
	for _, c := range changes {
		if c.Target == "bad" {
			seq = append(seq, string(c.From)+">"+string(c.To))
		}
	}
	if got, want := strings.Join(seq, " "), "initial>unhealthy unhealthy>healthy"; got != want {
		t.Errorf("bad target transitions = %q, want %q", got, want)
	}
}

func TestHealthyNeedsThresholdChecks(t *testing.T) {
	lb := New(Options{FullName: "app/x/1"})
	defer lb.Close()
	hc := fastHC
	hc.Interval = 40 * time.Millisecond
	hc.HealthyThreshold = 4
	g, _ := lb.AddTargetGroup("tg-a", hc)
	b := newBackend(t, "b")
	start := time.Now()
	g.Register("b", b.addr())
	waitState(t, g, "b", StateHealthy)
	// first check at once, then 3 more at 40 ms: at least 120 ms.
	if d := time.Since(start); d < 110*time.Millisecond {
		t.Errorf("healthy after %s; HealthyThreshold 4 at 40ms needs >= 120ms", d)
	}
}

func TestWeightsAndCounts(t *testing.T) {
	lb := New(Options{FullName: "app/x/1"})
	defer lb.Close()
	ga, _ := lb.AddTargetGroup("tg-a", fastHC)
	gb, _ := lb.AddTargetGroup("tg-b", fastHC)
	blue := newBackend(t, "blue")
	green := newBackend(t, "green")
	green.status.Store(503)
	ga.Register("blue", blue.addr())
	gb.Register("green", green.addr())
	waitState(t, ga, "blue", StateHealthy)
	waitState(t, gb, "green", StateHealthy)

	l, err := lb.AddListener("rule-prod", "", map[string]int{"tg-a": 100, "tg-b": 0})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 10; i++ {
		if code, body := get(t, l.URL()+"/"); code != 200 || body != "blue" {
			t.Fatalf("100/0: got %d %q, want 200 blue", code, body)
		}
	}
	l.SetWeights(map[string]int{"tg-a": 0, "tg-b": 100})
	for i := 0; i < 5; i++ {
		if code, body := get(t, l.URL()+"/"); code != 503 || body != "green" {
			t.Fatalf("0/100: got %d %q, want the target's 503 from green", code, body)
		}
	}
	l.SetWeights(map[string]int{"tg-a": 50, "tg-b": 50})
	seen := map[string]int{}
	for i := 0; i < 200; i++ {
		_, body := get(t, l.URL()+"/")
		seen[body]++
	}
	if seen["blue"] < 60 || seen["green"] < 60 {
		t.Errorf("50/50 over 200 requests: %v; want both well represented", seen)
	}
	c := lb.Counts()
	if c.Groups["tg-a"].Requests != int64(10+seen["blue"]) || c.Groups["tg-a"].Target2xx != int64(10+seen["blue"]) {
		t.Errorf("tg-a counts = %+v, want %d requests all 2xx", c.Groups["tg-a"], 10+seen["blue"])
	}
	if c.Groups["tg-b"].Target5xx != int64(5+seen["green"]) {
		t.Errorf("tg-b Target5xx = %d, want %d", c.Groups["tg-b"].Target5xx, 5+seen["green"])
	}
	if c.ELB5xx != 0 {
		t.Errorf("ELB5xx = %d, want 0", c.ELB5xx)
	}
}

func TestELBErrors(t *testing.T) {
	var reqs []Request
	var mu sync.Mutex
	lb := New(Options{FullName: "app/x/1", OnRequest: func(r Request) { mu.Lock(); reqs = append(reqs, r); mu.Unlock() }})
	defer lb.Close()
	ga, _ := lb.AddTargetGroup("tg-a", fastHC)
	l, _ := lb.AddListener("rule", "", map[string]int{"tg-a": 100})
	// Empty group: 503 from the load balancer.
	if code, _ := get(t, l.URL()+"/"); code != 503 {
		t.Errorf("empty group: %d, want 503", code)
	}
	// A target that refuses connections (fail-open routes to it while none is healthy): 502.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	ga.Register("dead", dead)
	if code, _ := get(t, l.URL()+"/"); code != 502 {
		t.Errorf("refused connection: %d, want 502", code)
	}
	c := lb.Counts()
	if c.ELB5xx != 2 || c.ELB503 != 1 || c.ELB502 != 1 {
		t.Errorf("counts = %+v, want ELB5xx 2 (one 503, one 502)", c)
	}
	if c.Groups["tg-a"].Requests != 1 || c.Groups["tg-a"].ConnectionErrors != 1 || c.Groups["tg-a"].Target5xx != 0 {
		t.Errorf("tg-a = %+v, want 1 request, 1 connection error, no target 5xx", c.Groups["tg-a"])
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reqs) != 2 || !reqs[0].ELBError || !reqs[1].ELBError || reqs[1].Target != "dead" {
		t.Errorf("requests = %+v", reqs)
	}
}

func TestFailOpenAndHealthyOnly(t *testing.T) {
	lb := New(Options{FullName: "app/x/1"})
	defer lb.Close()
	g, _ := lb.AddTargetGroup("tg", fastHC)
	a := newBackend(t, "a")
	b := newBackend(t, "b")
	b.healthStatus.Store(500)
	g.Register("a", a.addr())
	g.Register("b", b.addr())
	waitState(t, g, "a", StateHealthy)
	waitState(t, g, "b", StateUnhealthy)
	l, _ := lb.AddListener("rule", "", map[string]int{"tg": 1})
	for i := 0; i < 10; i++ {
		if _, body := get(t, l.URL()+"/"); body != "a" {
			t.Fatalf("request %d went to %q; only healthy a should serve", i, body)
		}
	}
	a.healthStatus.Store(500)
	waitState(t, g, "a", StateUnhealthy)
	seen := map[string]bool{}
	for i := 0; i < 10; i++ {
		_, body := get(t, l.URL()+"/")
		seen[body] = true
	}
	if !seen["a"] || !seen["b"] {
		t.Errorf("all unhealthy: served by %v, want both (fail open)", seen)
	}
}

func TestDeregisterDrains(t *testing.T) {
	lb := New(Options{FullName: "app/x/1"})
	defer lb.Close()
	g, _ := lb.AddTargetGroup("tg", fastHC)
	b := newBackend(t, "b")
	b.hold = make(chan struct{})
	g.Register("b", b.addr())
	waitState(t, g, "b", StateHealthy)
	l, _ := lb.AddListener("rule", "", map[string]int{"tg": 1})
	done := make(chan int)
	go func() {
		resp, err := http.Get(l.URL() + "/")
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	// wait until the request is in flight
	for i := 0; ; i++ {
		lb.mu.Lock()
		n := g.targets["b"].inflight
		lb.mu.Unlock()
		if n == 1 {
			break
		}
		if i > 500 {
			t.Fatal("request never reached the target")
		}
		time.Sleep(2 * time.Millisecond)
	}
	deregistered := make(chan struct{})
	go func() { g.Deregister(context.Background(), "b"); close(deregistered) }()
	select {
	case <-deregistered:
		t.Fatal("Deregister returned while a request was in flight")
	case <-time.After(50 * time.Millisecond):
	}
	if g.State("b") != StateDraining {
		t.Errorf("state while draining = %q", g.State("b"))
	}
	close(b.hold)
	if code := <-done; code != 200 {
		t.Errorf("in-flight request finished with %d, want 200", code)
	}
	<-deregistered
	if len(g.Targets()) != 0 {
		t.Errorf("targets after deregistration: %v", g.Targets())
	}
}

func TestMatcher(t *testing.T) {
	for _, tc := range []struct {
		m    string
		code int
		want bool
	}{
		{"200", 200, true}, {"200", 204, false}, {"200-299", 204, true}, {"200,302", 302, true}, {"200,302", 301, false},
	} {
		m, err := parseMatcher(tc.m)
		if err != nil {
			t.Fatalf("parseMatcher(%q): %v", tc.m, err)
		}
		if got := m.match(tc.code); got != tc.want {
			t.Errorf("matcher %q match(%d) = %v, want %v", tc.m, tc.code, got, tc.want)
		}
	}
	for _, bad := range []string{"", "abc", "100", "299-200", "200-600"} {
		if _, err := parseMatcher(bad); err == nil {
			t.Errorf("parseMatcher(%q) accepted", bad)
		}
	}
}
