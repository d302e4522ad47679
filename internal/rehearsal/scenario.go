package rehearsal

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Push is one image pushed during a scenario.
type Push struct {
	// Tag is the image tag; the version the app reports is the tag too.
	Tag string
	// Faults are the sample app's switches for this image (HEALTH_FAIL, ERROR_RATE,
	// CRASH_AFTER, LATENCY_MS), as its environment.
	Faults map[string]string
	// Repeat re-sends the ECR event of an earlier push (its index) instead of pushing a new
	// image: EventBridge delivers at least once, so the same event can arrive twice.
	Repeat *int
	// After is how long to wait after the previous push.
	After time.Duration
	// AfterLock waits, before this push, until the previous push's execution holds the
	// service's lock, so the order the pushes queue in does not depend on the machine's load.
	AfterLock bool
	// Expect is the outcome greenlight must publish for this push.
	Expect result.Outcome
	// Before runs just before the push (a fault scenario's own step: an operator's
	// deployment, an execution stopped by hand …); an error ends the scenario.
	Before func(ctx context.Context, r *scenarioRun) error
}

// Scenario is one rehearsal: what blue runs, what is pushed, what must come out.
type Scenario struct {
	Name        string
	Description string
	// Proves is the one line the human output prints under the result.
	Proves string
	// Blue are the faults of the image production runs before the pushes.
	Blue map[string]string
	// Environment overrides parameters of environment/template.yaml.
	Environment map[string]string
	// AlarmFiringFirst waits, before the first push, until the route's alarm is in ALARM
	// (from the production traffic blue fails).
	AlarmFiringFirst bool
	Pushes           []Push
	// Primary is the push whose outcome and reason are the scenario's.
	Primary int
	// Assertions must all hold, beyond every push's expected outcome (and the invariants,
	// checked after every scenario).
	Assertions []Assertion
	// Group is "faults" for the fault scenarios (--scenario faults), empty for the others.
	Group string
	// Fault is what a fault scenario injects (nil for the others).
	Fault *Fault
	// Operator are the sample app's fault switches of an image an operator deploys by
	// hand during the scenario (push-during-rollback), for Faulty.
	Operator map[string]string
}

// Faulty reports whether the scenario relies on the sample app's fault switches (so it
// cannot run with --app-cmd).
func (s Scenario) Faulty() bool {
	if len(s.Blue) > 0 || len(s.Operator) > 0 {
		return true
	}
	for _, p := range s.Pushes {
		if len(p.Faults) > 0 {
			return true
		}
	}
	return false
}

// Expected lists the outcome expected for each push.
func (s Scenario) Expected() []result.Outcome {
	out := make([]result.Outcome, len(s.Pushes))
	for i, p := range s.Pushes {
		out[i] = p.Expect
	}
	return out
}

// Assertion is an extra check on what a scenario observed.
type Assertion struct {
	Name  string
	Check func(o *Observed) error
}

func repeat(i int) *int { return &i }

// Scenarios is the scenario table, in the order `--scenario all` runs them: the
// deployment scenarios, then the fault scenarios (faults.go).
var Scenarios = append(deploymentScenarios, faultScenarios...)

// GroupFaults names the fault scenarios as a group (--scenario faults).
const GroupFaults = "faults"

