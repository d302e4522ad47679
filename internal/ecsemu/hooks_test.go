package ecsemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs/document"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// golden loads testdata/hookpayloads/<name>.json with the placeholders filled in.
func golden(t *testing.T, name string, vars map[string]string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "hookpayloads", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for k, v := range vars {
		s = strings.ReplaceAll(s, "{{"+k+"}}", v)
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// topLevelKeys lists an object's keys in wire order.
func topLevelKeys(t *testing.T, b []byte) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, _ := dec.Token()
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		_ = dec.Decode(&skip)
	}
	return keys
}

func checkPayload(t *testing.T, inv HookInvocation, goldenName string, r DeploymentReport, svcArn string) {
	t.Helper()
	var got map[string]any
	if err := json.Unmarshal(inv.Payload, &got); err != nil {
		t.Fatalf("%s payload: %v", goldenName, err)
	}
	exec, _ := got["executionId"].(string)
	if !uuidRE.MatchString(exec) {
		t.Errorf("%s: executionId %q is not a UUID", goldenName, exec)
	}
	want := golden(t, goldenName, map[string]string{
		"executionId": exec, "serviceDeployment": r.ARN, "service": svcArn,
		"green": r.TargetRevisionARN, "blue": r.SourceRevisionARNs[0],
	})
	if !reflect.DeepEqual(any(got), want) {
		t.Errorf("%s payload:\n got %s\nwant %s", goldenName, inv.Payload, mustJSON(want))
	}
	if keys := topLevelKeys(t, inv.Payload); !reflect.DeepEqual(keys, []string{"executionId", "lifecycleStage", "resourceArn", "executionDetails", "hookDetails"}) {
		t.Errorf("%s: top-level keys %v, want the reference §2.1 order", goldenName, keys)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func svcArn(h *harness, name string) string {
	return "arn:aws:ecs:us-east-1:123456789012:service/prod/" + name
}

func staticDetails(h ecstypes.DeploymentLifecycleHook) ecstypes.DeploymentLifecycleHook {
	h.HookDetails = document.NewLazyDocument(map[string]any{"path": "/healthz"})
	return h
}

// TestHookPayloadsPerStage compares every hook invocation of a healthy deployment with the
// payload of reference §2.1 and its weight table (testdata/hookpayloads).
func TestHookPayloadsPerStage(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{hooks: []ecstypes.DeploymentLifecycleHook{staticDetails(lambdaHook(allHookStages...))}})
	r := h.wait(h.deploy(name, map[string]string{"VERSION": "green"}))
	if r.Status != StatusSuccessful {
		t.Fatalf("deployment %s: %s", r.Status, r.StatusReason)
	}
	var stages []string
	seen := map[string]bool{}
	for _, inv := range r.Hooks {
		stages = append(stages, inv.Stage)
		checkPayload(t, inv, inv.Stage, r, svcArn(h, name))
		var p hookEvent
		_ = json.Unmarshal(inv.Payload, &p)
		if seen[p.ExecutionID] {
			t.Errorf("executionId %s reused across stages", p.ExecutionID)
		}
		seen[p.ExecutionID] = true
	}
	want := []string{StagePreScaleUp, StagePostScaleUp, StageTestTrafficShift, StagePostTestTrafficShift,
		StagePreProductionTrafficShift, StageProductionTrafficShift, StagePostProductionTrafficShift}
	if !reflect.DeepEqual(stages, want) {
		t.Errorf("hooks invoked at %v, want %v", stages, want)
	}
	d := h.describe(r.ARN)
	if len(d.LifecycleHookDetails) != len(want) {
		t.Fatalf("lifecycleHookDetails: %d entries, want %d", len(d.LifecycleHookDetails), len(want))
	}
	for _, hd := range d.LifecycleHookDetails {
		if hd.Status != ecstypes.DeploymentLifecycleHookStatusSucceeded || aws.ToString(hd.TargetArn) != hookArn ||
			hd.TargetType != ecstypes.DeploymentLifecycleHookTargetTypeAwsLambda || hd.TimeoutAction != ecstypes.DeploymentLifecycleHookActionRollback ||
			!strings.HasPrefix(aws.ToString(hd.HookId), "ecs-hook-") || hd.ExpiresAt == nil {
			t.Errorf("lifecycleHookDetails entry %+v", hd)
		}
	}
}

// TestInProgressReinvocation follows reference §2.2-2.3: IN_PROGRESS is re-invoked after
// callBackDelay with the returned hookDetails merged into the static ones.
func TestInProgressReinvocation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{hooks: []ecstypes.DeploymentLifecycleHook{staticDetails(lambdaHook(ecstypes.DeploymentLifecycleHookStagePostScaleUp))}})
	h.setScript(func(ev hookEvent, rollback bool, call int) string {
		switch call {
		case 1:
			return `{"hookStatus":"IN_PROGRESS","callBackDelay":10,"hookDetails":{"attempt":1}}`
		case 2:
			return `{"hookStatus":"IN_PROGRESS","hookDetails":{"attempt":2,"path":"/ready"}}`
		}
		return `{"hookStatus":"SUCCEEDED"}`
	})
	r := h.wait(h.deploy(name, map[string]string{"VERSION": "green"}))
	if r.Status != StatusSuccessful {
		t.Fatalf("deployment %s: %s", r.Status, r.StatusReason)
	}
	if len(r.Hooks) != 3 {
		t.Fatalf("%d invocations, want 3: %+v", len(r.Hooks), r.Hooks)
	}
	var evs [3]hookEvent
	for i, inv := range r.Hooks {
		if inv.Attempt != i+1 {
			t.Errorf("invocation %d: attempt %d", i, inv.Attempt)
		}
		if err := json.Unmarshal(inv.Payload, &evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	wantDetails := []string{`{"path":"/healthz"}`, `{"attempt":1,"path":"/healthz"}`, `{"attempt":2,"path":"/ready"}`}
	for i, ev := range evs {
		if got := mustJSON(ev.HookDetails); got != wantDetails[i] {
			t.Errorf("invocation %d hookDetails = %s, want %s", i+1, got, wantDetails[i])
		}
		if ev.ExecutionID != evs[0].ExecutionID {
			t.Errorf("invocation %d executionId %s, want the same execution %s", i+1, ev.ExecutionID, evs[0].ExecutionID)
		}
	}
	// callBackDelay 10 s and the default 30 s, at scale 0.01: at least 100 ms and 300 ms.
	if gap := r.Hooks[1].At.Sub(r.Hooks[0].At); gap < 100*time.Millisecond {
		t.Errorf("re-invoked after %v; callBackDelay 10 s at scale 0.01 is 100 ms", gap)
	}
	if gap := r.Hooks[2].At.Sub(r.Hooks[1].At); gap < 300*time.Millisecond {
		t.Errorf("re-invoked after %v; the default callBackDelay 30 s at scale 0.01 is 300 ms", gap)
	}
}

// TestHookAnswersThatRollBack follows reference §2.2: FAILED, an unparsable answer, a
// missing hookStatus and a function error all roll back, with ECS's wording.
func TestHookAnswersThatRollBack(t *testing.T) {
	for _, tc := range []struct {
		name   string
		answer string
		err    error
		reason string
	}{
		{"FAILED", `{"hookStatus":"FAILED"}`, nil, "POST_SCALE_UP lifecycle hook(s) failed. hook execution failure(s) detected"},
		{"unparsable", `Task timed out after 3.00 seconds`, nil, "unable to parse the response from " + hookArn + ": HookStatus must not be null"},
		{"no hookStatus", `{"status":"OK"}`, nil, "HookStatus must not be null"},
		{"bad hookStatus", `{"hookStatus":"DONE"}`, nil, "HookStatus must not be null"},
		{"function error", `{"errorMessage":"boom","errorType":"errorString"}`, &FunctionError{Type: "Unhandled"}, "hook execution failure(s) detected"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			_, name := h.create(svcSpec{desired: 1, hooks: []ecstypes.DeploymentLifecycleHook{lambdaHook(ecstypes.DeploymentLifecycleHookStagePostScaleUp)}})
			if tc.err != nil {
				h.em.inv = HookFunc(func(ctx context.Context, arn string, p []byte) ([]byte, error) {
					return []byte(tc.answer), &FunctionError{Type: "Unhandled", Payload: []byte(tc.answer)}
				})
			} else {
				h.setScript(func(hookEvent, bool, int) string { return tc.answer })
			}
			r := h.wait(h.deploy(name, map[string]string{"VERSION": "green"}))
			if r.Status != StatusRollbackSuccessful {
				t.Fatalf("status %s (%s), want ROLLBACK_SUCCESSFUL", r.Status, r.StatusReason)
			}
			if !strings.Contains(r.StatusReason, tc.reason) || !strings.Contains(r.RollbackReason, tc.reason) {
				t.Errorf("statusReason %q / rollback.reason %q, want them to contain %q", r.StatusReason, r.RollbackReason, tc.reason)
			}
			d := h.describe(r.ARN)
			if d.LifecycleHookDetails[0].Status != ecstypes.DeploymentLifecycleHookStatusFailed {
				t.Errorf("hook status %s, want FAILED", d.LifecycleHookDetails[0].Status)
			}
		})
	}
}

