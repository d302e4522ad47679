package alarmwatch

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"

	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

const sdARN = "arn:aws:ecs:eu-west-1:111122223333:service-deployment/prod/web/EZe5RNVLH6PPzHXINuP28"

type rig struct {
	cw    *fakeCloudWatch
	ecs   *fakeECS
	led   *fakeLedger
	clock *clock
	logs  *bytes.Buffer
	w     *Watcher
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{cw: newFakeCloudWatch(), ecs: &fakeECS{}, led: newFakeLedger(), clock: &clock{t: at(10, 0)}, logs: &bytes.Buffer{}}
	r.cw.loadFixture(t, "testdata/describe-alarms.json")
	// Start from a quiet state: every alarm OK since 09:00.
	for _, n := range []string{"web-5xx-rate", "web-5xx-count", "web-guard"} {
		r.cw.setState(n, "OK", "Threshold Crossed: 3 datapoints [0.0 (20/11/26 08:59:00)] were not greater than the threshold (5.0).", at(9, 0))
	}
	r.w = New(r.cw, r.ecs, r.led, Options{Now: r.clock.now, Logger: slog.New(slog.NewJSONHandler(r.logs, nil))})
	return r
}

func (r *rig) fire(name string, at time.Time) {
	r.cw.setState(name, "ALARM", "Threshold Crossed: 2 out of the last 3 datapoints [48.0 (20/11/26 10:04:00), 51.2 (20/11/26 10:03:00)] were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition).", at)
}

func testJob() workflow.Job {
	return workflow.Job{
		ID:           "exec-2/prod/web",
		ExecutionARN: "arn:aws:states:eu-west-1:111122223333:execution:greenlight-deploy:exec-2",
		Image:        result.Image{Repository: "web", Tag: "v1.2.3", Digest: "sha256:bbbbbbbbbbbbbbbbbbbbbbbb"},
		Target:       routes.Target{Cluster: "prod", Service: "web", Container: "app"},
		Route:        routes.Route{Name: "web-prod", Repository: "web", Alarms: &routes.Alarms{Names: []string{"web-5xx-rate"}}},
		StartedAt:    at(10, 0),
	}
}

func deploying(job workflow.Job, status, stage string) workflow.Job {
	job.Deployment = &workflow.DeploymentState{
		ServiceDeploymentARN: sdARN, StartedAt: at(10, 0), Status: status, Stage: stage,
		Done: status == "SUCCESSFUL" || status == "STOPPED" || status == "ROLLBACK_SUCCESSFUL" || status == "ROLLBACK_FAILED",
	}
	return job
}

// errMsg is the message the Lambda runtime would report.
func errMsg(err error) string {
	var ie messages.InvokeResponse_Error
	if errors.As(err, &ie) {
		return ie.Message
	}
	return err.Error()
}

func errName(err error) string {
	var ie messages.InvokeResponse_Error
	if errors.As(err, &ie) {
		return ie.Type
	}
	return workflow.Name(err)
}

func TestPreflightBlocksWithEvidence(t *testing.T) {
	r := newRig(t)
	r.clock.t = at(10, 10)
	r.fire("web-5xx-rate", at(10, 5))
	r.cw.series["rate"] = []result.Datapoint{{At: at(10, 2), Value: 1.5}, {At: at(10, 3), Value: 48}, {At: at(10, 4), Value: 51.2}, {At: at(10, 8), Value: 40}}

	job, err := r.w.Handle(context.Background(), workflow.Call{Action: "preflight", Job: testJob()})
	if err != nil {
		t.Fatal(err)
	}
	p := job.Preflight
	if p == nil || !p.Blocked || len(p.Firing) != 1 || len(p.Warnings) != 0 {
		t.Fatalf("preflight = %+v; want blocked with one firing alarm and no warning", p)
	}
	ev := p.Firing[0]
	if ev.Name != "web-5xx-rate" || !ev.StateSince.Equal(at(10, 5)) || ev.Threshold != 5 || ev.Metric != "5xx rate %" || len(ev.Datapoints) != 4 || ev.Breaching != 2 {
		t.Errorf("evidence = %+v", ev)
	}
	if got, want := ev.Summary(), "web-5xx-rate: 5xx rate 51.2% (threshold 5%) for 2 of 3 minutes, in ALARM since 2026-11-20 10:05 UTC"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	// The evidence window reaches back over the evaluation periods before it fired.
	in := r.cw.dataInputs[0]
	if !in.StartTime.Equal(at(9, 55)) || !in.EndTime.Equal(at(10, 10)) {
		t.Errorf("GetMetricData window %v..%v, want 09:55..10:10", in.StartTime, in.EndTime)
	}
	if len(r.ecs.stops) != 0 {
		t.Error("preflight called StopServiceDeployment")
	}
}

