package smoketest

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// useFleet makes f the service's green tasks, listening on the load balancer's container port.
func (hs *harness) useFleet(f *fleet, blue ...string) {
	hs.ecs.revision.LoadBalancers[0].ContainerPort = aws.Int32(int32(f.port))
	hs.ecs.setTasks(f.ips, blue...)
	hs.ecs.deploy.TargetServiceRevision.RequestedTaskCount = int32(len(f.ips))
}

func wantStatus(t *testing.T, resp HookResponse, want HookStatus) {
	t.Helper()
	if resp.HookStatus != want {
		t.Fatalf("hookStatus = %s (reason %q); want %s", resp.HookStatus, resp.Reason, want)
	}
}

func wantReason(t *testing.T, resp HookResponse, pattern string) {
	t.Helper()
	if !regexp.MustCompile(pattern).MatchString(resp.Reason) {
		t.Fatalf("reason = %q; want it to match %s", resp.Reason, pattern)
	}
}

// The six scenarios of the issue, each with httptest servers as green tasks.

func TestHealthyGreenSucceeds(t *testing.T) {
	f := newFleet(t, 3)
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f, "127.77.250.9") // a blue task: never probed

	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Succeeded)
	wantReason(t, resp, `^3 of 3 green tasks passed 1 check at POST_SCALE_UP$`)
	if resp.CallBackDelay != 0 || resp.HookDetails != nil {
		t.Errorf("SUCCEEDED carries callBackDelay %d / hookDetails %+v; want neither", resp.CallBackDelay, resp.HookDetails)
	}
	for i, a := range f.apps {
		if a.hits() != 1 {
			t.Errorf("task %d got %d requests; want 1", i, a.hits())
		}
		r := a.requests[0]
		if r.Method != "GET" || r.URL.Path != "/health" || r.Host != f.addr(i) || r.Header.Get("User-Agent") != userAgent {
			t.Errorf("task %d got %s %s Host %s UA %q", i, r.Method, r.URL.Path, r.Host, r.Header.Get("User-Agent"))
		}
	}
	ev := hs.evidence.get(sdARN, StagePostScaleUp)
	if len(ev) != 3 {
		t.Fatalf("stored %d evidence entries; want 3", len(ev))
	}
	for i, e := range ev {
		if !e.Passed || e.Status != 200 || e.BodyExcerpt != "OK" || e.Address != f.addr(i) || e.Task != fmt.Sprintf("g%02d", i) || e.Stage != StagePostScaleUp || e.Check != "health" {
			t.Errorf("evidence[%d] = %+v", i, e)
		}
	}
	logs := hs.logs.verdicts(t)
	if len(logs) != 1 || logs[0]["outcome"] != "SUCCEEDED" || logs[0]["service_deployment_arn"] != sdARN || logs[0]["stage"] != StagePostScaleUp || logs[0]["evidence_stored"] != true || logs[0]["first_deployment"] != false {
		t.Errorf("verdict log = %v", logs)
	}
}

func TestHealth500Fails(t *testing.T) {
	f := newFleet(t, 3)
	for _, a := range f.apps {
		a.set(500, "FAIL", 0)
	}
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f)

	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	first := strings.SplitN(resp.Reason, "\n", 2)[0]
	want := regexp.MustCompile(`^GET /health on ` + regexp.QuoteMeta(f.addr(0)) + ` returned 500 'FAIL' in \d+ ms \(status 500, want 200; body does not contain "OK"\)$`)
	if !want.MatchString(first) {
		t.Fatalf("reason's first line = %q; want %s", first, want)
	}
	wantReason(t, resp, `\n3 of 3 green tasks failed at POST_SCALE_UP; 3 of 3 must pass`)
	ev := hs.evidence.get(sdARN, StagePostScaleUp)
	if len(ev) != 3 || ev[0].Passed || ev[0].Status != 500 || ev[0].BodyExcerpt != "FAIL" || ev[0].Summary() != first {
		t.Fatalf("evidence = %+v; want 3 failed entries, the first summarised as the reason", ev)
	}
}