var deploymentScenarios = []Scenario{
	{
		Name:        "healthy",
		Description: "a good image: blue/green through every stage, production moves to green",
		Proves:      "the whole pipeline deploys a good image: smoke test passed, traffic shifted, bake survived, blue cleaned up",
		Pushes:      []Push{{Tag: "v1.1.0", Expect: result.Succeeded}},
		Assertions: []Assertion{
			reachedStages("BAKE_TIME", "CLEAN_UP"), noFailedProduction(), greenServedProduction(),
			deployments(1), chatFor(result.Succeeded),
		},
	},
	{
		Name:        "broken-health",
		Description: "green's /health answers 500: the smoke-test hook fails it before any traffic",
		Proves:      "a green that is up but not ready never gets production traffic: the smoke test fails it at POST_SCALE_UP and blue keeps serving",
		// The load balancer checks liveness on /version; the smoke test checks readiness on
		// /health. With both on /health, ECS never leaves SCALE_UP: crash-on-start shows that.
		Environment: map[string]string{"HealthCheckPath": "/version"},
		Pushes:      []Push{{Tag: "v1.1.0", Faults: map[string]string{"HEALTH_FAIL": "true"}, Expect: result.RolledBack}},
		Assertions: []Assertion{
			reasonKind(result.KindSmokeTestFailed), noFailedProduction(), neverShifted(), deployments(1), chatFor(result.RolledBack),
		},
	},
	{
		Name:        "error-rate",
		Description: "half of green's GET / answers 500 (/health is fine): the 5xx-rate alarm fires during the bake",
		Proves:      "a green that passes its smoke test but fails real traffic is rolled back by the 5xx-rate alarm, with the alarm's evidence",
		Pushes:      []Push{{Tag: "v1.1.0", Faults: map[string]string{"ERROR_RATE": "0.5"}, Expect: result.RolledBack}},
		Assertions: []Assertion{
			reasonKind(result.KindAlarm), alarmEvidence(), rolledBackAfterShift(), deployments(1), chatFor(result.RolledBack),
		},
	},
	{
		Name:        "canary",
		Description: "the service uses CANARY (10 % of production for 10 min, then the rest): every GET / on green answers 500, and the 5xx-rate alarm fires while green holds the canary's share",
		Proves:      "with a canary, a release that fails real traffic reaches only the canary's share of production before the alarm rolls it back",
		Environment: map[string]string{"DeploymentStrategy": "CANARY", "CanaryPercent": "10", "CanaryBakeTimeMinutes": "10"},
		Pushes:      []Push{{Tag: "v1.1.0", Faults: map[string]string{"ERROR_RATE": "1"}, Expect: result.RolledBack}},
		Assertions: []Assertion{
			// No alarmEvidence: once production is back on blue the compressed alarm can be OK
			// again before greenlight reads it (the evidence then says so); the kind is ALARM.
			reasonKind(result.KindAlarm), rolledBackIn(ecsemu.StageProductionTrafficShift), canaryShareFailed(10),
			deployments(1), chatFor(result.RolledBack),
		},
	},
	{
		Name:        "linear",
		Description: "the service uses LINEAR (50 % of production, a 1-minute wait, then the rest): a good image",
		Proves:      "a LINEAR service deploys through the same pipeline: production moves step by step, and the result is SUCCEEDED with nothing failed",
		Environment: map[string]string{"DeploymentStrategy": "LINEAR", "LinearStepPercent": "50", "LinearStepBakeTimeMinutes": "1"},
		Pushes:      []Push{{Tag: "v1.1.0", Expect: result.Succeeded}},
		Assertions: []Assertion{
			productionSteps(2), reachedStages("BAKE_TIME", "CLEAN_UP"), noFailedProduction(), greenServedProduction(),
			deployments(1), chatFor(result.Succeeded),
		},
	},
	{
		Name:        "duplicate-event",
		Description: "the same ECR event arrives twice: one deployment",
		Proves:      "a repeated push event deploys once: the second is SKIPPED as a duplicate digest",
		Pushes: []Push{
			{Tag: "v1.1.0", Expect: result.Succeeded},
			{Repeat: repeat(0), After: 300 * time.Millisecond, Expect: result.Skipped},
		},
		Primary:    1,
		Assertions: []Assertion{deployments(1), reasonKind(result.KindDuplicate), noFailedProduction()},
	},
	{
		Name:        "burst",
		Description: "three pushes within a second: the first and the last deploy, the middle one is SUPERSEDED",
		Proves:      "pushes that arrive during a deployment queue, and only the newest of them deploys",
		Pushes: []Push{
			{Tag: "v1.1.0", Expect: result.Succeeded},
			{Tag: "v1.2.0", AfterLock: true, Expect: result.Superseded},
			{Tag: "v1.3.0", After: 300 * time.Millisecond, Expect: result.Succeeded},
		},
		Primary:    1,
		Assertions: []Assertion{deployments(2), reasonKind(result.KindSuperseded), endsOn("v1.3.0"), noFailedProduction()},
	},
	{
		Name:        "crash-on-start",
		Description: "green exits right after it starts: ECS's circuit breaker rolls back",
		Proves:      "a green that crashes is rolled back with the tasks' stopped reason, and blue keeps serving",
		Pushes:      []Push{{Tag: "v1.1.0", Faults: map[string]string{"CRASH_AFTER": "50ms"}, Expect: result.RolledBack}},
		Assertions: []Assertion{
			stoppedTaskEvidence("Essential container in task exited"), noFailedProduction(), neverShifted(), deployments(1),
		},
	},
	{
		Name:             "alarm-already-firing",
		Description:      "production is already failing (its 5xx-rate alarm is in ALARM) when a push arrives: BLOCKED",
		Proves:           "greenlight refuses to deploy while a route alarm fires, since ECS would ignore alarms for the whole deployment",
		Blue:             map[string]string{"ERROR_RATE": "0.5"},
		AlarmFiringFirst: true,
		Pushes:           []Push{{Tag: "v1.1.0", Expect: result.Blocked}},
		Assertions:       []Assertion{reasonKind(result.KindAlarmAlreadyFiring), deployments(0), chatFor(result.Blocked)},
	},
}

