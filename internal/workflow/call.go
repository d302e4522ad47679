package workflow

import (
	"fmt"
	"math"
	"strconv"
	"time"
)

// Call is the Lambda payload the state machine sends on the deploy path:
// {"action": "...", "job": <Job>}. Action selects the step for functions that do more than
// one (lock: acquire|release; watch: preflight|during|post); others ignore it.
type Call struct {
	Action string `json:"action,omitempty"`
	Job    Job    `json:"job"`
}

// Actions.
const (
	ActionAcquire   = "acquire"
	ActionRelease   = "release"
	ActionPreflight = "preflight"
	ActionDuring    = "during"
	ActionPost      = "post"
	ActionFinal     = "final"     // finalize: assemble and publish the job's result
	ActionRegressed = "regressed" // finalize: publish the REGRESSED result the watch set
)

// TimeScaleEnv compresses every route duration (deadlines, patience, watch windows, waits)
// by a factor, for tests and the rehearsal: 0.01 makes 10 minutes 6 seconds. Default 1.
const TimeScaleEnv = "GREENLIGHT_TIME_SCALE"

// TimeScale multiplies durations; the zero value means 1.
type TimeScale float64

// ParseTimeScale reads TimeScaleEnv.
func ParseTimeScale(getenv func(string) string) (TimeScale, error) {
	v := getenv(TimeScaleEnv)
	if v == "" {
		return 1, nil
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f <= 0 || f > 1 || math.IsNaN(f) {
		return 0, fmt.Errorf("%s=%q: want a number in (0, 1], e.g. 0.01", TimeScaleEnv, v)
	}
	return TimeScale(f), nil
}

// Apply scales d (never below one millisecond for a positive d).
func (s TimeScale) Apply(d time.Duration) time.Duration {
	if s == 0 || s == 1 || d <= 0 {
		return d
	}
	out := time.Duration(float64(d) * float64(s))
	if out < time.Millisecond {
		out = time.Millisecond
	}
	return out
}

// Seconds scales d and rounds up to whole seconds, at least 1: what a Wait state takes.
func (s TimeScale) Seconds(d time.Duration) int {
	sec := int(math.Ceil(s.Apply(d).Seconds()))
	if sec < 1 {
		sec = 1
	}
	return sec
}
