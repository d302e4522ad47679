package publish_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/publish"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// TestPublishThroughMoto publishes one result and reads it back where each consumer would:
// the SNS topic through an SQS subscription (with the message attributes filter policies
// use), the EventBridge bus through a rule on source greenlight, the ledger's history, and
// the embedded-metric-format lines.
func TestPublishThroughMoto(t *testing.T) {
	ctx := context.Background()
	cfg := awstest.Config(t)
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(ctx, ledger.CreateTableInput("ledger")); err != nil {
		t.Fatal(err)
	}
	snsc, sqsc, evc := sns.NewFromConfig(cfg), sqs.NewFromConfig(cfg), eventbridge.NewFromConfig(cfg)
	topic, err := snsc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("results")})
	if err != nil {
		t.Fatal(err)
	}
	queue := func(name string) (url, arn string) {
		q, err := sqsc.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
		if err != nil {
			t.Fatal(err)
		}
		a, err := sqsc.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
		if err != nil {
			t.Fatal(err)
		}
		return *q.QueueUrl, a.Attributes["QueueArn"]
	}
	snsURL, snsARN := queue("from-sns")
	if _, err := snsc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(snsARN)}); err != nil {
		t.Fatal(err)
	}
	evURL, evARN := queue("from-events")
	if _, err := evc.PutRule(ctx, &eventbridge.PutRuleInput{Name: aws.String("results"), EventPattern: aws.String(`{"source":["greenlight"],"detail-type":["Greenlight Deployment Result"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := evc.PutTargets(ctx, &eventbridge.PutTargetsInput{Rule: aws.String("results"), Targets: []ebtypes.Target{{Id: aws.String("q"), Arn: aws.String(evARN)}}}); err != nil {
		t.Fatal(err)
	}

	var emf bytes.Buffer
	led := ledger.New(db, "ledger")
	p := &publish.Publisher{Ledger: led, SNS: snsc, Events: evc, TopicARN: *topic.TopicArn, BusName: "default", Metrics: &emf}
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	r := result.Result{Version: 1, ID: "e1/prod/web", Outcome: result.RolledBack, Route: "web-prod", Environment: "prod", Cluster: "prod", Service: "web",
		Image: result.Image{Repository: "web", Tag: "v2", Digest: "sha256:" + strings.Repeat("b", 64)}, StartedAt: t0, FinishedAt: t0.Add(time.Minute), DurationSeconds: 60,
		Reason: &result.Reason{Kind: result.KindSmokeTestFailed, Summary: "GET /health on 10.0.1.23:8080 returned 500 'FAIL' in 12 ms"}}
	if err := p.Publish(ctx, r); err != nil {
		t.Fatal(err)
	}

	receive := func(url string) sqstypes.Message {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(url), WaitTimeSeconds: 2, MaxNumberOfMessages: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) != 1 {
			t.Fatalf("queue %s got %d messages; want exactly 1", url, len(out.Messages))
		}
		return out.Messages[0]
	}
	var env struct {
		Message           string
		Subject           string
		MessageAttributes map[string]struct{ Type, Value string }
	}
	if err := json.Unmarshal([]byte(*receive(snsURL).Body), &env); err != nil {
		t.Fatal(err)
	}
	var got result.Result
	if err := json.Unmarshal([]byte(env.Message), &got); err != nil {
		t.Fatalf("SNS message is not a result: %v\n%s", err, env.Message)
	}
	if got.ID != r.ID || got.Outcome != result.RolledBack || got.Reason == nil || got.Reason.Summary != r.Reason.Summary {
		t.Errorf("result read back through SNS = %+v", got)
	}
	for k, want := range map[string]string{"outcome": "ROLLED_BACK", "cluster": "prod", "service": "web", "route": "web-prod", "reasonKind": "SMOKE_TEST_FAILED"} {
		if env.MessageAttributes[k].Value != want {
			t.Errorf("SNS attribute %s = %q; want %q", k, env.MessageAttributes[k].Value, want)
		}
	}
	if env.Subject != "greenlight: prod/web ROLLED_BACK (web:v2)" {
		t.Errorf("SNS subject = %q", env.Subject)
	}

	var ev struct {
		Source     string        `json:"source"`
		DetailType string        `json:"detail-type"`
		Detail     result.Result `json:"detail"`
	}
	if err := json.Unmarshal([]byte(*receive(evURL).Body), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Source != "greenlight" || ev.DetailType != publish.EventDetailType || ev.Detail.ID != r.ID {
		t.Errorf("EventBridge event = %+v", ev)
	}

	hist, err := led.History(ctx, "prod/web", 0)
	if err != nil || len(hist) != 1 || hist[0].Outcome != result.RolledBack {
		t.Fatalf("ledger history = %+v, %v", hist, err)
	}
	if !strings.Contains(emf.String(), `"Namespace":"Greenlight"`) || !strings.Contains(emf.String(), `"Rollbacks"`) {
		t.Errorf("metrics lines = %s; want EMF with a rollback", emf.String())
	}
}
