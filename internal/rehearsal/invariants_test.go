package rehearsal

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/notify"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

const (
	digestA = "sha256:aaaaaaaaaaaa1111111111111111111111111111111111111111111111111111"
	digestB = "sha256:bbbbbbbbbbbb2222222222222222222222222222222222222222222222222222"
)

// healthyEnd is a scenario that came out right: two pushes, one result each, recorded, the
// lock free, one chat message per result, ECS on the newest SUCCEEDED digest.
func healthyEnd() *Observed {
	r1 := result.Result{ID: "e1/c/s", ExecutionARN: "arn:e1", Cluster: "c", Service: "s", Outcome: result.Succeeded, Image: result.Image{Digest: digestA}}
	r2 := result.Result{ID: "e2/c/s", ExecutionARN: "arn:e2", Cluster: "c", Service: "s", Outcome: result.Succeeded, Image: result.Image{Digest: digestB}}
	return &Observed{
		Pushes:    []PushObservation{{Label: "#1 v1", Execution: "arn:e1", Result: &r1}, {Label: "#2 v2", Execution: "arn:e2", Result: &r2}},
		Published: []result.Result{r1, r2},
		Chat: []ChatMessage{{Channel: "slack", Body: json.RawMessage(`{"text":"v1"}`), Text: "v1"},
			{Channel: "slack", Body: json.RawMessage(`{"text":"v2"}`), Text: "v2"}},
		End: EndState{Records: []result.Result{r2, r1}, TaskDefinition: "arn:td:2", Digest: digestB, RunningDigests: []string{digestB}},
	}
}

func held(t *testing.T, o *Observed) map[string]InvariantReport {
	t.Helper()
	out := map[string]InvariantReport{}
	for _, v := range checkInvariants(o) {
		out[v.Name] = v
	}
	if len(out) != 4 {
		t.Fatalf("checkInvariants gave %d invariants; want 4", len(out))
	}
	return out
}

// TestInvariants: each invariant holds on a good end state, and each violation fails the
// invariant it breaks with a message that says what is wrong.
func TestInvariants(t *testing.T) {
	for name, v := range held(t, healthyEnd()) {
		if !v.Held {
			t.Errorf("%s does not hold on a good end: %s", name, v.Detail)
		}
	}
	for _, tc := range []struct {
		name      string
		change    func(o *Observed)
		invariant string
		want      string
	}{
		{"a push without a result", func(o *Observed) { o.Published = o.Published[:1]; o.End.Records = o.End.Records[1:] },
			InvariantOneResult, "push #2 v2 (execution e2): 0 results"},
		{"two results for one push", func(o *Observed) {
			extra := o.Published[1]
			extra.ID = "e2/other"
			o.Published = append(o.Published, extra)
			o.End.Records = append(o.End.Records, extra)
		}, InvariantOneResult, "push #2 v2 (execution e2): 2 results"},
		{"one ID, two outcomes", func(o *Observed) {
			again := o.Published[0]
			again.Outcome = result.Failed
			o.Published = append(o.Published, again)
		}, InvariantOneResult, "result e1/c/s was published as SUCCEEDED and as FAILED"},
		{"a redelivered result is not a second result", func(o *Observed) { o.Published = append(o.Published, o.Published[0]) }, InvariantOneResult, ""},
		{"a REGRESSED follow-up is allowed", func(o *Observed) {
			reg := o.Published[1]
			reg.Outcome = result.Regressed
			o.Published = append(o.Published, reg)
		}, InvariantOneResult, ""},
		{"published but not recorded", func(o *Observed) { o.End.Records = o.End.Records[:1] }, InvariantOneResult, "result e1/c/s (SUCCEEDED): 0 ledger records"},
		{"recorded twice", func(o *Observed) { o.End.Records = append(o.End.Records, o.End.Records[0]) }, InvariantOneResult, "result e2/c/s (SUCCEEDED): 2 ledger records"},
		{"recorded with another outcome", func(o *Observed) { o.End.Records[0].Outcome = result.RolledBack }, InvariantOneResult, "result e2/c/s: published SUCCEEDED, recorded ROLLED_BACK"},
		{"recorded, never published", func(o *Observed) {
			o.End.Records = append(o.End.Records, result.Result{ID: "ghost", Outcome: result.Failed})
		}, InvariantOneResult, "the ledger records result ghost (FAILED), which was never published"},
		{"a lock left", func(o *Observed) { o.End.Lock = "the lock on c/s is held by job e1/c/s" }, InvariantNoLock, "held by job e1/c/s"},
		{"the same message twice", func(o *Observed) { o.Chat = append(o.Chat, o.Chat[0]) }, InvariantNoDuplicate, `channel slack got the same message twice ("v1"`},
		{"more messages than results", func(o *Observed) {
			o.Chat = append(o.Chat, ChatMessage{Channel: "slack", Body: json.RawMessage(`{"text":"v3"}`)})
		}, InvariantNoDuplicate, "channel slack got 3 messages for 2 results"},
		{"the same message on two channels is fine", func(o *Observed) {
			m := o.Chat[0]
			m.Channel = "teams"
			o.Chat = append(o.Chat, m)
		}, InvariantNoDuplicate, ""},
		{"ECS runs another digest", func(o *Observed) { o.End.Digest = digestA }, InvariantECSAgrees, "the service runs aaaaaaaaaaaa (task definition 2), the ledger's newest SUCCEEDED record (e2/c/s) deployed bbbbbbbbbbbb"},
		{"a task runs another digest", func(o *Observed) { o.End.RunningDigests = append(o.End.RunningDigests, digestA) }, InvariantECSAgrees, "a running task runs aaaaaaaaaaaa"},
		{"no SUCCEEDED record: nothing to compare", func(o *Observed) {
			for i := range o.End.Records {
				o.End.Records[i].Outcome = result.RolledBack
			}
			for i := range o.Published {
				o.Published[i].Outcome = result.RolledBack
			}
			o.End.Digest = digestA
		}, InvariantECSAgrees, ""},
		{"the end state could not be read", func(o *Observed) { o.End.Error = "table gone" }, InvariantECSAgrees, "table gone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := healthyEnd()
			tc.change(o)
			v := held(t, o)[tc.invariant]
			switch {
			case tc.want == "" && !v.Held:
				t.Errorf("%s fails: %s; want it to hold", tc.invariant, v.Detail)
			case tc.want != "" && (v.Held || !strings.Contains(v.Detail, tc.want)):
				t.Errorf("%s: held %v, %q; want a violation containing %q", tc.invariant, v.Held, v.Detail, tc.want)
			}
		})
	}
}