// TestHookTimeout follows reference §1.2/§2.3: a hook still IN_PROGRESS when its
// timeoutConfiguration expires is TIMED_OUT; action ROLLBACK rolls back, CONTINUE goes on.
func TestHookTimeout(t *testing.T) {
	for _, action := range []ecstypes.DeploymentLifecycleHookAction{ecstypes.DeploymentLifecycleHookActionRollback, ecstypes.DeploymentLifecycleHookActionContinue} {
		t.Run(string(action), func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			hook := lambdaHook(ecstypes.DeploymentLifecycleHookStagePostScaleUp)
			hook.TimeoutConfiguration = &ecstypes.DeploymentLifecycleHookTimeoutConfiguration{TimeoutInMinutes: aws.Int32(1), Action: action}
			_, name := h.create(svcSpec{desired: 1, hooks: []ecstypes.DeploymentLifecycleHook{hook}})
			h.setScript(func(hookEvent, bool, int) string { return `{"hookStatus":"IN_PROGRESS","callBackDelay":5}` })
			r := h.wait(h.deploy(name, map[string]string{"VERSION": "green"}))
			want := StatusRollbackSuccessful
			if action == ecstypes.DeploymentLifecycleHookActionContinue {
				want = StatusSuccessful
			}
			if r.Status != want {
				t.Fatalf("status %s (%s), want %s", r.Status, r.StatusReason, want)
			}
			d := h.describe(r.ARN)
			if d.LifecycleHookDetails[0].Status != ecstypes.DeploymentLifecycleHookStatusTimedOut {
				t.Errorf("hook status %s, want TIMED_OUT", d.LifecycleHookDetails[0].Status)
			}
			if len(r.Hooks) < 5 {
				t.Errorf("%d invocations in a 1-minute timeout with callBackDelay 5 s; want about 12", len(r.Hooks))
			}
		})
	}
}

