package alarmwatch

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/greenlight-deploy/greenlight/internal/alarmwatch/alarmtest"
	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// motoCloudWatch is a CloudWatch client for the test's own moto account, with the query
// protocol override moto needs (local-toolchain §1.2), built the way the Lambda builds it.
func motoCloudWatch(t *testing.T) *cloudwatch.Client {
	t.Helper()
	cw, err := awsenv.CloudWatch(awstest.Config(t), func(k string) string {
		if k == awsenv.CloudWatchProtocolEnv {
			return "query"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	return cw
}

func motoLedger(t *testing.T) *ledger.Table {
	t.Helper()
	db := dynamodb.NewFromConfig(awstest.Config(t))
	if _, err := db.CreateTable(context.Background(), ledger.CreateTableInput("ledger")); err != nil {
		t.Fatal(err)
	}
	return ledger.New(db, "ledger")
}

// setAlarmState is the only way to change an alarm's state in moto, which never evaluates
// alarms (local-toolchain §1.3).
func setAlarmState(t *testing.T, cw *cloudwatch.Client, name, state, reason string) {
	t.Helper()
	if _, err := cw.SetAlarmState(context.Background(), &cloudwatch.SetAlarmStateInput{
		AlarmName: aws.String(name), StateValue: cwtypes.StateValue(state), StateReason: aws.String(reason),
	}); err != nil {
		t.Fatal(err)
	}
}

func TestMotoPreflight(t *testing.T) {
	ctx := context.Background()
	cw := motoCloudWatch(t)
	alarmtest.PutRateAlarm(t, cw, "web-5xx-rate")
	alarmtest.PutCountAlarm(t, cw, "web-5xx-count")
	w := New(cw, &fakeECS{}, motoLedger(t), Options{})

	job := testJob()
	job.Route.Alarms.Names = []string{"web-5xx-rate", "web-5xx-count"}
	got, err := w.Handle(ctx, workflow.Call{Action: "preflight", Job: job})
	if err != nil {
		t.Fatal(err)
	}
	if got.Preflight.Blocked || len(got.Preflight.Firing) != 0 {
		t.Fatalf("fresh alarms (OK): preflight = %+v", got.Preflight)
	}

	before := time.Now().Add(-time.Second)
	setAlarmState(t, cw, "web-5xx-rate", "ALARM", "Threshold Crossed: 2 out of the last 3 datapoints [48.0 (20/11/26 10:04:00), 51.2 (20/11/26 10:03:00)] were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition).")
	got, err = w.Handle(ctx, workflow.Call{Action: "preflight", Job: job})
	if err != nil {
		t.Fatal(err)
	}
	p := got.Preflight
	if !p.Blocked || len(p.Firing) != 1 {
		t.Fatalf("preflight = %+v; want blocked by web-5xx-rate", p)
	}
	ev := p.Firing[0]
	if ev.Name != "web-5xx-rate" || ev.State != "ALARM" || ev.StateSince.Before(before) || ev.Metric != "5xx rate %" ||
		ev.Threshold != 5 || ev.PeriodSeconds != 60 || ev.EvaluationPeriods != 3 || ev.DatapointsToAlarm != 2 {
		t.Errorf("evidence = %+v", ev)
	}
	// moto returns an empty series for metric math: the datapoints come from the reason.
	if ev.Breaching != 2 || len(ev.Datapoints) != 2 {
		t.Errorf("evidence datapoints %v, breaching %d; want the 2 quoted in the state reason", ev.Datapoints, ev.Breaching)
	}
	if s := ev.Summary(); !strings.HasPrefix(s, "web-5xx-rate: 5xx rate 51.2% (threshold 5%) for 2 of 3 minutes, in ALARM since ") {
		t.Errorf("Summary() = %q", s)
	}

	job.Route.Alarms.WhenAlreadyFiring = "warn"
	got, err = w.Handle(ctx, workflow.Call{Action: "preflight", Job: job})
	if err != nil || got.Preflight.Blocked || len(got.Preflight.Warnings) != 1 || !strings.Contains(got.Preflight.Warnings[0], "ECS ignores") {
		t.Errorf("warn: %+v, %v", got.Preflight, err)
	}

	job.Route.Alarms.Names = append(job.Route.Alarms.Names, "web-5xx-nope")
	_, err = w.Handle(ctx, workflow.Call{Action: "preflight", Job: job})
	if errName(err) != workflow.ErrConfig || !strings.Contains(errMsg(err), "web-5xx-nope") {
		t.Errorf("missing alarm: %v (%s)", err, errName(err))
	}
}

// Evidence from real datapoints: PutMetricData → GetMetricData for a plain alarm, the
// rollback claimed once in the real ledger, and the math alarm alongside.
func TestMotoDuringEvidenceFromMetricData(t *testing.T) {
	ctx := context.Background()
	cw := motoCloudWatch(t)
	alarmtest.PutCountAlarm(t, cw, "web-5xx-count")
	alarmtest.PutRateAlarm(t, cw, "web-5xx-rate")
	led := motoLedger(t)
	ecsFake := &fakeECS{}
	w := New(cw, ecsFake, led, Options{})

	base := time.Now().UTC().Truncate(time.Minute)
	put := func(minutesAgo int, v float64) {
		t.Helper()
		_, err := cw.PutMetricData(ctx, &cloudwatch.PutMetricDataInput{Namespace: aws.String("AWS/ApplicationELB"), MetricData: []cwtypes.MetricDatum{{
			MetricName: aws.String("HTTPCode_Target_5XX_Count"), Dimensions: alarmtest.Dimensions, Value: aws.Float64(v),
			Timestamp: aws.Time(base.Add(-time.Duration(minutesAgo)*time.Minute + 10*time.Second)), Unit: cwtypes.StandardUnitCount,
		}}})
		if err != nil {
			t.Fatal(err)
		}
	}
	put(6, 0)
	put(4, 2)
	put(4, 1) // same minute: Sum 3
	put(3, 15)
	put(2, 30)
	setAlarmState(t, cw, "web-5xx-count", "ALARM", "set by the test (moto never evaluates alarms)")

	job := deploying(testJob(), "IN_PROGRESS", "BAKE_TIME")
	job.Route.Alarms.Names = []string{"web-5xx-rate", "web-5xx-count"}
	job.Deployment.StartedAt = base.Add(-10 * time.Minute)
	job, err := w.Handle(ctx, workflow.Call{Action: "during", Job: job})
	if err != nil {
		t.Fatal(err)
	}
	if len(ecsFake.stops) != 1 || !job.Watch.RollbackRequested {
		t.Fatalf("stops %v, requested %v", ecsFake.stops, job.Watch.RollbackRequested)
	}
	if len(job.Watch.Fired) != 1 {
		t.Fatalf("evidence = %+v", job.Watch.Fired)
	}
	ev := job.Watch.Fired[0]
	var values []float64
	for _, p := range ev.Datapoints {
		values = append(values, p.Value)
	}
	if want := []float64{0, 3, 15, 30}; !equalFloats(values, want) {
		t.Errorf("datapoints %v; want per-minute sums %v", ev.Datapoints, want)
	}
	if ev.Breaching != 2 || ev.Stage != "BAKE_TIME" {
		t.Errorf("breaching %d stage %q; want 2, BAKE_TIME", ev.Breaching, ev.Stage)
	}
	if got, want := ev.Summary(), "web-5xx-count: HTTPCode_Target_5XX_Count Sum 30 (threshold 10) for 2 of 3 minutes during BAKE_TIME"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}

	// The next poll and a retried invocation: the ledger's claim keeps it to one call.
	if _, err := w.Handle(ctx, workflow.Call{Action: "during", Job: job}); err != nil {
		t.Fatal(err)
	}
	retry := deploying(testJob(), "IN_PROGRESS", "BAKE_TIME")
	retry.Route.Alarms.Names = job.Route.Alarms.Names
	if _, err := w.Handle(ctx, workflow.Call{Action: "during", Job: retry}); err != nil {
		t.Fatal(err)
	}
	if len(ecsFake.stops) != 1 {
		t.Errorf("StopServiceDeployment called %d times; want once", len(ecsFake.stops))
	}

	// The math alarm fires too: recorded (its series is empty in moto; the reason speaks).
	setAlarmState(t, cw, "web-5xx-rate", "ALARM", "Threshold Crossed: 2 out of the last 3 datapoints [48.0 (20/11/26 10:04:00), 51.2 (20/11/26 10:03:00)] were greater than the threshold (5.0) (minimum 2 datapoints for OK -> ALARM transition).")
	job, err = w.Handle(ctx, workflow.Call{Action: "during", Job: job})
	if err != nil || len(job.Watch.Fired) != 2 || job.Watch.Fired[1].Breaching != 2 {
		t.Errorf("second alarm: %v, %+v", err, job.Watch.Fired)
	}
}

func equalFloats(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The post-deploy watch against moto: the window, a regression, and the rollback target
// read from the real ledger.
func TestMotoPostRegression(t *testing.T) {
	ctx := context.Background()
	cw := motoCloudWatch(t)
	alarmtest.PutRateAlarm(t, cw, "web-5xx-rate")
	led := motoLedger(t)
	now := time.Now().UTC()
	prev := result.Result{Version: 1, ID: "exec-1/prod/web", Outcome: result.Succeeded, Cluster: "prod", Service: "web",
		Image: result.Image{Repository: "web", Tag: "v1.2.2", Digest: "sha256:aaaaaaaaaaaaaaaaaaaaaaaa"}, StartedAt: now.Add(-2 * time.Hour), FinishedAt: now.Add(-110 * time.Minute)}
	cur := result.Result{Version: 1, ID: "exec-2/prod/web", Outcome: result.Succeeded, Cluster: "prod", Service: "web", Route: "web-prod",
		Image: result.Image{Repository: "web", Tag: "v1.2.3", Digest: "sha256:bbbbbbbbbbbbbbbbbbbbbbbb"}, StartedAt: now.Add(-20 * time.Minute), FinishedAt: now.Add(-time.Minute)}
	for _, r := range []result.Result{prev, cur} {
		if err := led.PutResult(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	w := New(cw, &fakeECS{}, led, Options{TimeScale: 0.01})
	job := testJob()
	job.Route.Alarms.PostDeployWatchMinutes = 10
	job.Route.Alarms.RollbackOnRegression = true
	job.Result = &cur

	job, err := w.Handle(ctx, workflow.Call{Action: "post", Job: job})
	if err != nil || job.Watch.PostDeployDone || job.Wait != 1 {
		t.Fatalf("first poll: %v, %+v, wait %d", err, job.Watch, job.Wait)
	}
	setAlarmState(t, cw, "web-5xx-rate", "ALARM", "Threshold Crossed: 1 out of the last 3 datapoints [12.5 (20/11/26 10:04:00)] was greater than the threshold (5.0) (minimum 1 datapoint for OK -> ALARM transition).")
	job, err = w.Handle(ctx, workflow.Call{Action: "post", Job: job})
	if err != nil {
		t.Fatal(err)
	}
	if !job.Watch.Regressed || job.Result.Outcome != result.Regressed || job.Result.FollowUpOf != cur.ID {
		t.Fatalf("watch %+v, result %+v", job.Watch, job.Result)
	}
	if s := job.Result.Reason.Summary; !strings.HasPrefix(s, "web-5xx-rate: 5xx rate 12.5% (threshold 5%) for 1 of 3 minutes, in ALARM since ") {
		t.Errorf("summary = %q", s)
	}
	req := job.Watch.RollbackRequest
	if req == nil || req.Request.Image.Digest != prev.Image.Digest || req.Request.FollowUpOf != cur.ID+"/regressed" {
		t.Errorf("rollback request = %+v", req)
	}
}
