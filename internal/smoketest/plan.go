package smoketest

import (
	"fmt"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// Lifecycle stages the hook acts on (reference §1.2, §2.5).
const (
	StagePostScaleUp                = "POST_SCALE_UP"
	StagePostTestTrafficShift       = "POST_TEST_TRAFFIC_SHIFT"
	StagePreProductionTrafficShift  = "PRE_PRODUCTION_TRAFFIC_SHIFT"
	StagePostProductionTrafficShift = "POST_PRODUCTION_TRAFFIC_SHIFT"
	StageTestTrafficShift           = "TEST_TRAFFIC_SHIFT"
	StageProductionTrafficShift     = "PRODUCTION_TRAFFIC_SHIFT"
)

// DefaultStages are the stages that run checks when the route does not list any.
var DefaultStages = []string{StagePostScaleUp, StagePostTestTrafficShift}

// via says how a stage reaches green.
type via int

const (
	viaNone     via = iota // not a stage greenlight checks at
	viaTasks               // the green tasks' private IPs (no listener routes to them yet, or green serves production)
	viaListener            // the test listener (its rule sends everything to green)
)

// stageVia is where green is reachable at each stage the checks can run (reference §2.5).
func stageVia(stage string) via {
	switch stage {
	case StagePostScaleUp, StagePostProductionTrafficShift:
		return viaTasks
	case StagePostTestTrafficShift, StagePreProductionTrafficShift:
		return viaListener
	}
	return viaNone
}

// plan is what one call does, resolved from the route and hookDetails.
type plan struct {
	route     string // the route's name, "" when only hookDetails configure checks
	container string // the route target's container, "" when unknown
	stages    []string
	checks    []routes.Check
	// port: route smokeTests.port, else hookDetails.port; 0 means the load balancer's
	// container port.
	port int
	// routeListenerURL is the operator's test listener URL (trusted); hookListenerURL
	// must prove it is the service's own load balancer.
	routeListenerURL string
	hookListenerURL  string

	attempts    int
	interval    time.Duration
	patience    time.Duration
	callBack    int // seconds
	parallelism int
	minHealthy  int
}

// errNoChecks is the fail-closed answer when a hook is attached but nothing says what to check.
type errNoChecks struct{ service, parameter, route string }

func (e errNoChecks) Error() string {
	where := fmt.Sprintf("no route in %s targets %s", e.parameter, e.service)
	if e.route != "" {
		where = fmt.Sprintf("route %q (in %s) has no smokeTests.checks", e.route, e.parameter)
	}
	return fmt.Sprintf("no smoke checks configured for %s: %s. Add smokeTests.checks to the route "+
		"(`greenlight routes put`), e.g. {\"name\": \"health\", \"path\": \"/health\", \"expectStatus\": 200}, "+
		"or \"checks\" to the lifecycle hook's hookDetails; or remove the hook from the service", e.service, where)
}

// makePlan merges the route's smokeTests (nil route: none for this service) with
// hookDetails. A hookDetails check replaces the route check of the same name; others are
// added. Durations are compressed by scale.
func makePlan(route *routes.Route, target routes.Target, hd HookDetails, scale workflow.TimeScale) plan {
	p := plan{
		stages:          DefaultStages,
		attempts:        routes.DefaultAttempts,
		interval:        routes.DefaultIntervalSeconds * time.Second,
		patience:        routes.DefaultPatienceSeconds * time.Second,
		callBack:        routes.DefaultCallBackDelaySeconds,
		parallelism:     routes.DefaultParallelism,
		minHealthy:      routes.DefaultMinHealthyPercent,
		port:            hd.Port,
		hookListenerURL: hd.TestListenerURL,
	}
	if route != nil {
		p.route, p.container = route.Name, target.Container
	}
	var base []routes.Check
	if route != nil && route.SmokeTests != nil {
		st := route.SmokeTests
		if len(st.Stages) > 0 {
			p.stages = st.Stages
		}
		if st.Port > 0 {
			p.port = st.Port
		}
		p.routeListenerURL = st.TestListenerURL
		set(&p.attempts, st.Attempts)
		if st.IntervalSeconds > 0 {
			p.interval = time.Duration(st.IntervalSeconds) * time.Second
		}
		if st.PatienceSeconds > 0 {
			p.patience = time.Duration(st.PatienceSeconds) * time.Second
		}
		set(&p.callBack, st.CallBackDelaySeconds)
		set(&p.parallelism, st.Parallelism)
		set(&p.minHealthy, st.MinHealthyPercent)
		base = st.Checks
	}
	p.checks = mergeChecks(base, hd.Checks)
	p.interval = scale.Apply(p.interval)
	p.patience = scale.Apply(p.patience)
	p.callBack = scale.Seconds(time.Duration(p.callBack) * time.Second)
	return p
}

func set(dst *int, v int) {
	if v > 0 {
		*dst = v
	}
}

func mergeChecks(base, extra []routes.Check) []routes.Check {
	out := append([]routes.Check(nil), base...)
	for _, c := range extra {
		replaced := false
		for i := range out {
			if out[i].Name == c.Name {
				out[i], replaced = c, true
				break
			}
		}
		if !replaced {
			out = append(out, c)
		}
	}
	return out
}

// runsAt reports whether the plan checks at stage.
func (p plan) runsAt(stage string) bool { return contains(p.stages, stage) }

// roundTime is the longest one check can take within a call: every attempt timing out,
// with the intervals between them.
func (p plan) roundTime() time.Duration {
	var worst time.Duration
	for _, c := range p.checks {
		t := time.Duration(c.TimeoutMs) * time.Millisecond
		if t <= 0 {
			t = routes.DefaultTimeoutMs * time.Millisecond
		}
		worst = max(worst, t)
	}
	a := max(p.attempts, 1)
	return time.Duration(a)*worst + time.Duration(a-1)*p.interval
}
