package ecsemu

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
)

// Throttle makes the ECS endpoint answer a share of the calls it receives over HTTP with
// ThrottlingException (HTTP 400, "Rate exceeded"), as ECS does when an account's API request
// rate is exceeded, before the emulator acts on them: a throttled UpdateService starts
// nothing. It is a fault injection for tests of the callers' retries (the Lambdas' SDK
// retryer, then the state machine's Retry). The emulator's own Go API (CreateServiceFromTemplate,
// Report …) is never throttled.
type Throttle struct {
	// Share is the fraction of calls throttled, in [0, 1].
	Share float64
	// Seed makes the sequence of decisions repeatable: the n-th call the emulator receives is
	// throttled or not the same way in every run with the same seed.
	Seed uint64
	// Operations limits throttling to these operations (UpdateService, DescribeServices …);
	// empty means every operation, the forwarded ones included.
	Operations []string
	// First throttles the first n calls of an operation whatever Share decides: with n at
	// least the caller's SDK attempts, one call is sure to reach the caller as an error.
	First map[string]int
}

// ThrottleStats counts, per operation, the calls received over HTTP and those throttled.
type ThrottleStats struct {
	Calls     map[string]int
	Throttled map[string]int
}

// Total is the number of calls throttled.
func (s ThrottleStats) Total() int {
	n := 0
	for _, v := range s.Throttled {
		n += v
	}
	return n
}

// String lists the throttled calls per operation: "DescribeServices 3/9, UpdateService 5/6".
func (s ThrottleStats) String() string {
	ops := make([]string, 0, len(s.Calls))
	for op := range s.Calls {
		ops = append(ops, op)
	}
	sort.Strings(ops)
	out := ""
	for _, op := range ops {
		if out != "" {
			out += ", "
		}
		out += fmt.Sprintf("%s %d/%d", op, s.Throttled[op], s.Calls[op])
	}
	return out
}

func (t *Throttle) validate() error {
	if t == nil {
		return nil
	}
	if t.Share < 0 || t.Share > 1 || math.IsNaN(t.Share) {
		return fmt.Errorf("ecsemu: Throttle.Share %v: want a fraction in [0, 1], e.g. 0.3", t.Share)
	}
	for op, n := range t.First {
		if n < 0 {
			return fmt.Errorf("ecsemu: Throttle.First[%s] = %d: want a count of calls ≥ 0", op, n)
		}
	}
	return nil
}

// throttler decides, call by call, which calls are throttled.
type throttler struct {
	cfg Throttle
	ops map[string]bool

	mu        sync.Mutex
	rnd       *rand.Rand
	calls     map[string]int
	throttled map[string]int
}

func newThrottler(cfg *Throttle) *throttler {
	t := &throttler{calls: map[string]int{}, throttled: map[string]int{}}
	if cfg == nil {
		return t
	}
	t.cfg = *cfg
	t.rnd = rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	if len(cfg.Operations) > 0 {
		t.ops = map[string]bool{}
		for _, op := range cfg.Operations {
			t.ops[op] = true
		}
	}
	return t
}

// decide counts the call and reports whether to throttle it.
func (t *throttler) decide(op string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls[op]++
	if t.rnd == nil || (t.ops != nil && !t.ops[op]) {
		return false
	}
	throttle := t.calls[op] <= t.cfg.First[op]
	// Draw for every eligible call, so one operation's First does not shift the others'
	// sequence.
	if t.rnd.Float64() < t.cfg.Share {
		throttle = true
	}
	if throttle {
		t.throttled[op]++
	}
	return throttle
}

func (t *throttler) stats() ThrottleStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := ThrottleStats{Calls: map[string]int{}, Throttled: map[string]int{}}
	for k, v := range t.calls {
		s.Calls[k] = v
	}
	for k, v := range t.throttled {
		s.Throttled[k] = v
	}
	return s
}

// Throttled returns what Options.Throttle did so far (all zero without it), and the calls
// received per operation in any case.
func (e *Emulator) Throttled() ThrottleStats { return e.throttle.stats() }

// throttledError is ECS's answer to a call over the account's rate.
var throttledError = &apiError{status: 400, typ: "ThrottlingException", msg: "Rate exceeded"}
