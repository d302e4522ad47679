package sfntest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/greenlight-deploy/greenlight/internal/alarmwatch/alarmtest"
	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/deploy/deployfake"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/stacktest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

const cluster = "aw"

var functions = []string{"resolve", "lock", "start", "check", "watch", "finalize"}

// Two routes: web rolls back when its alarms fire mid-deployment; api regresses after a
// success and is redeployed to its last good revision.
const routesDoc = `{"version": 1, "routes": [
 {"name": "web", "repository": "web", "tagPattern": ".*", "targets": [{"cluster": "aw", "service": "web", "container": "app"}],
  "alarms": {"names": ["web-5xx-rate", "web-5xx-count"]}},
 {"name": "api", "repository": "api", "tagPattern": ".*", "targets": [{"cluster": "aw", "service": "api", "container": "app"}],
  "alarms": {"names": ["api-5xx-count"], "postDeployWatchMinutes": 15, "rollbackOnRegression": true}}
]}`

// stack is the local stack with the alarm scenarios' own helpers.
type stack struct{ *stacktest.Stack }

// setup builds the stack: every function the alarm paths call, and CloudWatch's recommended
// 5xx-rate metric-math alarm and plain count alarms.
func setup(t *testing.T) *stack {
	t.Helper()
	s := &stack{stacktest.New(t, stacktest.Options{
		Name: "aw", Cluster: cluster, Functions: functions, Routes: routesDoc,
		// One BLUE_GREEN service per route, in moto.
		Services:   []string{"web", "api"},
		Parameters: map[string]any{"Repository": "web", "RepositoryNames": "web,api", "ClusterName": cluster, "ServiceName": "web", "TaskRoleArns": "arn:aws:iam::123456789012:role/x"},
	})}
	alarmtest.PutRateAlarm(t, s.CloudWatch, "web-5xx-rate")
	alarmtest.PutCountAlarm(t, s.CloudWatch, "web-5xx-count")
	alarmtest.PutCountAlarm(t, s.CloudWatch, "api-5xx-count")
	return s
}

// fire puts 5xx datapoints (per-minute sums 3, 15, 30 over the last minutes) and sets the
// alarm to ALARM, as CloudWatch would after evaluating them; moto never evaluates alarms.
func (s *stack) fire(t *testing.T, name, reason string, withData bool) {
	ctx := context.Background()
	began := time.Now()
	defer func() {
		if d := time.Since(began); d > 5*time.Second {
			t.Logf("firing %s took %s (a slow local AWS)", name, d.Round(time.Millisecond))
		}
	}()
	if withData {
		base := time.Now().UTC().Truncate(time.Minute)
		for i, v := range []float64{3, 15, 30} {
			if _, err := s.CloudWatch.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/ApplicationELB"), MetricData: []cwtypes.MetricDatum{{
				MetricName: aws.String("HTTPCode_Target_5XX_Count"), Dimensions: alarmtest.Dimensions, Value: aws.Float64(v), Unit: cwtypes.StandardUnitCount,
				Timestamp: aws.Time(base.Add(time.Duration(i-4)*time.Minute + 10*time.Second)),
			}}}); err != nil {
				t.Error(err)
			}
		}
	}
	if _, err := s.CloudWatch.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String(name), StateValue: cwtypes.StateValueAlarm, StateReason: aws.String(reason)}); err != nil {
		t.Error(err)
	}
}

const rateReason = "Threshold Crossed: 2 out of the last 3 datapoints [51.2 (20/11/26 10:04:00), 48.0 (20/11/26 10:03:00)] were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition)."
const countReason = "Threshold Crossed: 2 out of the last 3 datapoints [30.0 (20/11/26 10:04:00), 15.0 (20/11/26 10:03:00)] were greater than the threshold (10.0) (minimum 2 datapoints for OK -> ALARM transition)."

// rollbackError is the last task error the execution recorded (its startExecution task).
func (s *stack) rollbackError(arn string) string {
	evs, err := s.History(context.Background(), arn)
	if err != nil {
		return err.Error()
	}
	msg := "no TaskFailed event"
	for _, ev := range evs {
		if d := ev.TaskFailedEventDetails; d != nil {
			msg = aws.ToString(d.Error) + ": " + aws.ToString(d.Cause) // the last one: startExecution comes last
		}
	}
	return msg
}