// TestFaultAssertions runs the fault scenarios' own checks on hand-made observations: each
// passes on what the fault should leave, and fails when greenlight misbehaved or the fault
// did not happen.
func TestFaultAssertions(t *testing.T) {
	now := time.Now()
	sd, op := "arn:sd/mine", "arn:sd/operator"
	manual := &result.Result{ID: "e1/c/s", ExecutionARN: "arn:e1", Outcome: result.Failed,
		Reason: &result.Reason{Kind: result.KindManual, Summary: "stopped by hand: … deployed web:v1@aaaaaaaaaaaa …"}, FinishedAt: now}
	ok := &result.Result{ID: "e2/c/s", ExecutionARN: "arn:e2", Outcome: result.Succeeded, ServiceDeploymentARN: sd}
	notifierDL, _ := json.Marshal(notify.DeadLetter{ResultID: ok.ID, Channel: hookChannel, Status: 404, Result: json.RawMessage(`{}`)})
	lambdaDL := `{"version":"1.0","requestContext":{"condition":"RetriesExhausted","approximateInvokeCount":3},"responsePayload":{"errorMessage":"result e2/c/s: 1 deliveries to retry: rehearsal-chat: gave up"}}`
	base := func() *Observed {
		return &Observed{
			Scenario: Scenario{Primary: 0},
			Pushes: []PushObservation{{Label: "#1", Execution: "arn:e1", Digest: digestA, ExecutionStatus: "ABORTED", Result: manual},
				{Label: "#2", Execution: "arn:e2", ExecutionStatus: "SUCCEEDED", Result: ok,
					Entered:      map[string][]time.Time{"Start": {now}, "Wait for active deployment": {now.Add(2 * time.Second)}},
					Attempts:     map[string]int{"Start": 2},
					TaskFailures: []TaskFailure{{State: "Start", Error: "Runtime.ExitError", Cause: "Runtime exited with error: signal: killed"}}}},
			Deployments: []ecsemu.DeploymentReport{{ARN: op, Status: ecsemu.StatusRollbackSuccessful, FinishedAt: now.Add(3 * time.Second)},
				{ARN: sd, Status: ecsemu.StatusSuccessful, CreatedAt: now.Add(4 * time.Second)}},
			Faults: FaultObservation{
				Throttle:     &ecsemu.ThrottleStats{Calls: map[string]int{"UpdateService": 6, "DescribeServices": 20}, Throttled: map[string]int{"UpdateService": 5, "DescribeServices": 6}},
				Slow:         &localaws.ProxyStats{Held: 9, Dropped: 2},
				ECSCalls:     map[string]int{"UpdateService": 1},
				Kills:        []KillRecord{{Function: "StartFunction", PIDs: []int{42}}},
				WebhookTries: map[string]int{chatChannel: 15, hookChannel: 1},
				DeadLetters:  []string{string(notifierDL), lambdaDL},
				Hold:         &HoldRecord{Op: "DescribeServices", Released: now.Add(time.Second), Status: ecsemu.StatusRollbackInProgress},
				Operator:     &OperatorRecord{ARN: op},
				Stopped:      &StopRecord{Execution: "arn:e1", At: now.Add(-time.Second)},
			},
		}
	}
	second := func(o *Observed) { o.Scenario.Primary = 1 }
	for _, tc := range []struct {
		name   string
		a      Assertion
		change func(o *Observed)
		fail   string
	}{
		{"throttled", throttledCalls(10), nil, ""},
		{"too few throttles", throttledCalls(20), nil, "throttled 11 calls"},
		{"no throttle", throttledCalls(1), func(o *Observed) { o.Faults.Throttle = nil }, "throttled 0 calls"},
		{"killed start retried", retriedTask("Start", "Runtime.ExitError", "signal: killed"), second, ""},
		{"killed start not retried", retriedTask("Start", "Runtime.ExitError", "signal: killed"), func(o *Observed) { second(o); o.Pushes[1].Attempts["Start"] = 1 }, "attempted 1 time(s)"},
		{"killed start caught", retriedTask("Start", "Runtime.ExitError", "signal: killed"), func(o *Observed) { second(o); o.Pushes[1].ExecutionStatus = "FAILED" }, "the execution ended FAILED"},
		{"no kill in the history", retriedTask("Start", "greenlight.Transient", "ThrottlingException"), second, "no greenlight.Transient failure of Start"},
		{"killed", killed("StartFunction"), nil, ""},
		{"not killed", killed("StartFunction"), func(o *Observed) { o.Faults.Kills[0].Err = "no bootstrap" }, "was not killed"},
		{"one UpdateService", ecsCalls("UpdateService", 1), nil, ""},
		{"a second UpdateService", ecsCalls("UpdateService", 1), func(o *Observed) { o.Faults.ECSCalls["UpdateService"] = 2 }, "called UpdateService 2 times"},
		{"slowed", slowed(8, 1), nil, ""},
		{"nothing dropped", slowed(8, 1), func(o *Observed) { o.Faults.Slow.Dropped = 0 }, "want at least 8 held and 1 dropped"},
		{"no step failed", noTaskFailures(), func(o *Observed) { o.Pushes[1].TaskFailures = nil }, ""},
		{"a step failed", noTaskFailures(), nil, "#2: steps failed: Start Runtime.ExitError"},
		{"within the deadline", withinDeadline(), second, ""},
		{"deadline", withinDeadline(), func(o *Observed) {
			second(o)
			o.Pushes[1].Result = &result.Result{Reason: &result.Reason{Kind: result.KindDeadline, Summary: "past 120m"}}
		}, "ran out of its deadline"},
		{"dead letters", deadLettered(), second, ""},
		{"a dead letter missing", deadLettered(), func(o *Observed) { second(o); o.Faults.DeadLetters = o.Faults.DeadLetters[:1] }, "1 notifier dead letters and 0 Lambda on-failure records"},
		{"a dead letter for another result", deadLettered(), func(o *Observed) { o.Scenario.Primary = 0 }, "want result e1/c/s"},
		{"webhook tries", webhookTries(map[string]int{chatChannel: 15, hookChannel: 1}), nil, ""},
		{"a permanent failure retried", webhookTries(map[string]int{hookChannel: 1}), func(o *Observed) { o.Faults.WebhookTries[hookChannel] = 3 }, "channel rehearsal-hook got 3 posts; want 1"},
		{"no chat", noChat(), nil, ""},
		{"chat got through", noChat(), func(o *Observed) { o.Chat = []ChatMessage{{Channel: chatChannel}} }, "1 chat messages were accepted"},
		{"operator rolled back", operatorRolledBack(), nil, ""},
		{"operator succeeded", operatorRolledBack(), func(o *Observed) { o.Deployments[0].Status = ecsemu.StatusSuccessful }, "ended SUCCESSFUL"},
		{"met the rollback", metTheRollback(), second, ""},
		{"start looked after the rollback", metTheRollback(), func(o *Observed) { second(o); o.Faults.Hold.Status = ecsemu.StatusRollbackSuccessful }, `was "ROLLBACK_SUCCESSFUL"`},
		{"never waited", metTheRollback(), func(o *Observed) { second(o); delete(o.Pushes[1].Entered, "Wait for active deployment") }, "entered Wait for active deployment at []"},
		{"deployed over the rollback", metTheRollback(), func(o *Observed) { second(o); o.Deployments[1].CreatedAt = now.Add(2 * time.Second) }, "want it to start after"},
		{"stop reported", stopReported(), nil, ""},
		{"stop not ABORTED", stopReported(), func(o *Observed) { o.Pushes[0].ExecutionStatus = "FAILED" }, "ended FAILED; want ABORTED"},
		{"stop reported without saying so", stopReported(), func(o *Observed) {
			r := *manual
			r.Reason = &result.Reason{Kind: result.KindError, Summary: "greenlight failed"}
			o.Pushes[0].Result = &r
		}, "does not say that execution e1"},
		{"took over at once", tookOverAtOnce(1), nil, ""},
		{"waited for the lease", tookOverAtOnce(1), func(o *Observed) { o.Pushes[1].Entered["Wait for lock"] = []time.Time{now} }, "waited for the lock 1 time(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base()
			if tc.change != nil {
				tc.change(o)
			}
			err := tc.a.Check(o)
			if tc.fail == "" && err != nil || tc.fail != "" && (err == nil || !strings.Contains(err.Error(), tc.fail)) {
				t.Errorf("%s = %v; want %q", tc.a.Name, err, tc.fail)
			}
		})
	}
}