func TestSlowerThanMaxLatencyFails(t *testing.T) {
	f := newFleet(t, 1)
	f.apps[0].set(200, "OK", 450*time.Millisecond)
	hs := newHarness(t, routeDoc(t, healthCheck)) // maxLatencyMs 300
	hs.useFleet(f)

	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^GET /health on `+regexp.QuoteMeta(f.addr(0))+` returned 200 'OK' in (4[5-9]\d|[5-9]\d\d|\d{4}) ms \(took \d+ ms, max 300 ms\)\n`)
}

func TestConnectionRefusedThenHealthy(t *testing.T) {
	f := newFleet(t, 2, 1) // task 1 has its IP but nothing listens yet
	hs := newHarness(t, routeDoc(t, "callBackDelaySeconds: 7\npatienceSeconds: 120\n"+healthCheck))
	hs.useFleet(f)

	static := `{"checks": [{"name": "ready", "path": "/ready"}]}`
	resp := hs.invoke(t, event(StagePostScaleUp, static))
	wantStatus(t, resp, InProgress)
	wantReason(t, resp, `^green not ready yet \(0s of 2m0s patience\): GET /(health|ready) on `+regexp.QuoteMeta(f.addr(1))+`: connection refused$`)
	if resp.CallBackDelay != 7 {
		t.Errorf("callBackDelay = %d; want 7 (the route's callBackDelaySeconds)", resp.CallBackDelay)
	}
	st := resp.HookDetails.Greenlight
	if st == nil || st.Stage != StagePostScaleUp || st.Attempt != 1 || time.Since(st.FirstAttemptAt) > time.Minute {
		t.Fatalf("hookDetails.greenlight = %+v; want attempt 1 at POST_SCALE_UP, started now", st)
	}
	if c := resp.HookDetails.Checks; len(c) != 1 || c[0].Name != "ready" {
		t.Errorf("IN_PROGRESS hookDetails.checks = %+v; want the operator's check echoed", c)
	}
	if ev := hs.evidence.get(sdARN, StagePostScaleUp); len(ev) != 4 {
		t.Errorf("IN_PROGRESS stored %d evidence entries; want the 4 probes", len(ev))
	}

	// The task comes up; ECS calls again with its static hookDetails merged with ours.
	f.start(t, 1)
	next := merge(t, static, resp)
	resp2 := hs.invoke(t, event(StagePostScaleUp, next))
	wantStatus(t, resp2, Succeeded)
	wantReason(t, resp2, `^2 of 2 green tasks passed 2 checks at POST_SCALE_UP$`)
	logs := hs.logs.verdicts(t)
	if len(logs) != 2 || logs[1]["attempt"] != float64(2) {
		t.Fatalf("verdict logs = %v; want the second call logged as attempt 2", logs)
	}
	if f.apps[1].hits() != 2 {
		t.Errorf("task 1 got %d requests; want its 2 checks", f.apps[1].hits())
	}

	// Had ECS replaced hookDetails with ours instead of merging, the checks would still be there.
	replaced, _ := json.Marshal(resp.HookDetails)
	resp3 := hs.invoke(t, event(StagePostScaleUp, string(replaced)))
	wantStatus(t, resp3, Succeeded)
	wantReason(t, resp3, `passed 2 checks`)
}

func TestWrongBodyFails(t *testing.T) {
	f := newFleet(t, 2)
	for _, a := range f.apps {
		a.set(200, `{"status":"degraded","build":{"number":7}}`, 0)
	}
	hs := newHarness(t, routeDoc(t, `checks:
  - {name: version, path: /version, jsonEquals: {status: ok, build.number: 7}}`))
	hs.useFleet(f)

	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^GET /version on `+regexp.QuoteMeta(f.addr(0))+` returned 200 '\{"status":"degraded",.*' in \d+ ms \(status is "degraded", want "ok"\)\n`)
}