func TestHookWeightsTable(t *testing.T) {
	g, b := "green", "blue"
	type w = map[string]float64
	for _, tc := range []struct {
		stage      string
		rollback   bool
		prodGreen  float64 // where production stands when the hook runs
		test, prod w
	}{
		{StagePreScaleUp, false, 0, w{}, w{}},
		{StagePostScaleUp, false, 0, w{}, w{}},
		{StageTestTrafficShift, false, 0, w{g: 100, b: 0}, w{}},
		{StagePostTestTrafficShift, false, 0, w{}, w{}},
		{StagePreProductionTrafficShift, false, 0, w{}, w{g: 0, b: 100}},
		{StageProductionTrafficShift, false, 100, w{}, w{g: 100, b: 0}},
		{StagePostProductionTrafficShift, false, 100, w{}, w{}},
		{StageTestTrafficShift, true, 0, w{g: 0, b: 100}, w{}},
		{StageProductionTrafficShift, true, 0, w{}, w{g: 0, b: 100}},
		{StageReconcileService, false, 0, w{}, w{}},
		// LINEAR and CANARY: each step's share, and before a step the share of the last one.
		{StageProductionTrafficShift, false, 5, w{}, w{g: 5, b: 95}},
		{StagePreProductionTrafficShift, false, 30, w{}, w{g: 30, b: 70}},
		{StageProductionTrafficShift, false, 0.5, w{}, w{g: 0.5, b: 99.5}},
		{StageProductionTrafficShift, true, 30, w{}, w{g: 0, b: 100}},
	} {
		test, prod := hookWeights(tc.stage, tc.rollback, g, b, tc.prodGreen)
		if !reflect.DeepEqual(test, tc.test) || !reflect.DeepEqual(prod, tc.prod) {
			t.Errorf("hookWeights(%s, rollback=%v, at %g) = %v, %v; want %v, %v", tc.stage, tc.rollback, tc.prodGreen, test, prod, tc.test, tc.prod)
		}
	}
	// No blue (first deployment): only green is named.
	if test, _ := hookWeights(StageTestTrafficShift, false, g, "", 0); !reflect.DeepEqual(test, map[string]float64{g: 100}) {
		t.Errorf("first deployment TEST_TRAFFIC_SHIFT weights = %v", test)
	}
}

func TestParseHookResponse(t *testing.T) {
	for _, tc := range []struct {
		in  string
		ok  bool
		err string
	}{
		{`{"hookStatus":"SUCCEEDED"}`, true, ""},
		{`{"hookStatus":"IN_PROGRESS","callBackDelay":60,"hookDetails":{"a":1}}`, true, ""},
		{`{"hookStatus":"SUCCEEDED","reason":"Validation passed"}`, true, ""},
		{`{}`, false, "HookStatus must not be null"},
		{`{"hookStatus":null}`, false, "HookStatus must not be null"},
		{`"SUCCEEDED"`, false, "not a JSON object"},
		{`{"hookStatus":"succeeded"}`, false, "is not SUCCEEDED"},
	} {
		_, err := parseHookResponse([]byte(tc.in))
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("parseHookResponse(%s) = %v, want ok=%v %q", tc.in, err, tc.ok, tc.err)
		}
	}
	var fe *FunctionError
	if !errors.As(error(&FunctionError{Type: "Unhandled"}), &fe) {
		t.Error("FunctionError does not match errors.As")
	}
}