func TestPreflightWarn(t *testing.T) {
	r := newRig(t)
	r.fire("web-5xx-rate", at(9, 41))
	job := testJob()
	job.Route.Alarms.WhenAlreadyFiring = "warn"
	job.Preflight = &workflow.PreflightState{Warnings: []string{"drift: someone changed the service by hand"}}
	for i := 0; i < 2; i++ { // a retried preflight must not repeat the warning
		var err error
		job, err = r.w.Preflight(context.Background(), job)
		if err != nil {
			t.Fatal(err)
		}
	}
	p := job.Preflight
	if p.Blocked || len(p.Firing) != 1 || len(p.Warnings) != 2 {
		t.Fatalf("preflight = %+v; want not blocked, one firing, the earlier warning plus one", p)
	}
	for _, want := range []string{"web-5xx-rate was already in ALARM since 2026-11-20 09:41 UTC", "ECS ignores", "greenlight's own watch stays armed"} {
		if !strings.Contains(p.Warnings[1], want) {
			t.Errorf("warning %q lacks %q", p.Warnings[1], want)
		}
	}
}

// The deployment that undoes a regression runs while the regression's alarm still fires:
// it must not be blocked by it.
func TestPreflightRegressionRollbackIsNotBlocked(t *testing.T) {
	r := newRig(t)
	r.fire("web-5xx-rate", at(9, 58))
	// `greenlight rollback` is not blocked either: the alarm is why someone rolls back.
	cli := testJob()
	cli.Trigger = result.Trigger{Source: "rollback", RequestedBy: "arn:aws:iam::111122223333:user/ana"}
	cli, err := r.w.Preflight(context.Background(), cli)
	if err != nil || cli.Preflight.Blocked {
		t.Fatalf("preflight of a CLI rollback = %+v, %v; want not blocked", cli.Preflight, err)
	}
	job := testJob()
	job.Trigger = result.Trigger{Source: "regression-rollback", RequestedBy: "greenlight"}
	job, err = r.w.Preflight(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	p := job.Preflight
	if p.Blocked || len(p.Firing) != 1 || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "is a rollback") {
		t.Fatalf("preflight = %+v", p)
	}
	// The alarm it was started for does not make greenlight roll the rollback back.
	job.Deployment = deploying(job, "IN_PROGRESS", "BAKE_TIME").Deployment
	if _, err := r.w.During(context.Background(), job); err != nil || len(r.ecs.stops) != 0 {
		t.Errorf("the regression rollback was stopped by the alarm it remedies: %v, %v", err, r.ecs.stops)
	}
}