// TestFaultScenariosInject: every fault scenario injects something real (the table is not
// a list of healthy runs with other names).
func TestFaultScenariosInject(t *testing.T) {
	names := faultNamesOf()
	if len(names) != 6 {
		t.Errorf("fault scenarios %v; want the issue's six", names)
	}
	for _, s := range Scenarios {
		if s.Group != GroupFaults {
			continue
		}
		before := false
		for _, p := range s.Pushes {
			before = before || p.Before != nil
		}
		f := s.Fault
		if !before && (f == nil || f.ECSThrottle == nil && f.SlowAWS == nil && f.Kill == nil && len(f.Webhooks) == 0) {
			t.Errorf("fault scenario %s injects nothing", s.Name)
		}
		if len(s.Assertions) < 3 {
			t.Errorf("fault scenario %s checks only %d things", s.Name, len(s.Assertions))
		}
	}
}

// TestEventTapPauses: a gate pauses the emulator's event delivery for its deployment's
// status until opened, and lets everything else through.
func TestEventTapPauses(t *testing.T) {
	tap := &eventTap{}
	g := tap.pauseAt(ecsemu.StatusRollbackInProgress)
	// Before only names the deployment, nothing matches.
	tap.on(ecsemu.Event{Kind: ecsemu.EventStatus, ServiceDeploymentARN: "arn:op", Status: ecsemu.StatusRollbackInProgress})
	g.only("arn:op")
	tap.on(ecsemu.Event{Kind: ecsemu.EventStatus, ServiceDeploymentARN: "arn:other", Status: ecsemu.StatusRollbackInProgress})
	tap.on(ecsemu.Event{Kind: ecsemu.EventStage, ServiceDeploymentARN: "arn:op", Stage: "CLEAN_UP"})
	done := make(chan struct{})
	go func() {
		tap.on(ecsemu.Event{Kind: ecsemu.EventStatus, ServiceDeploymentARN: "arn:op", Status: ecsemu.StatusRollbackInProgress})
		close(done)
	}()
	select {
	case <-g.reached:
	case <-time.After(5 * time.Second):
		t.Fatal("the gate was not reached")
	}
	select {
	case <-done:
		t.Fatal("the event went through a closed gate")
	case <-time.After(50 * time.Millisecond):
	}
	g.open()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the gate did not let the event go on once opened")
	}
	// It fires once.
	tap.on(ecsemu.Event{Kind: ecsemu.EventStatus, ServiceDeploymentARN: "arn:op", Status: ecsemu.StatusRollbackInProgress})
	tap.openAll()
}