func TestOneOfThreeTasksBad(t *testing.T) {
	f := newFleet(t, 3)
	f.apps[1].set(503, "draining", 0)
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f)

	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^GET /health on `+regexp.QuoteMeta(f.addr(1))+` returned 503 'draining' in \d+ ms \(status 503, want 200; body does not contain "OK"\)\n1 of 3 green tasks failed at POST_SCALE_UP; 3 of 3 must pass \(minHealthyPercent 100\)$`)

	// With minHealthyPercent 60, two good tasks of three are enough.
	hs.routes.doc = routeDoc(t, "minHealthyPercent: 60\n"+healthCheck)
	resp = hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Succeeded)
	wantReason(t, resp, `^2 of 3 green tasks passed 1 check at POST_SCALE_UP \(2 of 3 must pass \(minHealthyPercent 60\)\)$`)
}

// Payload cases: first deployment, rollback re-invocation, stages that are not checked.

func TestFirstDeploymentStillChecks(t *testing.T) {
	f := newFleet(t, 2)
	f.apps[0].set(500, "boom", 0)
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f)
	hs.ecs.deploy.SourceServiceRevisions = nil // no blue

	ev := loadSample(t, "first-deployment.json")
	hs.ecs.deploy.ServiceDeploymentArn = aws.String(ev.ResourceArn)
	hs.ecs.revision.ServiceRevisionArn = aws.String(ev.ExecutionDetails.TargetServiceRevisionArn)
	hs.ecs.deploy.TargetServiceRevision.Arn = aws.String(ev.ExecutionDetails.TargetServiceRevisionArn)

	resp := hs.invoke(t, ev)
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^GET /health on `+regexp.QuoteMeta(f.addr(0))+` returned 500 'boom'`)
	logs := hs.logs.verdicts(t)
	if len(logs) != 1 || logs[0]["first_deployment"] != true {
		t.Fatalf("verdict log = %v; want first_deployment true", logs)
	}
	f.apps[0].set(200, "OK", 0)
	wantStatus(t, hs.invoke(t, ev), Succeeded)
}

func TestRollbackReinvocationSucceedsAtOnce(t *testing.T) {
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.routes.err = fmt.Errorf("must not be read")
	resp := hs.invoke(t, loadSample(t, "rollback-production-traffic-shift.json"))
	wantStatus(t, resp, Succeeded)
	wantReason(t, resp, `^rollback in progress: production traffic goes back to .*/1920498462936580504; nothing to check$`)
	if c := hs.ecs.Calls(); len(c) != 0 {
		t.Errorf("ECS calls during a rollback re-invocation: %v", c)
	}
	if len(hs.evidence.items) != 0 {
		t.Errorf("evidence written for a rollback: %v", hs.evidence.items)
	}
	// Even a hook that could not start lets a rollback through.
	broken := Misconfigured(fmt.Errorf("ROUTES_PARAMETER is not set"), slog.New(slog.DiscardHandler))
	raw, _ := json.Marshal(loadSample(t, "rollback-production-traffic-shift.json"))
	if r, err := broken.Handle(t.Context(), raw); err != nil || r.HookStatus != Succeeded {
		t.Fatalf("misconfigured hook on rollback = %+v, %v; want SUCCEEDED", r, err)
	}
}

func TestStagesThatAreNotChecked(t *testing.T) {
	hs := newHarness(t, routeDoc(t, "stages: [POST_TEST_TRAFFIC_SHIFT]\ntestListenerUrl: http://127.0.0.1:1\n"+healthCheck))
	for _, tc := range []struct{ stage, reason string }{
		{"PRE_SCALE_UP", `^greenlight does not check at "PRE_SCALE_UP": nothing to do$`},
		{"RECONCILE_SERVICE", `does not check`},
		{"TEST_TRAFFIC_SHIFT", `does not check`},
		{"PRODUCTION_TRAFFIC_SHIFT", `does not check`},
		{"SOMETHING_NEW", `does not check`},
		{StagePostScaleUp, `^POST_SCALE_UP is not in the route's smokeTests.stages \(POST_TEST_TRAFFIC_SHIFT\): nothing to check$`},
	} {
		resp := hs.invoke(t, event(tc.stage, ""))
		if resp.HookStatus != Succeeded || !regexp.MustCompile(tc.reason).MatchString(resp.Reason) {
			t.Errorf("stage %s: %s %q; want SUCCEEDED matching %s", tc.stage, resp.HookStatus, resp.Reason, tc.reason)
		}
	}
	if c := hs.ecs.Calls(); len(c) != 0 {
		t.Errorf("ECS calls for unchecked stages: %v", c)
	}
}

