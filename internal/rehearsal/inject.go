package rehearsal

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
)

// inject arms a scenario's faults before its first push: the proxy in front of moto, the
// chat receiver, the ECS front's kill hook. (The ECS emulator's throttling is set when the
// emulator starts.)
func (r *scenarioRun) inject(f *Fault) error {
	l := r.l
	if err := l.awsFront.SetFaults(f.SlowAWS); err != nil {
		return err
	}
	l.receiver.failWith(f.Webhooks)
	if t := f.ECSThrottle; t != nil {
		l.tl.event("fault: ECS throttles %.0f%% of the Lambdas' calls (seed %d)%s", t.Share*100, t.Seed, firstCalls(t.First))
	}
	if s := f.SlowAWS; s != nil {
		l.tl.event("fault: the local AWS holds %.0f%% of the Lambdas' calls %s-%s, and drops every %s held call", s.Share*100, s.Min, s.Max, ordinal(s.DropEvery))
	}
	if len(f.Webhooks) > 0 {
		l.tl.event("fault: the chat receiver answers %s", statusList(f.Webhooks))
	}
	if k := f.Kill; k != nil {
		name := str(r.st.b.made[k.Function].Ref)
		p := l.rie(name)
		if p == nil {
			return fmt.Errorf("fault %s: no aws-lambda-rie runs %s (%s)", r.sc.Name, k.Function, name)
		}
		l.tl.event("fault: %s's bootstrap will be killed when ECS has answered its %s", k.Function, k.OnECSCall)
		l.ecs.hook(&callHook{op: k.OnECSCall, after: func() bool {
			rec := KillRecord{Function: k.Function, At: time.Now()}
			pids, err := p.KillBootstrap()
			rec.PIDs = pids
			if err != nil {
				rec.Err = err.Error()
				l.tl.event("fault: could not kill %s's bootstrap: %v", k.Function, err)
			} else {
				l.tl.event("fault: %s's bootstrap (pid %v) killed after ECS took its %s", k.Function, pids, k.OnECSCall)
			}
			r.obs.Faults.Kills = append(r.obs.Faults.Kills, rec)
			return err != nil // a killed caller gets no answer
		}})
	}
	return nil
}

// clearFaults puts the shared pieces back to passing everything through.
func (r *scenarioRun) clearFaults() {
	_ = r.l.awsFront.SetFaults(nil)
	r.l.receiver.failWith(nil)
}

// collectFaults records what the fault injection did, and the Lambdas' ECS calls.
func (r *scenarioRun) collectFaults() {
	o := &r.obs.Faults
	o.ECSCalls = r.l.ecs.counts()
	f := r.sc.Fault
	if f == nil {
		return
	}
	if f.ECSThrottle != nil {
		st := r.em.Throttled()
		o.Throttle = &st
		o.note("ECS throttled %d of the Lambdas' %d calls: %s", st.Total(), sum(st.Calls), st)
	}
	if f.SlowAWS != nil {
		st := r.l.awsFront.Stats()
		o.Slow = &st
		o.note("the local AWS held %d of the Lambdas' %d calls for %s in all (%s), and dropped %d of them", st.Held, st.Requests, st.HeldFor.Round(100*time.Millisecond), st.Services(), st.Dropped)
	}
	for _, k := range o.Kills {
		if k.Err == "" {
			o.note("%s's bootstrap (pid %v) killed after ECS answered its %s", k.Function, k.PIDs, f.Kill.OnECSCall)
		}
	}
	if len(f.Webhooks) > 0 {
		o.WebhookTries = r.l.receiver.tries()
		o.note("the chat receiver failed every post: %s; %d message(s) in the dead-letter queue", triesList(o.WebhookTries, f.Webhooks), len(o.DeadLetters))
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func firstCalls(first map[string]int) string {
	if len(first) == 0 {
		return ""
	}
	var out []string
	for op, n := range first {
		out = append(out, fmt.Sprintf("the first %d %s", n, op))
	}
	sort.Strings(out)
	return ", and " + strings.Join(out, ", ")
}

func ordinal(n int) string {
	switch n {
	case 0:
		return "no"
	case 1:
		return "1st"
	case 2:
		return "2nd"
	case 3:
		return "3rd"
	}
	return fmt.Sprintf("%dth", n)
}

func statusList(m map[string]int) string {
	var out []string
	for ch, st := range m {
		out = append(out, fmt.Sprintf("HTTP %d to %s", st, ch))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func triesList(tries, status map[string]int) string {
	var out []string
	for ch, st := range status {
		out = append(out, fmt.Sprintf("%s %d × HTTP %d", ch, tries[ch], st))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// eventTap sees every emulator event of a scenario and can pause the emulator at one: the
// emulator calls OnEvent synchronously, outside its lock, from the goroutine that drives
// the deployment, so blocking there holds that deployment at that point while everything
// else (tasks, traffic, other calls) goes on.
type eventTap struct {
	mu    sync.Mutex
	gates []*eventGate
}

// eventGate pauses a service deployment when it reaches a status, until opened.
type eventGate struct {
	status  string
	reached chan struct{}
	release chan struct{}

	mu    sync.Mutex
	arn   string // "" until only is called: no deployment matches
	fired bool
	once  sync.Once
}

// pauseAt adds a gate for status; name its deployment with only.
func (t *eventTap) pauseAt(status string) *eventGate {
	g := &eventGate{status: status, reached: make(chan struct{}), release: make(chan struct{})}
	t.mu.Lock()
	t.gates = append(t.gates, g)
	t.mu.Unlock()
	return g
}

// only makes the gate apply to one service deployment.
func (g *eventGate) only(arn string) {
	g.mu.Lock()
	g.arn = arn
	g.mu.Unlock()
}

// open lets the paused deployment go on (and any later one through).
func (g *eventGate) open() { g.once.Do(func() { close(g.release) }) }

// on is the emulator's OnEvent.
func (t *eventTap) on(ev ecsemu.Event) {
	if ev.Kind != ecsemu.EventStatus {
		return
	}
	t.mu.Lock()
	gates := append([]*eventGate(nil), t.gates...)
	t.mu.Unlock()
	for _, g := range gates {
		g.mu.Lock()
		match := !g.fired && g.arn != "" && g.arn == ev.ServiceDeploymentARN && g.status == ev.Status
		if match {
			g.fired = true
		}
		g.mu.Unlock()
		if !match {
			continue
		}
		close(g.reached)
		select {
		case <-g.release:
		case <-time.After(time.Minute): // never hold the emulator for good
		}
	}
}

// openAll releases every gate (the scenario is ending).
func (t *eventTap) openAll() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, g := range t.gates {
		g.open()
	}
}
