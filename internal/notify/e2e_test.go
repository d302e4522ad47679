package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// snsHTTPNotification is what SNS (and moto) POSTs to an HTTP subscription.
type snsHTTPNotification struct {
	Type              string
	MessageId         string
	TopicArn          string
	Subject           string
	Message           string
	Timestamp         string
	SignatureVersion  string
	Signature         string
	SigningCertURL    string
	UnsubscribeURL    string
	MessageAttributes map[string]any
}

// toLambdaEvent turns an HTTP notification into the event Lambda's SNS trigger delivers.
func (n snsHTTPNotification) toLambdaEvent(subscriptionARN string) (events.SNSEvent, error) {
	ts, err := time.Parse(time.RFC3339Nano, n.Timestamp)
	if err != nil {
		return events.SNSEvent{}, err
	}
	return events.SNSEvent{Records: []events.SNSEventRecord{{
		EventVersion: "1.0", EventSource: "aws:sns", EventSubscriptionArn: subscriptionARN,
		SNS: events.SNSEntity{
			Type: n.Type, MessageID: n.MessageId, TopicArn: n.TopicArn, Subject: n.Subject, Message: n.Message,
			Timestamp: ts, SignatureVersion: n.SignatureVersion, Signature: n.Signature,
			SigningCertURL: n.SigningCertURL, UnsubscribeURL: n.UnsubscribeURL, MessageAttributes: n.MessageAttributes,
		},
	}}}, nil
}