// Readiness and patience.

func TestFewerTasksThanRequestedWaitsThenFails(t *testing.T) {
	f := newFleet(t, 2)
	hs := newHarness(t, routeDoc(t, "patienceSeconds: 300\n"+healthCheck))
	hs.useFleet(f)
	hs.ecs.deploy.TargetServiceRevision.RequestedTaskCount = 3

	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, InProgress)
	wantReason(t, resp, `^green not ready yet \(0s of 5m0s patience\): 2 of 3 tasks running$`)
	if resp.CallBackDelay != 15 {
		t.Errorf("callBackDelay = %d; want the default 15", resp.CallBackDelay)
	}

	// Five minutes later, still two.
	started := time.Now().Add(-5*time.Minute - 2*time.Second).UTC().Format(time.RFC3339Nano)
	resp = hs.invoke(t, event(StagePostScaleUp, `{"greenlight": {"stage": "POST_SCALE_UP", "attempt": 20, "firstAttemptAt": "`+started+`"}}`))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^green not ready after 5m[0-9]s: 2 of 3 tasks running$`)
	ev := hs.evidence.get(sdARN, StagePostScaleUp)
	if len(ev) != 3 || ev[0].Check != HookCheckName || ev[0].Passed || !strings.HasPrefix(ev[0].Summary(), "HOOK POST_SCALE_UP on prod/web: green not ready after 5m") {
		t.Fatalf("evidence = %+v; want the hook's own entry first, then the 2 probes", ev)
	}
}

func TestPatienceExhaustedNamesTheRefusal(t *testing.T) {
	f := newFleet(t, 3, 0)
	hs := newHarness(t, routeDoc(t, "patienceSeconds: 60\n"+healthCheck))
	hs.useFleet(f)
	started := time.Now().Add(-61 * time.Second).UTC().Format(time.RFC3339Nano)
	resp := hs.invoke(t, event(StagePostScaleUp, `{"greenlight": {"stage": "POST_SCALE_UP", "attempt": 4, "firstAttemptAt": "`+started+`"}}`))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^green not ready after 1m[0-9]s: GET /health on `+regexp.QuoteMeta(f.addr(0))+`: connection refused$`)
}

func TestStateFromAnotherStageIsIgnored(t *testing.T) {
	f := newFleet(t, 1, 0)
	hs := newHarness(t, routeDoc(t, "patienceSeconds: 60\n"+healthCheck))
	hs.useFleet(f)
	old := time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano)
	resp := hs.invoke(t, event(StagePostScaleUp, `{"greenlight": {"stage": "POST_TEST_TRAFFIC_SHIFT", "attempt": 9, "firstAttemptAt": "`+old+`"}}`))
	wantStatus(t, resp, InProgress)
	if resp.HookDetails.Greenlight.Attempt != 1 {
		t.Fatalf("state = %+v; want a fresh attempt 1", resp.HookDetails.Greenlight)
	}
}

func TestTimeScaleCompressesWaits(t *testing.T) {
	f := newFleet(t, 1, 0)
	hs := newHarness(t, routeDoc(t, "patienceSeconds: 100\ncallBackDelaySeconds: 30\n"+healthCheck))
	hs.useFleet(f)
	hs.h.scale = 0.01
	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, InProgress)
	if resp.CallBackDelay != 1 {
		t.Errorf("callBackDelay = %d; want 30 s × 0.01 with the 1 s floor", resp.CallBackDelay)
	}
	wantReason(t, resp, `of 1s patience`)
}

func TestTooLittleTimeLeftWaits(t *testing.T) {
	f := newFleet(t, 1)
	hs := newHarness(t, routeDoc(t, "attempts: 3\nintervalSeconds: 5\n"+healthCheck)) // 3 × 2 s + 2 × 5 s = 16 s
	hs.useFleet(f)
	raw, _ := json.Marshal(event(StagePostScaleUp, ""))
	ctx, cancel := contextWithTimeout(t, 10*time.Second)
	defer cancel()
	resp, err := hs.h.Handle(ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, resp, InProgress)
	wantReason(t, resp, `the function has [0-9.]+s left, too little for a round of checks \(up to 16s\): raise the function's timeout`)
	if f.apps[0].hits() != 0 {
		t.Error("probed although the round could not fit")
	}
}

