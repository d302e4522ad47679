package deploy

import (
	"cmp"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// Poll bounds (GREENLIGHT_POLL_MIN_SECONDS, GREENLIGHT_POLL_MAX_SECONDS) and their defaults.
const (
	PollMinEnv            = "GREENLIGHT_POLL_MIN_SECONDS"
	PollMaxEnv            = "GREENLIGHT_POLL_MAX_SECONDS"
	DefaultPollMinSeconds = 5
	DefaultPollMaxSeconds = 60
)

// stageWait is how long to wait before the next observation while ECS reports a stage:
// short where things change within seconds (traffic shifts, hooks answering, tasks
// starting), long where nothing can change but an alarm (bake time) or blue draining.
var stageWait = map[string]time.Duration{
	"RECONCILE_SERVICE":             10 * time.Second,
	"PRE_SCALE_UP":                  10 * time.Second,
	"SCALE_UP":                      15 * time.Second,
	"POST_SCALE_UP":                 10 * time.Second,
	"TEST_TRAFFIC_SHIFT":            5 * time.Second,
	"POST_TEST_TRAFFIC_SHIFT":       10 * time.Second,
	"PRE_PRODUCTION_TRAFFIC_SHIFT":  5 * time.Second,
	"PRODUCTION_TRAFFIC_SHIFT":      5 * time.Second,
	"POST_PRODUCTION_TRAFFIC_SHIFT": 10 * time.Second,
	"BAKE_TIME":                     60 * time.Second,
	"CLEAN_UP":                      30 * time.Second,
}

// rollbackWait applies while ECS is rolling back: the traffic flip back is quick.
const (
	rollbackWait = 10 * time.Second
	unknownWait  = 15 * time.Second
	// ActiveWait is how long start waits before looking again at a deployment greenlight
	// did not start; LockWait is how long a queued push waits before trying the lock again.
	ActiveWait = 30 * time.Second
	LockWait   = 30 * time.Second
)

// PollBounds are the clamps of the adaptive wait, in real seconds.
type PollBounds struct {
	Min, Max int
}

// AdaptiveWait returns the seconds the state machine waits before the next check: a base
// chosen from the ECS status and lifecycle stage, scaled by the time scale, then clamped to
// the bounds (bounds are real seconds, so tests can pin polls at 1 s).
//
// A stage that lasts backs the looks off: the wait is at least a quarter of the (real) time
// already spent in the stage. A LINEAR deployment spends hours in PRODUCTION_TRAFFIC_SHIFT
// and a CANARY one its canary wait; looking every 5 s there would cost hundreds of
// transitions and bring a Standard execution near its 25,000-event history limit.
func AdaptiveWait(status, stage string, inStage time.Duration, scale workflow.TimeScale, b PollBounds) int {
	base, ok := stageWait[stage]
	switch {
	case status == "ROLLBACK_REQUESTED" || status == "ROLLBACK_IN_PROGRESS" || status == "STOP_REQUESTED":
		base = rollbackWait
	case status == "PENDING":
		base = 10 * time.Second
	case !ok:
		base = unknownWait
	}
	wait := scale.Seconds(base)
	if status == "IN_PROGRESS" {
		// A rollback is quick and its verdict awaited: no back-off there.
		wait = max(wait, int(inStage/4/time.Second))
	}
	return ClampSeconds(wait, b)
}

// ClampSeconds bounds s to [b.Min, b.Max] (a zero bound is ignored) and to at least 1.
func ClampSeconds(s int, b PollBounds) int {
	if b.Min > 0 && s < b.Min {
		s = b.Min
	}
	if b.Max > 0 && s > b.Max {
		s = b.Max
	}
	if s < 1 {
		s = 1
	}
	return s
}

// Reference §1.1 defaults for the waits of LINEAR and CANARY.
const (
	defaultStepPercent   = 10.0
	defaultStepBake      = 6 * time.Minute
	defaultCanaryPercent = 5.0
	defaultCanaryBake    = 10 * time.Minute
)

// PlannedWaits is the time a service's deployment configuration makes every deployment wait
// on purpose: the bake time, and for LINEAR the wait after every step but the last, for
// CANARY the canary's (reference §1.1). A route's deadline counts on top of it, so a LINEAR
// service stepping 3 % every 6 minutes (3 h 18 min of waits) is not rolled back for taking
// the time it was told to.
func PlannedWaits(dc *ecstypes.DeploymentConfiguration) time.Duration {
	if dc == nil {
		return 0
	}
	waits := time.Duration(aws.ToInt32(dc.BakeTimeInMinutes)) * time.Minute
	minutes := func(v *int32, def time.Duration) time.Duration {
		if v == nil {
			return def
		}
		return time.Duration(*v) * time.Minute
	}
	switch dc.Strategy {
	case ecstypes.DeploymentStrategyLinear:
		step, bake := defaultStepPercent, defaultStepBake
		if l := dc.LinearConfiguration; l != nil {
			step, bake = cmp.Or(aws.ToFloat64(l.StepPercent), step), minutes(l.StepBakeTimeInMinutes, bake)
		}
		waits += time.Duration(math.Ceil(100/step)-1) * bake
	case ecstypes.DeploymentStrategyCanary:
		pct, bake := defaultCanaryPercent, defaultCanaryBake
		if c := dc.CanaryConfiguration; c != nil {
			pct, bake = cmp.Or(aws.ToFloat64(c.CanaryPercent), pct), minutes(c.CanaryBakeTimeInMinutes, bake)
		}
		if pct < 100 {
			waits += bake
		}
	}
	return waits
}