// TestEndToEnd: a result published to the result topic in moto reaches an HTTP subscription
// (a local receiver), which invokes the real notify bootstrap under aws-lambda-rie with the
// Lambda SNS event; the function reads its routes from moto SSM, its webhook URL from moto
// Secrets Manager, claims in moto DynamoDB, posts to a local Slack-style receiver and
// publishes the Amazon Q Developer message to a moto topic. Publishing the same result again
// posts nothing new.
func TestEndToEnd(t *testing.T) {
	m := awstest.Moto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The function under RIE reaches moto through AWS_ENDPOINT_URL alone, so it acts in
	// moto's default account: the resources live there, under names of their own.
	cfg := awstest.DefaultAccountConfig(t)

	slack := newReceiver(t, status(200, "ok"))
	const hookPath = "/services/TE2E/BE2E/e2eS3cretT0ken"

	e := newMotoDeps(t, cfg, "e2e-")
	sec, err := secretsmanager.NewFromConfig(cfg).CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("greenlight/e2e-slack"), SecretString: aws.String(slack.URL + hookPath)})
	if err != nil {
		t.Fatal(err)
	}
	doc := &routes.Document{Version: routes.Version,
		Routes: []routes.Route{{Name: "web-prod", Repository: "web", TagPattern: `v.*`, Environment: "prod",
			Targets: []routes.Target{{Cluster: "prod", Service: "web", Container: "app"}}, Notify: []string{"slack-prod"}}},
		Channels: map[string]routes.Channel{"slack-prod": {Type: "slack", WebhookSecretArn: aws.ToString(sec.ARN)}},
	}
	if err := routes.NewStore(ssm.NewFromConfig(cfg), "/greenlight/e2e-routes").Save(ctx, doc); err != nil {
		t.Fatal(err)
	}

	// The notifier: the real bootstrap under aws-lambda-rie.
	fn := awstest.StartFunction(t, localaws.FunctionOptions{Package: "./functions/notify", Name: "notify", Timeout: 30 * time.Second, Env: []string{
		"AWS_ENDPOINT_URL=" + m.URL,
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"ROUTES_PARAMETER=/greenlight/e2e-routes",
		"LEDGER_TABLE=" + e.table,
		"CHAT_TOPIC_ARN=" + e.chatTopicARN,
		"DLQ_URL=" + e.dlqURL,
	}})

	// The result topic, with an HTTP subscription to a local receiver that hands each
	// notification to the test.
	notes := make(chan snsHTTPNotification, 4)
	sub := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var n snsHTTPNotification
		if err := json.Unmarshal(b, &n); err != nil {
			t.Errorf("SNS HTTP delivery is not a notification: %v: %s", err, b)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		notes <- n
	}))
	defer sub.Close()
	resultTopic := createTopic(t, e.sns, "e2e-greenlight-results")
	subOut, err := e.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: &resultTopic, Protocol: aws.String("http"), Endpoint: aws.String(sub.URL + "/sns")})
	if err != nil {
		t.Fatal(err)
	}

	r, raw := loadResult(t, "rolled-back-smoke")
	publishAndInvoke := func() {
		t.Helper()
		// As the deploy core publishes: the Result JSON, a subject, and the filter attributes.
		if _, err := e.sns.Publish(ctx, &sns.PublishInput{TopicArn: &resultTopic, Message: aws.String(string(raw)),
			Subject: aws.String("greenlight: prod/web ROLLED_BACK (web:v1.4.2)"), MessageAttributes: messageAttributes(r)}); err != nil {
			t.Fatal(err)
		}
		var n snsHTTPNotification
		select {
		case n = <-notes:
		case <-time.After(20 * time.Second):
			t.Fatal("moto did not deliver the result to the HTTP subscription")
		}
		if len(n.MessageAttributes) == 0 {
			// moto 5.2.1 drops message attributes on HTTP deliveries (sns/models.py calls
			// get_post_data without them); SNS and Lambda's SNS events carry them as
			// {"Type", "Value"}. Put back what was published; the notifier does not need them.
			n.MessageAttributes = map[string]any{}
			for k, v := range messageAttributes(r) {
				n.MessageAttributes[k] = map[string]any{"Type": aws.ToString(v.DataType), "Value": aws.ToString(v.StringValue)}
			}
		}
		if n.Message != string(raw) || n.Subject == "" || n.TopicArn != resultTopic {
			t.Errorf("SNS HTTP delivery = %+v; want the published result", n)
		}
		ev, err := n.toLambdaEvent(aws.ToString(subOut.SubscriptionArn))
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(ev)
		out, err := fn.Invoke(ctx, payload)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(out), "errorMessage") {
			t.Fatalf("notify returned an error: %s\n%s", out, fn.LogTail(30))
		}
	}

	publishAndInvoke()
	bodies := slack.Bodies()
	if len(bodies) != 1 {
		t.Fatalf("the Slack receiver got %d messages; want 1\n%s", len(bodies), fn.LogTail(30))
	}
	if want := string(renderBody(t, "slack", r, raw)); bodies[0] != want {
		t.Errorf("the Slack receiver got\n%s\nwant\n%s", bodies[0], want)
	}
	var sm SlackMessage
	if err := json.Unmarshal([]byte(bodies[0]), &sm); err != nil || !strings.HasPrefix(sm.Blocks[0].Text.Text, "⏪ Rolled back: web (prod)") || sm.Blocks[1].Text.Text != r.Reason.Summary {
		t.Errorf("Slack message starts %+v; want the outcome, then the reason's summary", sm.Blocks[:2])
	}
	claims, err := e.ledger.Notifications(ctx, r.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !equalMaps(claims, map[string]string{"slack-prod": "sent", AmazonQChannel: "sent"}) {
		t.Errorf("ledger claims = %v; want slack-prod and amazon-q sent", claims)
	}

	publishAndInvoke() // the same result again: nothing new
	if n := len(slack.Bodies()); n != 1 {
		t.Errorf("after a second publication the Slack receiver has %d messages; want 1", n)
	}
	if chat := e.drain(t, e.chatQueueURL); len(chat) != 1 || !strings.Contains(chat[0], `"source":"custom"`) {
		t.Errorf("the Amazon Q Developer topic got %v; want one custom notification", chat)
	}
	if d := e.drain(t, e.dlqURL); len(d) != 0 {
		t.Errorf("dead-letter queue = %v; want empty", d)
	}
	logs, _ := os.ReadFile(fn.LogPath())
	if strings.Contains(string(logs), hookPath) || strings.Contains(string(logs), "e2eS3cretT0ken") {
		t.Errorf("the function's log contains the webhook URL:\n%s", logs)
	}
	if !strings.Contains(string(logs), `"message":"delivered"`) || !strings.Contains(string(logs), "already delivered") {
		t.Errorf("the function's log lacks the delivery and the skipped redelivery:\n%s", logs)
	}
	if testing.Verbose() {
		t.Logf("function log:\n%s", logs)
	}
}

func createTopic(t *testing.T, c *sns.Client, name string) string {
	t.Helper()
	out, err := c.CreateTopic(context.Background(), &sns.CreateTopicInput{Name: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.TopicArn)
}