// Checks: attempts, hookDetails overrides, ports.

func TestAttemptsRetryWithinOneCall(t *testing.T) {
	f := newFleet(t, 1)
	f.apps[0].set(500, "warming", 0)
	hs := newHarness(t, routeDoc(t, "attempts: 3\nintervalSeconds: 1\n"+healthCheck))
	hs.useFleet(f)
	hs.h.scale = 0.05 // 1 s between attempts → 50 ms
	go func() {
		time.Sleep(30 * time.Millisecond)
		f.apps[0].set(200, "OK", 0)
	}()
	wantStatus(t, hs.invoke(t, event(StagePostScaleUp, "")), Succeeded)
	if h := f.apps[0].hits(); h != 2 {
		t.Errorf("task got %d requests; want 2 (the first failed, the retry passed)", h)
	}

	f.apps[0].set(500, "still warming", 0)
	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `\(status 500, want 200; body does not contain "OK" \(after 3 attempts\)\)`)
}

func TestHookDetailsOverrideChecksAndPort(t *testing.T) {
	f := newFleet(t, 2)
	for _, a := range f.apps {
		a.set(201, "created", 0)
	}
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f)
	hs.ecs.revision.LoadBalancers[0].ContainerPort = aws.Int32(1) // wrong on purpose: hookDetails.port wins
	hd := fmt.Sprintf(`{"port": %d, "checks": [
		{"name": "health", "method": "POST", "path": "/health?deep=1", "headers": {"X-Smoke": "yes"}, "body": "{\"ping\":1}", "expectStatus": "2xx", "bodyContains": "created"}]}`, f.port)
	resp := hs.invoke(t, event(StagePostScaleUp, hd))
	wantStatus(t, resp, Succeeded)
	r := f.apps[0].requests[0]
	if r.Method != "POST" || r.URL.RawQuery != "deep=1" || r.Header.Get("X-Smoke") != "yes" {
		t.Errorf("request = %s %s headers %v; want the hookDetails check", r.Method, r.URL, r.Header)
	}
	if len(f.apps[0].requests) != 1 {
		t.Errorf("%d requests; want the replaced check only", len(f.apps[0].requests))
	}

	// The route's port beats hookDetails.port.
	hs.routes.doc = routeDoc(t, fmt.Sprintf("port: %d\n%s", f.port, healthCheck))
	for _, a := range f.apps {
		a.set(200, "OK", 0)
	}
	wantStatus(t, hs.invoke(t, event(StagePostScaleUp, `{"port": 1}`)), Succeeded)
}

func TestPortFromTaskDefinition(t *testing.T) {
	f := newFleet(t, 1)
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f)
	hs.ecs.revision.LoadBalancers[0].ContainerName = aws.String("sidecar")
	hs.ecs.taskDef = &ecstypes.TaskDefinition{ContainerDefinitions: []ecstypes.ContainerDefinition{
		{Name: aws.String("sidecar"), PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(9901)}}},
		{Name: aws.String("app"), PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(int32(f.port))}}},
	}}
	wantStatus(t, hs.invoke(t, event(StagePostScaleUp, "")), Succeeded)
}

// Configuration that cannot work fails closed, naming the fix.

