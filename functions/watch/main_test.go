package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func readEvent(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "events", "watch", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSampleEventsDecode pins events/watch to workflow.Call: unknown fields are rejected,
// and each sample names a watch action and a job.
func TestSampleEventsDecode(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "events", "watch", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"preflight.json": false, "during-bake.json": false, "during-ecs-rolled-back.json": false, "post.json": false}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var c workflow.Call
		if err := dec.Decode(&c); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		switch c.Action {
		case workflow.ActionPreflight, workflow.ActionDuring, workflow.ActionPost:
		default:
			t.Errorf("%s: action %q is not a watch action", f, c.Action)
		}
		if c.Job.ID == "" || c.Job.Target.Key() == "/" || c.Job.Route.Alarms == nil {
			t.Errorf("%s: the job needs an id, a target and route alarms", f)
		}
		if c.Action == workflow.ActionDuring && (c.Job.Deployment == nil || c.Job.Deployment.ServiceDeploymentARN == "") {
			t.Errorf("%s: a during call needs the deployment as check left it", f)
		}
		if c.Action == workflow.ActionPost && (c.Job.Result == nil || c.Job.Result.Outcome != "SUCCEEDED") {
			t.Errorf("%s: a post call needs the SUCCEEDED result", f)
		}
		want[filepath.Base(f)] = true
	}
	for name, seen := range want {
		if !seen {
			t.Errorf("events/watch/%s is missing", name)
		}
	}
}

func TestBuildRejectsBadConfig(t *testing.T) {
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "LEDGER_TABLE"},
		{map[string]string{"LEDGER_TABLE": "l", "GREENLIGHT_TIME_SCALE": "fast"}, "GREENLIGHT_TIME_SCALE"},
		{map[string]string{"LEDGER_TABLE": "l", "GREENLIGHT_CLOUDWATCH_PROTOCOL": "cbor"}, "GREENLIGHT_CLOUDWATCH_PROTOCOL"},
	}
	for _, tt := range tests {
		if _, err := build(context.Background(), env(tt.env), log); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("build(%v) = %v; want an error naming %s", tt.env, err, tt.want)
		}
	}
}

// TestHandlerAgainstMoto runs the wired handler, as lambda.Start would, on the sample
// events against moto: the CloudWatch protocol override from the environment, the ledger
// in DynamoDB, errors through the Boundary.
func TestHandlerAgainstMoto(t *testing.T) {
	ctx := context.Background()
	m := awstest.Moto(t)
	t.Setenv("AWS_ENDPOINT_URL", m.URL)
	t.Setenv("AWS_REGION", localaws.Region)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	vars := map[string]string{"LEDGER_TABLE": "watch-ledger", "GREENLIGHT_CLOUDWATCH_PROTOCOL": "query", "GREENLIGHT_TIME_SCALE": "0.01"}

	cfg := awstest.DefaultAccountConfig(t)
	if _, err := dynamodb.NewFromConfig(cfg).CreateTable(ctx, ledger.CreateTableInput("watch-ledger")); err != nil {
		t.Fatal(err)
	}
	cw, err := awsenv.CloudWatch(cfg, env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{
		AlarmName: aws.String("web-5xx-rate"), Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
		Statistic: cwtypes.StatisticSum, Period: aws.Int32(60), EvaluationPeriods: aws.Int32(3), Threshold: aws.Float64(10),
		ComparisonOperator: cwtypes.ComparisonOperatorGreaterThanThreshold,
	}); err != nil {
		t.Fatal(err)
	}

	var logs bytes.Buffer
	h, err := build(ctx, env(vars), slog.New(slog.NewJSONHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	handler := lambda.NewHandlerWithOptions(h, lambda.WithDisallowUnknownFields(true))
	invoke := func(name string) workflow.Job {
		t.Helper()
		out, err := handler.Invoke(ctx, readEvent(t, name))
		if err != nil {
			t.Fatalf("%s: %v\nlogs: %s", name, err, logs.String())
		}
		var job workflow.Job
		if err := json.Unmarshal(out, &job); err != nil {
			t.Fatalf("%s: output %s: %v", name, out, err)
		}
		return job
	}

	if job := invoke("preflight.json"); job.Preflight == nil || job.Preflight.Blocked {
		t.Errorf("preflight with the alarm OK: %+v", job.Preflight)
	}
	if job := invoke("during-bake.json"); job.Watch != nil && (job.Watch.RollbackRequested || len(job.Watch.Fired) > 0) {
		t.Errorf("during with the alarm OK: %+v", job.Watch)
	}
	if job := invoke("during-ecs-rolled-back.json"); len(job.Watch.Fired) != 1 || job.Watch.RollbackRequested || job.Watch.Fired[0].Stage != "BAKE_TIME" {
		t.Errorf("during, ECS rolled back by itself: %+v", job.Watch)
	}
	post := invoke("post.json")
	if post.Watch == nil || post.Watch.PostDeployUntil.IsZero() || post.Watch.PostDeployDone || post.Wait != 1 {
		t.Errorf("post, first poll: %+v, wait %d", post.Watch, post.Wait)
	}

	if _, err := cw.SetAlarmState(ctx, &cloudwatch.SetAlarmStateInput{AlarmName: aws.String("web-5xx-rate"), StateValue: cwtypes.StateValueAlarm,
		StateReason: aws.String("Threshold Crossed: 1 datapoint [25.0 (20/11/26 10:04:00)] was greater than the threshold (10.0).")}); err != nil {
		t.Fatal(err)
	}
	job := invoke("preflight.json")
	if !job.Preflight.Blocked || len(job.Preflight.Firing) != 1 {
		t.Fatalf("preflight with the alarm in ALARM: %+v", job.Preflight)
	}
	if s := job.Preflight.Firing[0].Summary(); !strings.HasPrefix(s, "web-5xx-rate: HTTPCode_Target_5XX_Count Sum 25 (threshold 10) for 1 of 3 minutes, in ALARM since ") {
		t.Errorf("Summary() = %q", s)
	}

	// A bad action comes back as a named error.
	_, err = handler.Invoke(ctx, []byte(`{"action":"sleep","job":{"id":"x"}}`))
	if err == nil || !strings.Contains(err.Error(), workflow.ErrInput) {
		t.Errorf("bad action: %v; want %s", err, workflow.ErrInput)
	}
}
