package smoketest

import (
	"fmt"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Observation is everything the verdict depends on, gathered by the handler.
type Observation struct {
	Stage string
	// Expected is how many green tasks ECS asked for (0 when probing the test listener).
	Expected int
	// Running is how many green tasks were found RUNNING with an address.
	Running int
	// Targets is how many targets were probed (tasks, or 1 for the test listener).
	Targets int
	// Probes are the results, every target × check, in target order.
	Probes []Probe
	// MinHealthyPercent of the targets must pass every check.
	MinHealthyPercent int
	// Elapsed is the time since the first call at this stage; Patience is how long green
	// may stay unready before the hook fails.
	Elapsed, Patience time.Duration
	// NotReady says why green could not be checked (yet) apart from the probes: tasks still
	// starting, an AWS error worth retrying, too little time left in this call.
	NotReady string
	// Fatal is a reason to fail at once (bad configuration, a permanent AWS error, an event
	// that makes no sense).
	Fatal string
}

// Verdict is the hook's answer and why.
type Verdict struct {
	Status HookStatus
	// Reason is one or more lines; the first is the summary a person reads in chat.
	Reason string
	// Check is the wrong answer a FAILED is about; nil when it is about something else
	// (green not ready in time, configuration, an AWS error).
	Check *result.CheckEvidence
}

// Decide turns an observation into a verdict:
//   - a fatal problem fails at once;
//   - too many targets answered wrongly for MinHealthyPercent to be reached → FAILED, the
//     first wrong answer's summary first ("GET /health on 10.0.1.23:8080 returned 500 'FAIL'
//     in 12 ms (status 500, want 2xx)");
//   - enough targets passed every check, with every expected task running → SUCCEEDED;
//   - otherwise green is not ready: IN_PROGRESS while Elapsed < Patience, then FAILED
//     ("green not ready after 5m0s: 2 of 3 tasks running; GET /health on …: connection refused").
func Decide(o Observation) Verdict {
	if o.Fatal != "" {
		return Verdict{Status: Failed, Reason: o.Fatal}
	}
	type tally struct {
		key    string
		kind   ProbeKind
		first  *Probe // first failing (or unready) probe
		checks int
	}
	var order []*tally
	byKey := map[string]*tally{}
	for i := range o.Probes {
		p := &o.Probes[i]
		k := p.Evidence.Task + "|" + p.Evidence.Address
		t := byKey[k]
		if t == nil {
			t = &tally{key: k, kind: ProbePassed}
			byKey[k] = t
			order = append(order, t)
		}
		t.checks++
		if rank(p.Kind) > rank(t.kind) {
			t.kind, t.first = p.Kind, p
		} else if t.first == nil && p.Kind != ProbePassed {
			t.first = p
		}
	}
	targets := max(o.Targets, len(order))
	n := max(o.Expected, targets)
	required := (n*percent(o.MinHealthyPercent) + 99) / 100
	if n > 0 && required == 0 {
		required = 1
	}
	var passed, failed int
	var firstFail, firstUnready *Probe
	for _, t := range order {
		switch t.kind {
		case ProbePassed:
			passed++
		case ProbeFailed:
			failed++
			if firstFail == nil {
				firstFail = t.first
			}
		default:
			if firstUnready == nil {
				firstUnready = t.first
			}
		}
	}
	what := "tasks"
	if o.Expected == 0 {
		what = "targets"
	}

	if failed > 0 && failed > n-required {
		lines := []string{firstFail.Evidence.Summary()}
		lines = append(lines, fmt.Sprintf("%d of %d green %s failed at %s; %s", failed, n, what, o.Stage, need(required, n, o.MinHealthyPercent)))
		lines = append(lines, otherFailures(o.Probes, firstFail, 4)...)
		return Verdict{Status: Failed, Reason: strings.Join(lines, "\n"), Check: &firstFail.Evidence}
	}
	if o.NotReady == "" && n > 0 && o.Running >= o.Expected && passed >= required {
		r := fmt.Sprintf("%d of %d green %s passed %s at %s", passed, n, what, plural(order[0].checks, "check"), o.Stage)
		if failed+len(order)-passed > 0 {
			r += fmt.Sprintf(" (%s)", need(required, n, o.MinHealthyPercent))
		}
		return Verdict{Status: Succeeded, Reason: r}
	}

	// Not ready.
	var why []string
	if o.NotReady != "" {
		why = append(why, o.NotReady)
	}
	if o.Expected > 0 && o.Running < o.Expected {
		why = append(why, fmt.Sprintf("%d of %d tasks running", o.Running, o.Expected))
	}
	if firstUnready != nil {
		why = append(why, firstUnready.Evidence.Summary())
	}
	if len(why) == 0 {
		why = append(why, "no green "+what+" to check")
	}
	if o.Elapsed >= o.Patience {
		lines := []string{fmt.Sprintf("green not ready after %s: %s", o.Elapsed.Round(time.Second), strings.Join(why, "; "))}
		if firstFail != nil {
			lines = append(lines, firstFail.Evidence.Summary())
		}
		return Verdict{Status: Failed, Reason: strings.Join(lines, "\n")}
	}
	r := fmt.Sprintf("green not ready yet (%s of %s patience): %s", o.Elapsed.Round(time.Second), o.Patience.Round(time.Second), strings.Join(why, "; "))
	if firstFail != nil {
		r += "\n" + firstFail.Evidence.Summary()
	}
	return Verdict{Status: InProgress, Reason: r}
}

// rank orders probe kinds by how much they say about a target: one wrong answer outweighs
// any number of unready ones.
func rank(k ProbeKind) int {
	switch k {
	case ProbeFailed:
		return 3
	case ProbeNotReady:
		return 2
	case ProbeIncomplete:
		return 1
	}
	return 0
}

func percent(p int) int {
	if p <= 0 || p > 100 {
		return 100
	}
	return p
}

func need(required, n, pct int) string {
	return fmt.Sprintf("%d of %d must pass (minHealthyPercent %d)", required, n, percent(pct))
}

// otherFailures lists up to limit further wrong answers, one line each.
func otherFailures(probes []Probe, first *Probe, limit int) []string {
	var out []string
	more := 0
	for i := range probes {
		p := &probes[i]
		if p.Kind != ProbeFailed || p == first {
			continue
		}
		if len(out) < limit {
			out = append(out, p.Evidence.Summary())
		} else {
			more++
		}
	}
	if more > 0 {
		out = append(out, fmt.Sprintf("… and %d more", more))
	}
	return out
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return fmt.Sprintf("%d %ss", n, word)
}