func TestNoChecksConfiguredFails(t *testing.T) {
	hs := newHarness(t, routeDoc(t, ""))
	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^no smoke checks configured for prod/web: route "web-prod" \(in /greenlight/routes\) has no smokeTests.checks\. Add smokeTests.checks`)
	ev := hs.evidence.get(sdARN, StagePostScaleUp)
	if len(ev) != 1 || ev[0].Check != HookCheckName || !strings.Contains(ev[0].Summary(), "no smoke checks configured") {
		t.Fatalf("evidence = %+v; want the hook's own entry", ev)
	}

	other := routeDoc(t, healthCheck)
	other.Routes[0].Targets[0].Service = "api"
	hs.routes.doc = other
	wantReason(t, hs.invoke(t, event(StagePostScaleUp, "")), `no route in /greenlight/routes targets prod/web`)
}

func TestBadHookDetailsFail(t *testing.T) {
	hs := newHarness(t, routeDoc(t, healthCheck))
	for _, tc := range []struct{ hd, reason string }{
		{`{"path": "/healthz"}`, `hookDetails.path: unknown field; greenlight reads checks, port, testListenerUrl`},
		{`{"checks": [{"name": "x", "path": "http://evil.example/"}]}`, `hookDetails.checks\[0\].path: "http://evil.example/" must be a path starting with "/"`},
		{`{"checks": [{"name": "x", "path": "/", "headers": {"Host": "evil.example"}}]}`, `setting Host is not allowed`},
		{`{"checks": [{"name": "x", "path": "/", "expectStatus": "teapot"}]}`, `is not a status`},
		{`{"port": 70000}`, `hookDetails.port: 70000 is not a port`},
		{`{"testListenerUrl": "ftp://x"}`, `hookDetails.testListenerUrl: "ftp://x" is not an http\(s\) base URL`},
		{`[1,2]`, `hookDetails is not a JSON object`},
	} {
		resp := hs.invoke(t, event(StagePostScaleUp, tc.hd))
		if resp.HookStatus != Failed || !regexp.MustCompile(tc.reason).MatchString(resp.Reason) {
			t.Errorf("hookDetails %s: %s %q; want FAILED matching %s", tc.hd, resp.HookStatus, resp.Reason, tc.reason)
		}
	}
}

func TestRoutesUnreadable(t *testing.T) {
	hs := newHarness(t, nil)
	hs.routes.err = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded"}
	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, InProgress)
	wantReason(t, resp, `cannot read the routes: .*Rate exceeded`)
}

func TestEventThatMakesNoSenseFails(t *testing.T) {
	hs := newHarness(t, routeDoc(t, healthCheck))
	ev := event(StagePostScaleUp, "")
	ev.ExecutionDetails.ServiceArn = "arn:aws:ecs:eu-west-1:" + acct + ":service/prod/payments"
	resp := hs.invoke(t, ev)
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^the hook event is inconsistent: executionDetails.serviceArn .*/payments" is not the service of resourceArn`)

	r, err := hs.h.Handle(t.Context(), json.RawMessage(`{"lifecycleStage": 7}`))
	if err != nil || r.HookStatus != Failed || !strings.HasPrefix(r.Reason, "cannot read the hook event") {
		t.Fatalf("garbage event = %+v, %v; want FAILED, no error", r, err)
	}
	if c := hs.ecs.Calls(); len(c) != 0 {
		t.Errorf("ECS calls for a bad event: %v", c)
	}
}

// AWS errors: permanent ones fail at once, transient ones wait within patience.

func TestAWSErrors(t *testing.T) {
	f := newFleet(t, 1)
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f)
	hs.ecs.errs["DescribeTasks"] = &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized to perform: ecs:DescribeTasks", Fault: smithy.FaultClient}
	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^describe tasks of prod/web: .*not authorized to perform: ecs:DescribeTasks.*\(grant the smoke-test function's role this action\)$`)

	hs.ecs.errs["DescribeTasks"] = &smithy.GenericAPIError{Code: "ThrottlingException", Message: "Rate exceeded", Fault: smithy.FaultClient}
	resp = hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, InProgress)
	wantReason(t, resp, `green not ready yet .*describe tasks of prod/web: .*Rate exceeded`)

	hs.ecs.errs = map[string]error{}
	hs.ecs.deploy.TargetServiceRevision.Arn = aws.String(blueRevARN)
	resp = hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `service deployment .* targets .*/1920498462936580504, not .*/9313423515462893900`)
}

func TestEvidenceWriteFailureKeepsTheVerdict(t *testing.T) {
	f := newFleet(t, 1)
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f)
	hs.evidence.err = fmt.Errorf("ProvisionedThroughputExceeded")
	wantStatus(t, hs.invoke(t, event(StagePostScaleUp, "")), Succeeded)
	if !strings.Contains(hs.logs.String(), `"msg":"cannot store smoke evidence"`) {
		t.Errorf("the evidence failure was not logged: %s", hs.logs.String())
	}
	if l := hs.logs.verdicts(t); l[0]["evidence_stored"] != false {
		t.Errorf("verdict log = %v; want evidence_stored false", l[0])
	}
}