// ScenarioNames lists the scenarios in table order.
func ScenarioNames() []string {
	out := make([]string, len(Scenarios))
	for i, s := range Scenarios {
		out[i] = s.Name
	}
	return out
}

// Lookup returns the named scenario.
func Lookup(name string) (Scenario, bool) {
	for _, s := range Scenarios {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// selectScenarios expands names ("all" is every scenario) and checks them; with appCmd,
// "all" leaves out the scenarios that need the sample app's fault switches, and naming one
// is an error.
func selectScenarios(names []string, appCmd bool) (run []Scenario, left []string, err error) {
	if len(names) == 0 {
		names = []string{"healthy"}
	}
	seen := map[string]bool{}
	add := func(s Scenario) {
		if !seen[s.Name] {
			seen[s.Name] = true
			run = append(run, s)
		}
	}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "all" || n == GroupFaults {
			for _, s := range Scenarios {
				if n == GroupFaults && s.Group != GroupFaults {
					continue
				}
				if appCmd && s.Faulty() {
					left = append(left, s.Name)
					continue
				}
				add(s)
			}
			continue
		}
		s, ok := Lookup(n)
		if !ok {
			return nil, nil, usagef("unknown scenario %q: use one of %s, or all, or faults (--list describes them)", n, strings.Join(ScenarioNames(), ", "))
		}
		if appCmd && s.Faulty() {
			return nil, nil, usagef("scenario %s injects faults through the sample app's switches (%s), which the program given with --app-cmd does not have; with --app-cmd, run %s", s.Name, faultNames(s), strings.Join(faultFree(), ", "))
		}
		add(s)
	}
	return run, left, nil
}

func faultNames(s Scenario) string {
	set := map[string]bool{}
	for k := range s.Blue {
		set[k] = true
	}
	for _, p := range s.Pushes {
		for k := range p.Faults {
			set[k] = true
		}
	}
	for k := range s.Operator {
		set[k] = true
	}
	var out []string
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func faultFree() []string {
	var out []string
	for _, s := range Scenarios {
		if !s.Faulty() {
			out = append(out, s.Name)
		}
	}
	return out
}

// pushLabel names a push in the timeline: "#2 v1.2.0".
func pushLabel(i int, tag string) string { return fmt.Sprintf("#%d %s", i+1, tag) }