func TestPreflightClear(t *testing.T) {
	r := newRig(t)
	job := testJob()
	job.Route.Alarms.Names = []string{"web-5xx-rate", "web-5xx-count", "web-guard"}
	job, err := r.w.Preflight(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if job.Preflight == nil || job.Preflight.Blocked || len(job.Preflight.Firing) != 0 {
		t.Errorf("preflight = %+v; want clear", job.Preflight)
	}
	if r.cw.describeCalls != 1 || len(r.cw.dataInputs) != 0 {
		t.Errorf("%d DescribeAlarms, %d GetMetricData calls; want 1 and 0", r.cw.describeCalls, len(r.cw.dataInputs))
	}
}

func TestPreflightSeveralAlarmsAndComposite(t *testing.T) {
	r := newRig(t)
	r.fire("web-5xx-rate", at(9, 50))
	r.cw.setState("web-guard", "ALARM", "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-5xx-rate transitioned to ALARM", at(9, 50))
	job := testJob()
	job.Route.Alarms.Names = []string{"web-guard", "web-5xx-count", "web-5xx-rate"}
	job, err := r.w.Preflight(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	p := job.Preflight
	if !p.Blocked || len(p.Firing) != 2 || p.Firing[0].Name != "web-guard" || p.Firing[1].Name != "web-5xx-rate" {
		t.Fatalf("preflight = %+v; want blocked by web-guard and web-5xx-rate in route order", p)
	}
	if len(r.cw.dataInputs) != 1 {
		t.Errorf("%d GetMetricData calls; want 1 (none for the composite)", len(r.cw.dataInputs))
	}
}

func TestPreflightMissingAlarmIsAConfigError(t *testing.T) {
	r := newRig(t)
	job := testJob()
	job.Route.Alarms.Names = []string{"web-5xx-rate", "web-5xx-typo"}
	_, err := r.w.Handle(context.Background(), workflow.Call{Action: "preflight", Job: job})
	if errName(err) != workflow.ErrConfig {
		t.Fatalf("error %v named %q; want %s", err, errName(err), workflow.ErrConfig)
	}
	for _, want := range []string{`"web-5xx-typo"`, `"web-prod"`, "does not exist", "create it", "routes[].alarms.names"} {
		if !strings.Contains(errMsg(err), want) {
			t.Errorf("error %q lacks %q", errMsg(err), want)
		}
	}
}

func TestPreflightThrottledIsTransient(t *testing.T) {
	r := newRig(t)
	r.cw.errDesc = &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	_, err := r.w.Handle(context.Background(), workflow.Call{Action: "preflight", Job: testJob()})
	if errName(err) != workflow.ErrTransient {
		t.Errorf("error %v named %q; want %s", err, errName(err), workflow.ErrTransient)
	}
}

func TestPreflightWithoutAlarms(t *testing.T) {
	r := newRig(t)
	job := testJob()
	job.Route.Alarms = nil
	job, err := r.w.Preflight(context.Background(), job)
	if err != nil || job.Preflight == nil || job.Preflight.Blocked || r.cw.describeCalls != 0 {
		t.Errorf("no alarms: %+v, %v, %d calls", job.Preflight, err, r.cw.describeCalls)
	}
}

func TestHandleUnknownAction(t *testing.T) {
	r := newRig(t)
	job, err := r.w.Handle(context.Background(), workflow.Call{Action: "watch", Job: testJob()})
	if errName(err) != workflow.ErrInput || !strings.Contains(errMsg(err), `"watch"`) {
		t.Errorf("unknown action: %v (%s)", err, errName(err))
	}
	if job.ID != "exec-2/prod/web" {
		t.Errorf("the job must come back unchanged, got %+v", job)
	}
}

// An alarm fires during bake: greenlight asks ECS to roll back exactly once, across polls
// and a retried invocation.
func TestDuringRollsBackOnce(t *testing.T) {
	r := newRig(t)
	r.clock.t = at(10, 6)
	r.fire("web-5xx-rate", at(10, 5))
	r.cw.series["rate"] = []result.Datapoint{{At: at(10, 2), Value: 1.5}, {At: at(10, 3), Value: 48}, {At: at(10, 4), Value: 51.2}}
	in := deploying(testJob(), "IN_PROGRESS", "BAKE_TIME")

	job, err := r.w.Handle(context.Background(), workflow.Call{Action: "during", Job: in})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ecs.stops) != 1 || r.ecs.stops[0] != sdARN {
		t.Fatalf("stops = %v; want one for %s", r.ecs.stops, sdARN)
	}
	if !job.Watch.RollbackRequested || len(job.Watch.Fired) != 1 {
		t.Fatalf("watch = %+v", job.Watch)
	}
	ev := job.Watch.Fired[0]
	if got, want := ev.Summary(), "web-5xx-rate: 5xx rate 51.2% (threshold 5%) for 2 of 3 minutes during BAKE_TIME"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
	if by := r.led.stops[sdARN]; !strings.Contains(by, "exec-2/prod/web") || !strings.Contains(by, "web-5xx-rate") {
		t.Errorf("stop claim by %q; want the job and the alarm", by)
	}
	if in := r.cw.dataInputs[0]; !in.StartTime.Equal(at(9, 51)) {
		t.Errorf("evidence window starts %v; want at least 15 minutes back (09:51)", in.StartTime)
	}

	// Next poll: ECS has not moved yet; the alarm is still in ALARM.
	r.clock.advance(15 * time.Second)
	job, err = r.w.During(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	// A retried first invocation (its answer was lost) starts from the old job.
	retried, err := r.w.During(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ecs.stops) != 1 {
		t.Errorf("StopServiceDeployment called %d times; want once", len(r.ecs.stops))
	}
	if !retried.Watch.RollbackRequested || len(job.Watch.Fired) != 1 {
		t.Errorf("retry: %+v; poll 2: %d evidence entries", retried.Watch, len(job.Watch.Fired))
	}

	// ECS now rolls back: the evidence is not recorded twice and nothing is asked.
	job.Deployment.Status = "ROLLBACK_IN_PROGRESS"
	job.Deployment.TriggeredAlarms = []string{"web-5xx-rate"}
	job, _ = r.w.During(context.Background(), job)
	if len(job.Watch.Fired) != 1 || len(r.ecs.stops) != 1 {
		t.Errorf("after ECS took over: %d evidence, %d stops", len(job.Watch.Fired), len(r.ecs.stops))
	}
}

func TestDuringStopFailureIsRetriedByTheNextPoll(t *testing.T) {
	r := newRig(t)
	r.fire("web-5xx-rate", at(10, 5))
	r.ecs.errs = []error{&smithy.GenericAPIError{Code: "ThrottlingException", Message: "slow down"}}
	job := deploying(testJob(), "IN_PROGRESS", "PRODUCTION_TRAFFIC_SHIFT")

	job, err := r.w.During(context.Background(), job)
	if err != nil {
		t.Fatalf("a throttled stop must not fail the step: %v", err)
	}
	if job.Watch.RollbackRequested || r.led.unclaims != 1 || len(r.led.stops) != 0 || len(job.Watch.Fired) != 1 {
		t.Fatalf("after a throttled stop: requested %v, unclaims %d, claims %v, evidence %d", job.Watch.RollbackRequested, r.led.unclaims, r.led.stops, len(job.Watch.Fired))
	}
	job, err = r.w.During(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if !job.Watch.RollbackRequested || len(r.ecs.stops) != 2 || len(job.Watch.Fired) != 1 {
		t.Errorf("second poll: requested %v, %d stop calls, %d evidence; want true, 2, 1", job.Watch.RollbackRequested, len(r.ecs.stops), len(job.Watch.Fired))
	}
}

func TestDuringStopDeniedFailsTheStep(t *testing.T) {
	r := newRig(t)
	r.fire("web-5xx-rate", at(10, 5))
	r.ecs.errs = []error{&ecstypes.AccessDeniedException{Message: aws.String("not authorized to perform: ecs:StopServiceDeployment")}}
	_, err := r.w.Handle(context.Background(), workflow.Call{Action: "during", Job: deploying(testJob(), "IN_PROGRESS", "BAKE_TIME")})
	if err == nil || errName(err) != workflow.ErrInternal || !strings.Contains(errMsg(err), "ecs:StopServiceDeployment") {
		t.Fatalf("denied stop: %v (%s); want greenlight.Internal naming the permission", err, errName(err))
	}
	if len(r.led.stops) != 0 {
		t.Error("the claim must be given back so that a retry tries again")
	}
}

func TestDuringStopOnAnEndedDeploymentCountsAsDone(t *testing.T) {
	for _, err := range []error{
		&ecstypes.ConflictException{Message: aws.String("The service deployment is already in a terminal state")},
		&smithy.GenericAPIError{Code: "ServiceDeploymentNotUpdatableException", Message: "not updatable"},
		&ecstypes.ClientException{Message: aws.String("Service deployment has already completed")},
	} {
		t.Run(err.Error(), func(t *testing.T) {
			r := newRig(t)
			r.fire("web-5xx-rate", at(10, 5))
			r.ecs.errs = []error{err}
			job, e := r.w.During(context.Background(), deploying(testJob(), "IN_PROGRESS", "CLEAN_UP"))
			if e != nil || !job.Watch.RollbackRequested || len(r.led.stops) != 1 {
				t.Errorf("got %v, requested %v, claims %v; want done with the claim kept", e, job.Watch.RollbackRequested, r.led.stops)
			}
		})
	}
	if AlreadyEnded(&ecstypes.InvalidParameterException{Message: aws.String("bad ARN")}) || AlreadyEnded(errors.New("x")) {
		t.Error("AlreadyEnded is true for an unrelated error")
	}
}

// ECS rolled back by itself on its deployment alarm: evidence, no stop call.
func TestDuringECSRolledBackByItself(t *testing.T) {
	r := newRig(t)
	r.fire("web-5xx-rate", at(10, 5))
	job := deploying(testJob(), "ROLLBACK_IN_PROGRESS", "BAKE_TIME")
	job.Deployment.TriggeredAlarms = []string{"web-5xx-rate"}
	job.Deployment.AlarmStatus = "TRIGGERED"
	job, err := r.w.During(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ecs.stops) != 0 || len(r.led.stops) != 0 || job.Watch.RollbackRequested {
		t.Errorf("ECS is rolling back: greenlight must not call stop (stops %v)", r.ecs.stops)
	}
	if len(job.Watch.Fired) != 1 || job.Watch.Fired[0].Stage != "BAKE_TIME" || job.Watch.Fired[0].Breaching != 2 {
		t.Errorf("evidence = %+v", job.Watch.Fired)
	}
}

// ECS rolled back on the alarm and reached the rollback's CLEAN_UP before greenlight's next
// look (found in the rehearsal): the evidence must not say the alarm fired during CLEAN_UP.
func TestDuringECSRolledBackBeforeGreenlightLooked(t *testing.T) {
	r := newRig(t)
	r.fire("web-5xx-rate", at(10, 5))
	job := deploying(testJob(), "ROLLBACK_SUCCESSFUL", "CLEAN_UP")
	job.Deployment.TriggeredAlarms = []string{"web-5xx-rate"}
	job.Deployment.AlarmStatus = "TRIGGERED"
	job, err := r.w.During(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if len(job.Watch.Fired) != 1 || job.Watch.Fired[0].Stage != "" {
		t.Fatalf("evidence = %+v; want one alarm with no stage", job.Watch.Fired)
	}
	if got := job.Watch.Fired[0].Summary(); strings.Contains(got, "CLEAN_UP") || !strings.Contains(got, "in ALARM since") {
		t.Errorf("Summary() = %q; want the time it fired, not the rollback's stage", got)
	}
}

// The service's own deployment alarm (not a route alarm) triggered while ECS still says
// IN_PROGRESS: greenlight rolls back and reads that alarm too.
func TestDuringServiceAlarmOutsideTheRoute(t *testing.T) {
	r := newRig(t)
	r.plainFiring("svc-alarm")
	job := deploying(testJob(), "IN_PROGRESS", "TEST_TRAFFIC_SHIFT")
	job.Route.Alarms = nil
	job.Deployment.TriggeredAlarms = []string{"svc-alarm", "deleted-alarm"}
	job, err := r.w.During(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.ecs.stops) != 1 || len(job.Watch.Fired) != 2 {
		t.Fatalf("stops %v, evidence %+v", r.ecs.stops, job.Watch.Fired)
	}
	if f := job.Watch.Fired[1]; f.Name != "deleted-alarm" || f.State != "ALARM" || !strings.Contains(f.StateReason, "no alarm by this name") {
		t.Errorf("evidence for an alarm CloudWatch does not know = %+v", f)
	}
}

func (r *rig) plainFiring(name string) {
	r.cw.plain(name, 10, 1)
	r.cw.setState(name, "ALARM", "Threshold Crossed: 1 datapoint [25.0 (20/11/26 10:04:00)] was greater than the threshold (10.0).", at(10, 5))
}

// Route says warn and the alarm was firing at preflight: greenlight does not roll back on
// that same ALARM period, but does when it recovers and fires again.
func TestDuringWarnBaseline(t *testing.T) {
	r := newRig(t)
	r.fire("web-5xx-rate", at(9, 41))
	job := testJob()
	job.Route.Alarms.WhenAlreadyFiring = "warn"
	job, err := r.w.Preflight(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	job.Deployment = deploying(job, "IN_PROGRESS", "BAKE_TIME").Deployment
	job, _ = r.w.During(context.Background(), job)
	if len(r.ecs.stops) != 0 || job.Watch != nil && len(job.Watch.Fired) != 0 {
		t.Fatalf("the already-firing alarm caused a stop (%v) or evidence", r.ecs.stops)
	}
	r.cw.setState("web-5xx-rate", "OK", "recovered", at(10, 3))
	job, _ = r.w.During(context.Background(), job)
	r.fire("web-5xx-rate", at(10, 8))
	job, _ = r.w.During(context.Background(), job)
	if len(r.ecs.stops) != 1 || len(job.Watch.Fired) != 1 {
		t.Errorf("fired again: stops %v, evidence %d; want 1, 1", r.ecs.stops, len(job.Watch.Fired))
	}
}

func TestDuringTerminalPollCompletesTheEvidence(t *testing.T) {
	r := newRig(t)
	r.clock.t = at(10, 6)
	r.fire("web-5xx-rate", at(10, 5))
	r.cw.series["rate"] = []result.Datapoint{{At: at(10, 3), Value: 48}, {At: at(10, 4), Value: 51.2}}
	job := deploying(testJob(), "IN_PROGRESS", "BAKE_TIME")
	job, _ = r.w.During(context.Background(), job)

	// Rolled back; the alarm recovered; the series has grown.
	r.clock.t = at(10, 12)
	r.cw.setState("web-5xx-rate", "OK", "Threshold Crossed: 3 datapoints [0.0 (20/11/26 10:10:00)] were not greater than the threshold (5.0).", at(10, 11))
	r.cw.series["rate"] = append(r.cw.series["rate"], result.Datapoint{At: at(10, 1), Value: 0.5}, result.Datapoint{At: at(10, 9), Value: 0.1})
	job.Deployment.Status, job.Deployment.Stage, job.Deployment.Done = "ROLLBACK_SUCCESSFUL", "CLEAN_UP", true
	job, err := r.w.During(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if len(job.Watch.Fired) != 1 {
		t.Fatalf("evidence = %+v", job.Watch.Fired)
	}
	ev := job.Watch.Fired[0]
	if ev.State != "ALARM" || !ev.StateSince.Equal(at(10, 5)) || ev.Stage != "BAKE_TIME" || len(ev.Datapoints) != 4 || ev.Breaching != 2 {
		t.Errorf("refreshed evidence = %+v; want the firing kept, the whole series, stage BAKE_TIME", ev)
	}
	last := r.cw.dataInputs[len(r.cw.dataInputs)-1]
	if !last.StartTime.Equal(at(9, 55)) || !last.EndTime.Equal(at(10, 12)) {
		t.Errorf("final window %v..%v; want 09:55..10:12 (started 10:00 minus 3 evaluation periods and 2 more)", last.StartTime, last.EndTime)
	}
	if len(r.ecs.stops) != 1 {
		t.Errorf("stops = %v", r.ecs.stops)
	}
}

func TestDuringQuietReadsOnlyDescribeAlarms(t *testing.T) {
	r := newRig(t)
	job, err := r.w.During(context.Background(), deploying(testJob(), "IN_PROGRESS", "SCALE_UP"))
	if err != nil || (job.Watch != nil && len(job.Watch.Fired) > 0) || r.cw.describeCalls != 1 || len(r.cw.dataInputs) != 0 {
		t.Errorf("quiet poll: %v, %+v, %d describe, %d data calls", err, job.Watch, r.cw.describeCalls, len(r.cw.dataInputs))
	}
	job.Route.Alarms = nil
	_, _ = r.w.During(context.Background(), job)
	if r.cw.describeCalls != 1 {
		t.Error("no route alarms and nothing triggered must not call CloudWatch")
	}
	r.cw.errData = errors.New("GetMetricData down")
	r.fire("web-5xx-rate", at(10, 5))
	job = deploying(testJob(), "IN_PROGRESS", "BAKE_TIME")
	job, err = r.w.During(context.Background(), job)
	if err != nil || len(r.ecs.stops) != 1 || len(job.Watch.Fired) != 1 || job.Watch.Fired[0].Breaching != 2 {
		t.Errorf("GetMetricData failing must not stop the rollback nor the evidence: %v, %v, %+v", err, r.ecs.stops, job.Watch.Fired)
	}
	if !strings.Contains(r.logs.String(), "GetMetricData down") {
		t.Error("the GetMetricData failure is not logged")
	}
}

func succeededJob(r *rig) workflow.Job {
	job := deploying(testJob(), "SUCCESSFUL", "CLEAN_UP")
	job.Route.Alarms.PostDeployWatchMinutes = 10
	job.Result = &result.Result{Version: 1, ID: job.ID, Outcome: result.Succeeded, Route: "web-prod", Cluster: "prod", Service: "web",
		Image: job.Image, PreviousImage: &result.Image{Repository: "web", Tag: "v1.2.2", Digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaa"},
		ServiceDeploymentARN: sdARN, StartedAt: at(10, 0), FinishedAt: at(10, 20), DurationSeconds: 1200,
		Warnings: []string{"a warning"}}
	r.led.history = []result.Result{*job.Result,
		{ID: "exec-1/prod/web", Outcome: result.Succeeded, Cluster: "prod", Service: "web", Image: *job.Result.PreviousImage, FinishedAt: at(9, 0)}}
	r.clock.t = at(10, 21)
	return job
}

func TestPostQuietWindow(t *testing.T) {
	r := newRig(t)
	r.w.scale = 0.01 // 10 minutes → 6 s; polls of 60 s → 1 s
	job := succeededJob(r)
	job, err := r.w.Handle(context.Background(), workflow.Call{Action: "post", Job: job})
	if err != nil {
		t.Fatal(err)
	}
	ws := job.Watch
	if !ws.PostDeployUntil.Equal(at(10, 21).Add(6*time.Second)) || ws.PostDeployDone || job.Wait != 1 {
		t.Fatalf("first post call: until %v, done %v, wait %d", ws.PostDeployUntil, ws.PostDeployDone, job.Wait)
	}
	r.clock.advance(3 * time.Second)
	job, _ = r.w.Post(context.Background(), job)
	if job.Watch.PostDeployDone || !job.Watch.PostDeployUntil.Equal(ws.PostDeployUntil) {
		t.Error("the window must not move or end early")
	}
	r.clock.advance(3 * time.Second)
	job, _ = r.w.Post(context.Background(), job)
	if !job.Watch.PostDeployDone || job.Watch.Regressed || job.Result.Outcome != result.Succeeded {
		t.Errorf("window over: %+v, result %s", job.Watch, job.Result.Outcome)
	}
}

func TestPostWaitIsBoundedByTheWindow(t *testing.T) {
	r := newRig(t)
	job := succeededJob(r)
	job, _ = r.w.Post(context.Background(), job)
	if job.Wait != 60 {
		t.Errorf("wait = %d, want 60 (unscaled)", job.Wait)
	}
	r.clock.t = job.Watch.PostDeployUntil.Add(-20 * time.Second)
	job, _ = r.w.Post(context.Background(), job)
	if job.Wait != 20 {
		t.Errorf("wait = %d, want 20 (what is left of the window)", job.Wait)
	}
}

func TestPostRegressedWithRollback(t *testing.T) {
	r := newRig(t)
	job := succeededJob(r)
	job.Route.Alarms.RollbackOnRegression = true
	job, _ = r.w.Post(context.Background(), job)
	r.clock.advance(4 * time.Minute)
	r.fire("web-5xx-rate", at(10, 24))
	job, err := r.w.Post(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	ws := job.Watch
	if !ws.Regressed || !ws.PostDeployDone || len(ws.Fired) != 1 {
		t.Fatalf("watch = %+v", ws)
	}
	res := job.Result
	if res.Outcome != result.Regressed || res.ID != "exec-2/prod/web/regressed" || res.FollowUpOf != "exec-2/prod/web" ||
		res.Image != job.Image || res.Service != "web" || res.Route != "web-prod" || res.ServiceDeploymentARN != sdARN {
		t.Errorf("REGRESSED result = %+v", res)
	}
	if res.Reason == nil || res.Reason.Kind != result.KindRegression || res.Reason.Evidence == nil || len(res.Reason.Evidence.Alarms) != 1 {
		t.Fatalf("reason = %+v", res.Reason)
	}
	if want := "web-5xx-rate: 5xx rate 51.2% (threshold 5%) for 2 of 3 minutes, in ALARM since 2026-11-20 10:24 UTC, 5 minutes after the deployment succeeded"; res.Reason.Summary != want {
		t.Errorf("summary = %q\nwant      %q", res.Reason.Summary, want)
	}
	if !strings.Contains(strings.Join(res.Reason.Details, "\n"), "redeploying the last good revision web:v1.2.2@aaaaaaaaaaaa") {
		t.Errorf("details = %q", res.Reason.Details)
	}
	req := ws.RollbackRequest
	if req == nil || req.Request == nil {
		t.Fatal("no rollback request")
	}
	want := workflow.Request{Source: "regression-rollback", RequestedBy: "greenlight", Route: "web-prod", Cluster: "prod", Service: "web",
		Image: result.Image{Repository: "web", Tag: "v1.2.2", Digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaa"}, FollowUpOf: "exec-2/prod/web/regressed"}
	got := *req.Request
	got.Note = ""
	if got != want {
		t.Errorf("rollback request = %+v\nwant                %+v", got, want)
	}
	if !strings.Contains(req.Request.Note, "REGRESSED exec-2/prod/web/regressed") {
		t.Errorf("note = %q", req.Request.Note)
	}
	if r.led.lastGoodQ[0] != job.Image.Digest {
		t.Errorf("LastGood excluded %q; want the regressed digest", r.led.lastGoodQ[0])
	}
	// Done: another call changes nothing.
	again, _ := r.w.Post(context.Background(), job)
	if again.Result.ID != res.ID || len(again.Watch.Fired) != 1 {
		t.Error("a finished post-deploy watch must not run again")
	}
}

func TestPostRegressedWithoutRollbackTarget(t *testing.T) {
	r := newRig(t)
	job := succeededJob(r)
	job.Route.Alarms.RollbackOnRegression = true
	r.led.history = r.led.history[:1] // only this deployment
	r.fire("web-5xx-rate", at(10, 21))
	job, err := r.w.Post(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	if job.Watch.RollbackRequest != nil || job.Result.Outcome != result.Regressed {
		t.Fatalf("no target: request %+v, outcome %s", job.Watch.RollbackRequest, job.Result.Outcome)
	}
	if !strings.Contains(strings.Join(job.Result.Reason.Details, "\n"), ErrNoRollbackTarget.Error()) {
		t.Errorf("details = %q; want %q", job.Result.Reason.Details, ErrNoRollbackTarget)
	}
}

func TestPostRegressedRollbackOff(t *testing.T) {
	r := newRig(t)
	job := succeededJob(r)
	r.fire("web-5xx-rate", at(10, 21))
	r.plainFiring("web-5xx-count")
	job.Route.Alarms.Names = []string{"web-5xx-rate", "web-5xx-count"}
	job, _ = r.w.Post(context.Background(), job)
	if job.Watch.RollbackRequest != nil || len(r.led.lastGoodQ) != 0 {
		t.Error("rollbackOnRegression off: no request and no ledger lookup")
	}
	if !strings.Contains(job.Result.Reason.Summary, "(and 1 more alarm)") || len(job.Result.Reason.Evidence.Alarms) != 2 {
		t.Errorf("two alarms: %q, %d evidence", job.Result.Reason.Summary, len(job.Result.Reason.Evidence.Alarms))
	}
}

func TestPostEndsWhenANewerDeploymentTakesOver(t *testing.T) {
	t.Run("lock", func(t *testing.T) {
		r := newRig(t)
		job := succeededJob(r)
		r.fire("web-5xx-rate", at(10, 21))
		r.led.lock = &ledger.Holder{JobID: "exec-3/prod/web", Image: result.Image{Repository: "web", Tag: "v1.2.4"}, LeaseUntil: at(11, 0)}
		job, _ = r.w.Post(context.Background(), job)
		if !job.Watch.PostDeployDone || job.Watch.Regressed || job.Result.Outcome != result.Succeeded {
			t.Errorf("newer lock holder: %+v", job.Watch)
		}
		if !strings.Contains(r.logs.String(), "newer deployment") || !strings.Contains(r.logs.String(), "exec-3/prod/web") {
			t.Errorf("logs do not say why: %s", r.logs)
		}
	})
	t.Run("expired lock of another job is not a newer deployment", func(t *testing.T) {
		r := newRig(t)
		job := succeededJob(r)
		r.led.lock = &ledger.Holder{JobID: "exec-3/prod/web", LeaseUntil: at(10, 1)}
		job, _ = r.w.Post(context.Background(), job)
		if job.Watch.PostDeployDone {
			t.Error("an expired lease ended the watch")
		}
	})
	t.Run("history", func(t *testing.T) {
		r := newRig(t)
		job := succeededJob(r)
		r.led.history = append([]result.Result{{ID: "exec-3/prod/web", Outcome: result.RolledBack, Image: result.Image{Repository: "web", Tag: "v1.2.4"}}}, r.led.history...)
		job, _ = r.w.Post(context.Background(), job)
		if !job.Watch.PostDeployDone || r.cw.describeCalls != 0 {
			t.Errorf("newer record: done %v, %d DescribeAlarms calls", job.Watch.PostDeployDone, r.cw.describeCalls)
		}
	})
}

func TestPostNotApplicable(t *testing.T) {
	r := newRig(t)
	job := succeededJob(r)
	job.Route.Alarms.PostDeployWatchMinutes = 0
	job, _ = r.w.Post(context.Background(), job)
	if !job.Watch.PostDeployDone || r.cw.describeCalls != 0 {
		t.Error("no window: done at once without reading alarms")
	}
	job = succeededJob(r)
	job.Result.Outcome = result.RolledBack
	job, _ = r.w.Post(context.Background(), job)
	if !job.Watch.PostDeployDone || job.Result.Outcome != result.RolledBack {
		t.Error("a rolled-back deployment has no post-deploy watch")
	}
}