// atStage returns once the fake has reported the service's deployment at stage.
func (s *stack) atStage(t *testing.T, service, stage string) string {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) {
		for _, d := range s.Fake.Deployments() {
			if d.Service == service && d.Index >= 0 && d.Index < len(d.Steps) && d.Steps[d.Index].Stage == stage {
				return d.ARN
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s never reached %s", service, stage)
	return ""
}

func bake(n int) []deployfake.Step {
	steps := []deployfake.Step{
		{Status: "IN_PROGRESS", Stage: "PRE_SCALE_UP"},
		{Status: "IN_PROGRESS", Stage: "SCALE_UP"},
		{Status: "IN_PROGRESS", Stage: "POST_TEST_TRAFFIC_SHIFT", Hooks: []deployfake.Hook{{TargetARN: "arn:aws:lambda:us-east-1:123456789012:function:smoke", Status: "SUCCEEDED"}}},
		{Status: "IN_PROGRESS", Stage: "PRODUCTION_TRAFFIC_SHIFT"},
	}
	for i := 0; i < n; i++ {
		steps = append(steps, deployfake.Step{Status: "IN_PROGRESS", Stage: "BAKE_TIME"})
	}
	return append(steps, deployfake.Step{Status: "SUCCESSFUL", Stage: "CLEAN_UP", StatusReason: "Service deployment completed"})
}

// TestAlarmStateMachine runs whole deployments through the state machine:
//   - web: its route alarms fire during BAKE_TIME (the service has no ECS deployment alarm
//     that would roll back: the fake never rolls back on its own); greenlight asks ECS to
//     roll back once, and the result is ROLLED_BACK with the alarm evidence;
//   - api: succeeds, then its alarm fires in the post-deploy window: a REGRESSED follow-up is
//     published and the last good revision is redeployed by a new execution.
func TestAlarmStateMachine(t *testing.T) {
	s := setup(t)
	began := time.Now()

	t.Run("group", func(t *testing.T) {
		t.Run("alarm fires mid-deployment", func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			// A long bake costs nothing when the watch works (it rolls back a look or two after
			// the alarms fire) and leaves a loaded machine time to fire them: a CI run once saw
			// a 40-look bake end before the alarms were set.
			s.Fake.Script(cluster, "web", bake(300)...)
			arn := s.Start(t, stacktest.PushEvent("web", "v2", stacktest.Digest(2), "ev-web-2"))

			sdARN := s.atStage(t, "web", "BAKE_TIME")
			s.fire(t, "web-5xx-rate", rateReason, false)
			s.fire(t, "web-5xx-count", countReason, true)

			d := s.Wait(t, arn)
			if d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s: %s %s", d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
			}
			r := s.Result(t, stacktest.ExecName(arn)+"/aw/web", 30*time.Second).Result
			if r.Outcome != result.RolledBack || r.ECSStatus != "ROLLBACK_SUCCESSFUL" || r.Reason == nil || r.Reason.Kind != result.KindAlarm {
				t.Fatalf("result = %+v (reason %+v)", r, r.Reason)
			}
			if want := "rolled back: alarm web-5xx-rate: 5xx rate 51.2% (threshold 5%) for 2 of 3 minutes during BAKE_TIME"; r.Reason.Summary != want {
				t.Errorf("first line = %q\nwant         %q", r.Reason.Summary, want)
			}
			if !strings.Contains(strings.Join(r.Reason.Details, "\n"), "web-5xx-count: HTTPCode_Target_5XX_Count Sum 30 (threshold 10) for 2 of 3 minutes during BAKE_TIME") {
				t.Errorf("details = %q; want the second alarm's summary", r.Reason.Details)
			}
			ev := r.Reason.Evidence
			if ev == nil || len(ev.Alarms) != 2 {
				t.Fatalf("evidence = %+v", ev)
			}
			rate, count := ev.Alarms[0], ev.Alarms[1]
			if rate.Name != "web-5xx-rate" || rate.Stage != "BAKE_TIME" || rate.Metric != "5xx rate %" || rate.Breaching != 2 || len(rate.Datapoints) != 2 {
				t.Errorf("metric-math evidence (datapoints from the state reason in moto) = %+v", rate)
			}
			var values []float64
			for _, p := range count.Datapoints {
				values = append(values, p.Value)
			}
			if count.Name != "web-5xx-count" || count.Stage != "BAKE_TIME" || fmt.Sprint(values) != "[3 15 30]" || count.Breaching != 2 {
				t.Errorf("plain-alarm evidence (GetMetricData) = %+v", count)
			}
			// Asked once, recorded once.
			if n := s.Fake.Calls("StopServiceDeployment"); n != 1 {
				t.Errorf("StopServiceDeployment called %d times; want 1", n)
			}
			for _, dep := range s.Fake.Deployments() {
				if dep.ARN == sdARN && !dep.StopRequested {
					t.Error("the fake saw no stop request for the deployment")
				}
			}
			if claimed, err := s.Table.ClaimStop(ctx, sdARN, "test"); err != nil || claimed {
				t.Errorf("the ledger's STOP marker is missing (claim = %v, %v)", claimed, err)
			}
			if h, err := s.Table.Lock(ctx, cluster+"/web"); err != nil || h != nil {
				t.Errorf("lock after the execution = %+v, %v", h, err)
			}
		})

		t.Run("regression after success rolls back to the last good revision", func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			good := result.Result{Version: 1, ID: "seed/aw/api", Outcome: result.Succeeded, Cluster: cluster, Service: "api", Route: "api",
				Image:     result.Image{Repository: "api", Tag: "v1", Digest: stacktest.Digest(10)},
				StartedAt: time.Now().Add(-2 * time.Hour), FinishedAt: time.Now().Add(-110 * time.Minute)}
			if err := s.Table.PutResult(ctx, good); err != nil {
				t.Fatal(err)
			}
			s.Fake.Script(cluster, "api", bake(1)...)
			arn := s.Start(t, stacktest.PushEvent("api", "v2", stacktest.Digest(11), "ev-api-11"))
			id := stacktest.ExecName(arn) + "/aw/api"
			if r := s.Result(t, id, 90*time.Second).Result; r.Outcome != result.Succeeded {
				t.Fatalf("first result = %+v", r)
			}
			s.fire(t, "api-5xx-count", countReason, false)

			reg := s.Result(t, id+"/regressed", 60*time.Second).Result
			if reg.Outcome != result.Regressed || reg.FollowUpOf != id || reg.Image.Digest != stacktest.Digest(11) || reg.Reason == nil || reg.Reason.Kind != result.KindRegression {
				t.Fatalf("REGRESSED result = %+v", reg)
			}
			if !strings.HasPrefix(reg.Reason.Summary, "api-5xx-count: HTTPCode_Target_5XX_Count Sum 30 (threshold 10) for 2 of 3 minutes, in ALARM since ") {
				t.Errorf("REGRESSED first line = %q", reg.Reason.Summary)
			}
			if d := s.Wait(t, arn); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("execution %s: %s", d.Status, aws.ToString(d.Cause))
			}

			// The state machine asks Step Functions to start the rollback as a new execution
			// of itself, with the watch's request as its input.
			params := s.Scheduled(t, arn, "startExecution")
			if params == nil {
				t.Fatalf("Start rollback deployment was never scheduled; last events:\n%s", s.HistoryTail(arn, 8))
			}
			var call struct {
				StateMachineArn string
				Input           json.RawMessage
			}
			if err := json.Unmarshal([]byte(*params), &call); err != nil {
				t.Fatalf("startExecution parameters %s: %v", *params, err)
			}
			var in struct {
				Request struct {
					Source, Route, Cluster, Service, FollowUpOf string
					Image                                       result.Image
				}
			}
			if err := json.Unmarshal(call.Input, &in); err != nil {
				t.Fatalf("rollback input %s: %v", call.Input, err)
			}
			rq := in.Request
			if call.StateMachineArn != s.StateMachineARN || rq.Source != "regression-rollback" || rq.Image.Digest != stacktest.Digest(10) || rq.FollowUpOf != id+"/regressed" ||
				rq.Route != "api" || rq.Cluster != cluster || rq.Service != "api" {
				t.Fatalf("startExecution parameters = %s", *params)
			}
			// moto's states:startExecution integration passes the parameters to boto3 with
			// AWS casing (StateMachineArn, Input) and fails with States.Runtime: when it did,
			// start the same input as Step Functions would, so the rollback still runs.
			var rollbackARN string
			for _, x := range s.Executions(t) {
				d, err := s.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: x.ExecutionArn})
				if err != nil {
					t.Fatal(err)
				}
				if strings.Contains(aws.ToString(d.Input), `"regression-rollback"`) {
					rollbackARN = *x.ExecutionArn
				}
			}
			if rollbackARN == "" {
				t.Logf("moto did not start the rollback execution (%s); starting it with the scheduled input", s.rollbackError(arn))
				rollbackARN = s.Start(t, call.Input)
			}
			if d := s.Wait(t, rollbackARN); d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("rollback execution %s: %s", d.Status, aws.ToString(d.Cause))
			}
			rb := s.Result(t, stacktest.ExecName(rollbackARN)+"/aw/api", 30*time.Second).Result
			if rb.Image.Digest != stacktest.Digest(10) || rb.Trigger.Source != "regression-rollback" || rb.Outcome != result.Succeeded {
				t.Errorf("rollback result = %+v", rb)
			}
			// The alarm that caused it was still firing: the rollback went ahead, and says so.
			if !strings.Contains(strings.Join(rb.Warnings, "\n"), "is a rollback, which an alarm never blocks") {
				t.Errorf("rollback warnings = %q", rb.Warnings)
			}
		})
	})
	t.Logf("alarm state machine scenarios ran in %s", time.Since(began).Round(time.Second))
}