func TestTasksWithoutAddressesAndPaging(t *testing.T) {
	f := newFleet(t, 3)
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f)
	hs.ecs.pageLimit = 2
	// One green task still PENDING, one STOPPED, one without an address: none is probed.
	hs.ecs.tasks = append(hs.ecs.tasks,
		task("p1", greenTD, "PENDING", "127.77.251.1"),
		task("s1", greenTD, "STOPPED", "127.77.251.2"),
	)
	wantStatus(t, hs.invoke(t, event(StagePostScaleUp, "")), Succeeded)
	if got := strings.Count(strings.Join(hs.ecs.Calls(), ","), "ListTasks"); got != 3 {
		t.Errorf("ListTasks called %d times; want 3 pages", got)
	}

	hs.ecs.tasks = append(hs.ecs.tasks[:2], task("n1", greenTD, "RUNNING", ""))
	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, InProgress)
	wantReason(t, resp, `1 running green tasks have no private IPv4 address yet .*; 2 of 3 tasks running`)
}

// Safety: only the tasks' own addresses, capped reads, no redirects to other hosts.

func TestRedirectToAnotherHostIsNotFollowed(t *testing.T) {
	f := newFleet(t, 1)
	elsewhere := newFleet(t, 1)
	f.apps[0].set(302, "", 0)
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f)
	redirect := &redirector{to: "http://" + elsewhere.addr(0) + "/health"}
	f.servers[0].Config.Handler = redirect
	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `returned 302 '.*' in \d+ ms \(status 302, want 200; redirect to http://`+regexp.QuoteMeta(elsewhere.addr(0))+`/health not followed \(another host\)`)
	if elsewhere.apps[0].hits() != 0 {
		t.Fatal("the probe followed a redirect to another host")
	}

	// A redirect on the same host is followed.
	redirect.to = "/health-v2"
	redirect.next = f.apps[0]
	f.apps[0].set(200, "OK", 0)
	wantStatus(t, hs.invoke(t, event(StagePostScaleUp, "")), Succeeded)
}

type redirector struct {
	to   string
	next *app
}

func (r *redirector) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.URL.Path == "/health" {
		http.Redirect(w, req, r.to, http.StatusFound)
		return
	}
	if r.next != nil {
		r.next.ServeHTTP(w, req)
		return
	}
	w.WriteHeader(404)
}

func TestLargeBodyIsCapped(t *testing.T) {
	f := newFleet(t, 1)
	big := strings.Repeat("é", 600_000) + "OK" // 1.2 MB, "OK" far beyond the cap
	f.apps[0].set(200, big, 0)
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.useFleet(f)
	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `body does not contain "OK" in its first 64 KiB`)
	ev := hs.evidence.get(sdARN, StagePostScaleUp)[0]
	if len(ev.BodyExcerpt) > 512 || !utf8.ValidString(ev.BodyExcerpt) || len(ev.BodyExcerpt) < 510 {
		t.Fatalf("excerpt is %d bytes, valid UTF-8 %v; want ≤ 512 valid bytes", len(ev.BodyExcerpt), utf8.ValidString(ev.BodyExcerpt))
	}
}

func TestResponseTimeoutIsAFailureNotReadiness(t *testing.T) {
	f := newFleet(t, 1)
	f.apps[0].set(200, "OK", 3*time.Second)
	hs := newHarness(t, routeDoc(t, `checks: [{name: health, path: /health, timeoutMs: 200}]`))
	hs.useFleet(f)
	resp := hs.invoke(t, event(StagePostScaleUp, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^GET /health on `+regexp.QuoteMeta(f.addr(0))+`: no response within 200 ms\n`)
}

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}

// loadSample reads events/smoketest/<name>.
func loadSample(t *testing.T, name string) HookEvent {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "smoketest", name))
	if err != nil {
		t.Fatal(err)
	}
	var ev HookEvent
	if err := json.Unmarshal(b, &ev); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return ev
}
