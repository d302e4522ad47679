package smoketest

import (
	"strings"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// probe builds a probe of check name against task at addr.
func probe(task, addr, check string, kind ProbeKind, status int, body, failure string) Probe {
	return Probe{Kind: kind, Evidence: result.CheckEvidence{
		Stage: StagePostScaleUp, Task: task, Address: addr, Check: check, Method: "GET", Path: "/" + check,
		Passed: kind == ProbePassed, Status: status, LatencyMs: 12, BodyExcerpt: body, Failure: failure,
	}}
}

func pass(task, addr, check string) Probe {
	return probe(task, addr, check, ProbePassed, 200, "OK", "")
}

func fail500(task, addr, check string) Probe {
	return probe(task, addr, check, ProbeFailed, 500, "FAIL", "status 500, want 2xx")
}

func refused(task, addr, check string) Probe {
	return probe(task, addr, check, ProbeNotReady, 0, "", "connection refused")
}

func TestDecide(t *testing.T) {
	const a, b, c = "10.0.1.23:8080", "10.0.1.24:8080", "10.0.1.25:8080"
	base := Observation{Stage: StagePostScaleUp, Expected: 3, Running: 3, Targets: 3, Patience: 5 * time.Minute}
	with := func(f func(*Observation)) Observation {
		o := base
		f(&o)
		return o
	}
	tests := []struct {
		name   string
		obs    Observation
		status HookStatus
		reason string // prefix of the reason
	}{
		{"all pass", with(func(o *Observation) {
			o.Probes = []Probe{pass("t1", a, "health"), pass("t1", a, "version"), pass("t2", b, "health"), pass("t2", b, "version"), pass("t3", c, "health"), pass("t3", c, "version")}
		}), Succeeded, "3 of 3 green tasks passed 2 checks at POST_SCALE_UP"},
		{"one task answers 500", with(func(o *Observation) {
			o.Probes = []Probe{pass("t1", a, "health"), fail500("t2", b, "health"), pass("t3", c, "health")}
		}), Failed, "GET /health on 10.0.1.24:8080 returned 500 'FAIL' in 12 ms (status 500, want 2xx)\n1 of 3 green tasks failed at POST_SCALE_UP; 3 of 3 must pass (minHealthyPercent 100)"},
		{"a wrong answer outweighs an unready task", with(func(o *Observation) {
			o.Probes = []Probe{refused("t1", a, "health"), fail500("t2", b, "health"), pass("t3", c, "health")}
		}), Failed, "GET /health on 10.0.1.24:8080 returned 500"},
		{"min healthy 60 tolerates one bad of three", with(func(o *Observation) {
			o.MinHealthyPercent = 60
			o.Probes = []Probe{pass("t1", a, "health"), fail500("t2", b, "health"), pass("t3", c, "health")}
		}), Succeeded, "2 of 3 green tasks passed 1 check at POST_SCALE_UP (2 of 3 must pass (minHealthyPercent 60))"},
		{"min healthy 60, two bad of three", with(func(o *Observation) {
			o.MinHealthyPercent = 60
			o.Probes = []Probe{fail500("t1", a, "health"), fail500("t2", b, "health"), pass("t3", c, "health")}
		}), Failed, "GET /health on 10.0.1.23:8080 returned 500"},
		{"min healthy 60, one bad and one unready: wait for it", with(func(o *Observation) {
			o.MinHealthyPercent = 60
			o.Probes = []Probe{fail500("t1", a, "health"), refused("t2", b, "health"), pass("t3", c, "health")}
		}), InProgress, "green not ready yet (0s of 5m0s patience): GET /health on 10.0.1.24:8080: connection refused\nGET /health on 10.0.1.23:8080 returned 500"},
		{"connection refused within patience", with(func(o *Observation) {
			o.Elapsed = time.Minute
			o.Probes = []Probe{pass("t1", a, "health"), refused("t2", b, "health"), pass("t3", c, "health")}
		}), InProgress, "green not ready yet (1m0s of 5m0s patience): GET /health on 10.0.1.24:8080: connection refused"},
		{"connection refused past patience", with(func(o *Observation) {
			o.Elapsed = 5 * time.Minute
			o.Running = 2
			o.Targets = 2
			o.Probes = []Probe{refused("t1", a, "health"), pass("t3", c, "health")}
		}), Failed, "green not ready after 5m0s: 2 of 3 tasks running; GET /health on 10.0.1.23:8080: connection refused"},
		{"fewer tasks than requested, all pass", with(func(o *Observation) {
			o.Running, o.Targets = 2, 2
			o.Probes = []Probe{pass("t1", a, "health"), pass("t2", b, "health")}
		}), InProgress, "green not ready yet (0s of 5m0s patience): 2 of 3 tasks running"},
		{"fewer tasks than requested, one fails: no need to wait", with(func(o *Observation) {
			o.Running, o.Targets = 2, 2
			o.Probes = []Probe{pass("t1", a, "health"), fail500("t2", b, "health")}
		}), Failed, "GET /health on 10.0.1.24:8080 returned 500"},
		{"no tasks yet", with(func(o *Observation) { o.Running, o.Targets = 0, 0 }), InProgress, "green not ready yet (0s of 5m0s patience): 0 of 3 tasks running"},
		{"no tasks expected, none found", Observation{Stage: StagePostScaleUp, Patience: time.Minute}, InProgress, "green not ready yet (0s of 1m0s patience): no green targets to check"},
		{"discovery trouble within patience", with(func(o *Observation) {
			o.Running, o.Targets = 0, 0
			o.Expected = 0
			o.NotReady = "describe tasks of prod/web: Rate exceeded"
		}), InProgress, "green not ready yet (0s of 5m0s patience): describe tasks of prod/web: Rate exceeded"},
		{"discovery trouble past patience", with(func(o *Observation) {
			o.Expected, o.Running, o.Targets = 0, 0, 0
			o.Elapsed = 6 * time.Minute
			o.NotReady = "describe tasks of prod/web: Rate exceeded"
		}), Failed, "green not ready after 6m0s: describe tasks of prod/web: Rate exceeded"},
		{"a NotReady note blocks success", with(func(o *Observation) {
			o.NotReady = "the function has 1s left"
			o.Probes = []Probe{pass("t1", a, "health"), pass("t2", b, "health"), pass("t3", c, "health")}
		}), InProgress, "green not ready yet (0s of 5m0s patience): the function has 1s left"},
		{"incomplete probes wait", with(func(o *Observation) {
			o.Probes = []Probe{pass("t1", a, "health"), pass("t2", b, "health"), probe("t3", c, "health", ProbeIncomplete, 0, "", "not finished: the hook ran out of time")}
		}), InProgress, "green not ready yet (0s of 5m0s patience): GET /health on 10.0.1.25:8080: not finished: the hook ran out of time"},
		{"fatal", with(func(o *Observation) { o.Fatal = "no smoke checks configured for prod/web" }), Failed, "no smoke checks configured for prod/web"},
		{"test listener passes", Observation{Stage: StagePostTestTrafficShift, Targets: 1, Patience: time.Minute,
			Probes: []Probe{pass("", "alb:8443", "health")}}, Succeeded, "1 of 1 green targets passed 1 check at POST_TEST_TRAFFIC_SHIFT"},
		{"test listener unreachable", Observation{Stage: StagePostTestTrafficShift, Targets: 1, Patience: time.Minute, Elapsed: time.Minute,
			Probes: []Probe{refused("", "alb:8443", "health")}}, Failed, "green not ready after 1m0s: GET /health on alb:8443: connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := Decide(tt.obs)
			if v.Status != tt.status || !strings.HasPrefix(v.Reason, tt.reason) {
				t.Errorf("Decide() = %s %q;\nwant %s %q…", v.Status, v.Reason, tt.status, tt.reason)
			}
			if (v.Check != nil) != (v.Status == Failed && strings.HasPrefix(v.Reason, "GET ")) {
				t.Errorf("Decide().Check = %v for reason %q; want it set exactly when a wrong answer is the reason", v.Check, v.Reason)
			}
		})
	}
}

func TestDecideListsOtherFailures(t *testing.T) {
	var probes []Probe
	for i := 0; i < 7; i++ {
		probes = append(probes, fail500("t", "10.0.0.1:80", string(rune('a'+i))))
	}
	v := Decide(Observation{Stage: StagePostScaleUp, Expected: 1, Running: 1, Targets: 1, Probes: probes, Patience: time.Minute})
	lines := strings.Split(v.Reason, "\n")
	if len(lines) != 2+4+1 || lines[len(lines)-1] != "… and 2 more" {
		t.Fatalf("reason = %q; want summary, tally, 4 more failures and a count of the rest", v.Reason)
	}
}
