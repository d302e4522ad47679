package main

import (
	"math"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// typicalStages is a typical deployment: ten minutes of deployment and the demo's five-minute
// bake, over the lifecycle stages in ECS's order.
var typicalStages = []stageSpan{
	{"PRE_SCALE_UP", 30 * time.Second}, {"SCALE_UP", 4 * time.Minute}, {"POST_SCALE_UP", time.Minute},
	{"TEST_TRAFFIC_SHIFT", 30 * time.Second}, {"POST_TEST_TRAFFIC_SHIFT", time.Minute},
	{"PRODUCTION_TRAFFIC_SHIFT", time.Minute}, {"POST_PRODUCTION_TRAFFIC_SHIFT", 30 * time.Second},
	{"BAKE_TIME", 5 * time.Minute}, {"CLEAN_UP", 90 * time.Second},
}

type stageSpan struct {
	Stage    string
	Duration time.Duration
}

// longShifts are production shifts that last: the defaults of CANARY (5 % for 10 minutes)
// and LINEAR (10 % every 6 minutes, nine waits), which ECS reports as PRODUCTION_TRAFFIC_SHIFT
// [UNCONFIRMED, reference §2.5], and LINEAR at its smallest step (3 %, 33 waits).
var longShifts = []stageSpan{
	{"CANARY, 5 % for 10 min", 10 * time.Minute},
	{"LINEAR, 10 % every 6 min", 54 * time.Minute},
	{"LINEAR, 3 % every 6 min", 198 * time.Minute},
}

// ShiftPolls is how many looks a long production shift costs, backing off as it lasts, and
// at the fixed 5 s a traffic shift starts with.
type ShiftPolls struct {
	Strategy   string  `json:"strategy"`
	Minutes    float64 `json:"minutes"`
	Polls      int     `json:"polls"`
	FixedPolls int     `json:"fixedPolls"`
}

// Typical is the cost of one typical deployment on AWS, from the measured figures.
type Typical struct {
	Minutes float64      `json:"minutes"`
	Stages  []StagePolls `json:"stages"`
	Polls   int          `json:"polls"`
	// LongShifts are the looks of LINEAR and CANARY production shifts.
	LongShifts []ShiftPolls `json:"longShifts"`
	// Transitions = the rehearsal's fixed transitions + Polls × its transitions per poll.
	Transitions int `json:"transitions"`
	// Requests and GBSeconds of the Lambda invocations (each function's fixed invocations
	// plus its per-poll ones; each at its mean billed duration; one cold init per function).
	Requests      float64 `json:"requests"`
	GBSeconds     float64 `json:"gbSeconds"`
	InitGBSeconds float64 `json:"initGbSeconds"`
	// The cost in USD at Run.Prices.
	CostTransitions float64 `json:"costTransitionsUSD"`
	CostRequests    float64 `json:"costRequestsUSD"`
	CostCompute     float64 `json:"costComputeUSD"`
	Cost            float64 `json:"costUSD"`
}

// StagePolls is how often greenlight looks at the deployment during one stage, and the
// first and last wait between looks there.
type StagePolls struct {
	Stage        string  `json:"stage"`
	Minutes      float64 `json:"minutes"`
	WaitSeconds  int     `json:"waitSeconds"`
	LastWaitSecs int     `json:"lastWaitSeconds"`
	Polls        int     `json:"polls"`
}

// pollSchedule applies check's adaptive wait (deploy.AdaptiveWait, at AWS speed with the
// default bounds, backing off as a stage lasts) to the typical stages.
func pollSchedule() ([]StagePolls, int) {
	return schedule(typicalStages)
}

func schedule(stages []stageSpan) ([]StagePolls, int) {
	bounds := deploy.PollBounds{Min: deploy.DefaultPollMinSeconds, Max: deploy.DefaultPollMaxSeconds}
	var out []StagePolls
	total := 0
	for _, s := range stages {
		sp := StagePolls{Stage: s.Stage, Minutes: s.Duration.Minutes()}
		for in := time.Duration(0); in < s.Duration; sp.Polls++ {
			wait := deploy.AdaptiveWait("IN_PROGRESS", s.Stage, in, workflow.TimeScale(1), bounds)
			if sp.Polls == 0 {
				sp.WaitSeconds = wait
			}
			sp.LastWaitSecs = wait
			in += time.Duration(wait) * time.Second
		}
		out = append(out, sp)
		total += sp.Polls
	}
	return out, total
}

// typical computes the typical deployment's cost from a run's measured figures.
func typical(r Run) Typical {
	t := Typical{}
	t.Stages, t.Polls = pollSchedule()
	for _, l := range longShifts {
		_, n := schedule([]stageSpan{{"PRODUCTION_TRAFFIC_SHIFT", l.Duration}})
		fixed := int(math.Ceil(l.Duration.Seconds() / float64(deploy.DefaultPollMinSeconds)))
		t.LongShifts = append(t.LongShifts, ShiftPolls{Strategy: l.Stage, Minutes: l.Duration.Minutes(), Polls: n, FixedPolls: fixed})
	}
	for _, s := range t.Stages {
		t.Minutes += s.Minutes
	}
	reh := r.Rehearsal
	t.Transitions = reh.Fixed + int(math.Round(float64(t.Polls)*reh.PerPoll))
	gb := float64(r.Prices.MemoryMB) / 1024
	for _, f := range r.Functions {
		if f.Invocations == 0 {
			continue // not part of a deployment (the scheduled reconciliation)
		}
		fixed := math.Max(0, f.PerDeployment-f.PerPoll*reh.Polls)
		n := fixed + f.PerPoll*float64(t.Polls)
		t.Requests += n
		t.GBSeconds += n * f.Billed / float64(f.Invocations) / 1000 * gb
		t.InitGBSeconds += math.Ceil(f.Init) / 1000 * gb
	}
	p := r.Prices
	t.CostTransitions = float64(t.Transitions) / 1000 * p.TransitionsPerThousandUSD
	t.CostRequests = t.Requests / 1e6 * p.RequestsPerMillionUSD
	t.CostCompute = (t.GBSeconds + t.InitGBSeconds) * p.GBSecondUSD
	t.Cost = t.CostTransitions + t.CostRequests + t.CostCompute
	return t
}
