package smoketest_test

import (
	"fmt"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/smoketest"
)

// Decide is the whole verdict: one green task of three answered 500, so the hook fails and
// says why in its first line.
func ExampleDecide() {
	probe := func(task, addr string, status int, body string, ok bool) smoketest.Probe {
		p := smoketest.Probe{Kind: smoketest.ProbePassed, Evidence: result.CheckEvidence{
			Stage: "POST_SCALE_UP", Task: task, Address: addr, Check: "health", Method: "GET", Path: "/health",
			Passed: ok, Status: status, LatencyMs: 12, BodyExcerpt: body,
		}}
		if !ok {
			p.Kind, p.Evidence.Failure = smoketest.ProbeFailed, "status 500, want 200"
		}
		return p
	}
	v := smoketest.Decide(smoketest.Observation{
		Stage: "POST_SCALE_UP", Expected: 3, Running: 3, Targets: 3, Patience: 5 * time.Minute,
		Probes: []smoketest.Probe{
			probe("a1", "10.0.1.21:8080", 200, "OK", true),
			probe("b2", "10.0.1.23:8080", 500, "FAIL", false),
			probe("c3", "10.0.1.25:8080", 200, "OK", true),
		},
	})
	fmt.Println(v.Status)
	fmt.Println(v.Reason)
	// Output:
	// FAILED
	// GET /health on 10.0.1.23:8080 returned 500 'FAIL' in 12 ms (status 500, want 200)
	// 1 of 3 green tasks failed at POST_SCALE_UP; 3 of 3 must pass (minHealthyPercent 100)
}
