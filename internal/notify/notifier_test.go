package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// chanSpec is one chat channel of a test's routes document.
type chanSpec struct {
	typ      string
	url      string // the webhook URL stored in the channel's secret
	outcomes []string
	signed   bool   // webhook: with a signing secret
	noSecret bool   // the secret ARN names a secret that does not exist
	secret   string // the secret string, when not the bare URL
}

// testEnv is a notifier wired to moto: the ledger in DynamoDB, the dead-letter queue and a
// queue subscribed to the Amazon Q Developer topic in SQS, secrets in Secrets Manager, the
// routes in SSM.
type testEnv struct {
	motoDeps
	n          *Notifier
	logs       *bytes.Buffer
	sleeps     *sleepRecorder
	signingKey string
}

// motoDeps is what the notifier writes to in moto: the ledger table, the dead-letter queue,
// and the Amazon Q Developer topic with a queue subscribed to it (raw delivery) to read back
// what it published. The names start with prefix.
type motoDeps struct {
	ledger       *ledger.Table
	table        string
	sqs          *sqs.Client
	sns          *sns.Client
	dlqURL       string
	chatTopicARN string
	chatQueueURL string
}

func newMotoDeps(t *testing.T, cfg aws.Config, prefix string) motoDeps {
	t.Helper()
	ctx := context.Background()
	d := motoDeps{table: prefix + "ledger", sqs: sqs.NewFromConfig(cfg), sns: sns.NewFromConfig(cfg)}
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(ctx, ledger.CreateTableInput(d.table)); err != nil {
		t.Fatal(err)
	}
	d.ledger = ledger.New(db, d.table)
	d.dlqURL = createQueue(t, d.sqs, prefix+"notify-dlq")
	d.chatQueueURL = createQueue(t, d.sqs, prefix+"chat-topic-subscriber")
	topic, err := d.sns.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(prefix + "greenlight-chat")})
	if err != nil {
		t.Fatal(err)
	}
	d.chatTopicARN = aws.ToString(topic.TopicArn)
	qa, err := d.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &d.chatQueueURL, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.sns.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: topic.TopicArn, Protocol: aws.String("sqs"), Endpoint: aws.String(qa.Attributes["QueueArn"]),
		Attributes: map[string]string{"RawMessageDelivery": "true"},
	}); err != nil {
		t.Fatal(err)
	}
	return d
}

const signingKeyValue = "whsec_0123456789abcdef0123456789"

// newEnv builds the environment; routeChannels lists the web-prod route's channels (nil:
// every channel in chans).
func newEnv(t *testing.T, chans map[string]chanSpec, routeChannels []string) *testEnv {
	t.Helper()
	ctx := context.Background()
	cfg := awstest.Config(t)
	e := &testEnv{motoDeps: newMotoDeps(t, cfg, ""), logs: &bytes.Buffer{}, sleeps: &sleepRecorder{}, signingKey: signingKeyValue}

	sm := secretsmanager.NewFromConfig(cfg)
	secretARN := func(name, value string) string {
		out, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String(name), SecretString: aws.String(value)})
		if err != nil {
			t.Fatal(err)
		}
		return aws.ToString(out.ARN)
	}
	doc := routes.Document{Version: routes.Version, Channels: map[string]routes.Channel{}}
	var names []string
	for name, c := range chans {
		ch := routes.Channel{Type: c.typ, Outcomes: c.outcomes}
		switch {
		case c.noSecret:
			ch.WebhookSecretArn = "arn:aws:secretsmanager:us-east-1:" + awstest.Account(t) + ":secret:greenlight/" + name + "-Missing"
		case c.secret != "":
			ch.WebhookSecretArn = secretARN("greenlight/"+name, c.secret)
		default:
			ch.WebhookSecretArn = secretARN("greenlight/"+name, c.url)
		}
		if c.signed {
			ch.SigningSecretArn = secretARN("greenlight/"+name+"-signing", signingKeyValue)
		}
		doc.Channels[name] = ch
		names = append(names, name)
	}
	if routeChannels == nil {
		routeChannels = names
	}
	doc.Routes = []routes.Route{
		{Name: "web-prod", Repository: "web", TagPattern: `v.*`, Environment: "prod", Targets: []routes.Target{{Cluster: "prod", Service: "web", Container: "app"}}, Notify: routeChannels},
		{Name: "api-prod", Repository: "api", TagPattern: `.*`, Targets: []routes.Target{{Cluster: "prod", Service: "api", Container: "app"}}},
	}
	store := routes.NewStore(ssm.NewFromConfig(cfg), "/greenlight/routes")
	if err := store.Save(ctx, &doc); err != nil {
		t.Fatal(err)
	}
	e.n = &Notifier{
		Routes:  store,
		Ledger:  e.ledger,
		Secrets: NewSecrets(sm, 0, nil),
		Poster:  testPoster(e.sleeps, PosterOptions{MaxAttempts: 3, AttemptTimeout: 300 * time.Millisecond, Reserve: 200 * time.Millisecond, MinAttempt: 50 * time.Millisecond}),
		SNS:     e.sns,
		SQS:     e.sqs,
		Config:  Config{ChatTopicARN: e.chatTopicARN, DLQURL: e.dlqURL},
		Now:     func() time.Time { return fixedClock },
		Log:     slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return e
}

func createQueue(t *testing.T, c *sqs.Client, name string) string {
	t.Helper()
	out, err := c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.QueueUrl)
}

// drain reads every message waiting in a queue.
func (e motoDeps) drain(t *testing.T, url string) []string {
	t.Helper()
	var out []string
	for {
		m, err := e.sqs.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: &url, MaxNumberOfMessages: 10, WaitTimeSeconds: 0})
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Messages) == 0 {
			return out
		}
		for _, msg := range m.Messages {
			out = append(out, aws.ToString(msg.Body))
			_, _ = e.sqs.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: &url, ReceiptHandle: msg.ReceiptHandle})
		}
	}
}

func (e *testEnv) states(t *testing.T, id string) map[string]string {
	t.Helper()
	st, err := e.ledger.Notifications(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func fixture(t *testing.T, name string) (result.Result, []byte) {
	t.Helper()
	return loadResult(t, name)
}

// TestNotifyEveryChannelType delivers one rollback to a channel of every type and to the
// Amazon Q Developer topic, and checks what each received.
func TestNotifyEveryChannelType(t *testing.T) {
	rcs := map[string]*receiver{}
	chans := map[string]chanSpec{}
	for _, typ := range []string{"slack", "teams", "googlechat", "discord", "webhook"} {
		rc := newReceiver(t, status(200, "ok"))
		rcs[typ] = rc
		chans[typ+"-prod"] = chanSpec{typ: typ, url: rc.URL + secretPath, signed: typ == "webhook"}
	}
	e := newEnv(t, chans, nil)
	r, raw := fixture(t, "rolled-back-smoke")
	if err := e.n.Notify(context.Background(), "msg-1", raw); err != nil {
		t.Fatalf("Notify() = %v", err)
	}
	for typ, rc := range rcs {
		bodies := rc.Bodies()
		if len(bodies) != 1 {
			t.Fatalf("%s receiver got %d messages; want 1", typ, len(bodies))
		}
		want := string(renderBody(t, typ, r, raw))
		if bodies[0] != want {
			t.Errorf("%s receiver got\n%s\nwant the %s rendering\n%s", typ, bodies[0], typ, want)
		}
	}
	// The generic webhook is signed over timestamp and body, and says which result it is.
	h := rcs["webhook"].heads[0]
	if err := Verify([]byte(signingKeyValue), h, []byte(rcs["webhook"].Bodies()[0]), fixedClock.Add(time.Minute), 5*time.Minute); err != nil {
		t.Errorf("Verify(webhook request) = %v", err)
	}
	if h.Get(ResultIDHeader) != r.ID || h.Get(OutcomeHeader) != "ROLLED_BACK" {
		t.Errorf("webhook headers = %v", h)
	}
	want := map[string]string{"slack-prod": "sent", "teams-prod": "sent", "googlechat-prod": "sent", "discord-prod": "sent", "webhook-prod": "sent", AmazonQChannel: "sent"}
	if got := e.states(t, r.ID); !equalMaps(got, want) {
		t.Errorf("ledger claims = %v; want %v", got, want)
	}
	chat := e.drain(t, e.chatQueueURL)
	if len(chat) != 1 {
		t.Fatalf("chat topic got %d messages; want 1", len(chat))
	}
	var q AmazonQMessage
	if err := json.Unmarshal([]byte(chat[0]), &q); err != nil {
		t.Fatal(err)
	}
	if q.Version != "1.0" || q.Source != "custom" || q.Content.TextType != "client-markdown" || !strings.Contains(q.Content.Description, r.Reason.Summary) {
		t.Errorf("Amazon Q message = %+v; want the custom-notification format with the reason", q)
	}
	if dl := e.drain(t, e.dlqURL); len(dl) != 0 {
		t.Errorf("dead-letter queue = %v; want empty", dl)
	}
}

func renderBody(t *testing.T, typ string, r result.Result, raw []byte) []byte {
	t.Helper()
	p, err := Renderers[typ].Render(Input{Result: r, Raw: raw})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Encode(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestNotifyDelivery runs one Slack channel against each kind of receiver.
func TestNotifyDelivery(t *testing.T) {
	tests := []struct {
		name      string
		script    []func(http.ResponseWriter, *http.Request)
		deadline  time.Duration // 0: no deadline
		wantRetry bool          // Notify returns a *RetryError
		wantState string        // ledger state; "" means no claim (released)
		wantCalls int           // 0: at least 2
		wantWaits []time.Duration
		wantDLQ   int
	}{
		{"success", []func(http.ResponseWriter, *http.Request){status(200, "ok")}, 0, false, "sent", 1, nil, 0},
		{"429 with Retry-After, then success", []func(http.ResponseWriter, *http.Request){status(429, "", "Retry-After", "2"), status(200, "ok")}, 0, false, "sent", 2, []time.Duration{2 * time.Second}, 0},
		{"500, then success", []func(http.ResponseWriter, *http.Request){status(500, "oops"), status(200, "ok")}, 0, false, "sent", 2, []time.Duration{time.Second}, 0},
		{"404 goes to the dead-letter queue", []func(http.ResponseWriter, *http.Request){status(404, "no_service")}, 0, false, "failed", 1, nil, 1},
		{"timeout is retried, then released", []func(http.ResponseWriter, *http.Request){hang(5 * time.Second)}, 2 * time.Second, true, "", 0, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.script...)
			e := newEnv(t, map[string]chanSpec{"slack-prod": {typ: "slack", url: rc.URL + secretPath}}, nil)
			r, raw := fixture(t, "rolled-back-alarm")
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			err := e.n.Notify(ctx, "msg-1", raw)
			var re *RetryError
			if errors.As(err, &re) != tt.wantRetry || (err != nil && !tt.wantRetry) {
				t.Fatalf("Notify() = %v; want a RetryError: %v", err, tt.wantRetry)
			}
			if tt.wantRetry {
				if _, ok := re.Failures["slack-prod"]; !ok || len(re.Failures) != 1 {
					t.Errorf("RetryError.Failures = %v; want slack-prod only", re.Failures)
				}
			}
			if got := e.states(t, r.ID)["slack-prod"]; got != tt.wantState {
				t.Errorf("ledger state of slack-prod = %q; want %q", got, tt.wantState)
			}
			calls := int(rc.calls.Load())
			if (tt.wantCalls > 0 && calls != tt.wantCalls) || (tt.wantCalls == 0 && calls < 2) {
				t.Errorf("receiver got %d requests; want %d (0: at least 2)", calls, tt.wantCalls)
			}
			if tt.wantWaits != nil && !equalDurations(e.sleeps.Waits(), tt.wantWaits) {
				t.Errorf("waits = %v; want %v", e.sleeps.Waits(), tt.wantWaits)
			}
			dl := e.drain(t, e.dlqURL)
			if len(dl) != tt.wantDLQ {
				t.Fatalf("dead-letter queue has %d messages; want %d: %v", len(dl), tt.wantDLQ, dl)
			}
			if tt.wantDLQ > 0 {
				var d DeadLetter
				if err := json.Unmarshal([]byte(dl[0]), &d); err != nil {
					t.Fatal(err)
				}
				var back result.Result
				if err := json.Unmarshal(d.Result, &back); err != nil || back.ID != r.ID {
					t.Errorf("dead letter's result = %s (%v); want the original result", d.Result, err)
				}
				if d.ResultID != r.ID || d.Channel != "slack-prod" || d.ChannelType != "slack" || d.Status != 404 || !strings.Contains(d.Error, "HTTP 404") || !strings.Contains(d.Error, "no_service") {
					t.Errorf("dead letter = %+v", d)
				}
				if strings.Contains(dl[0], "s3cr3tT0k3n") || strings.Contains(dl[0], rc.URL) {
					t.Errorf("dead letter contains the webhook URL: %s", dl[0])
				}
			}
			if !tt.wantRetry {
				return
			}
			// Lambda's retry: the receiver recovered, the released claim is taken again.
			rc.script = []func(http.ResponseWriter, *http.Request){status(200, "ok")}
			if err := e.n.Notify(context.Background(), "msg-1", raw); err != nil {
				t.Fatalf("retried Notify() = %v", err)
			}
			if got := e.states(t, r.ID)["slack-prod"]; got != "sent" {
				t.Errorf("after the retry, slack-prod is %q; want sent", got)
			}
		})
	}
}

// TestNotifyRedelivery: SNS delivers the same message twice (and once more later); every
// channel and the Amazon Q topic get exactly one message.
func TestNotifyRedelivery(t *testing.T) {
	slack, teams := newReceiver(t, status(200, "ok")), newReceiver(t, status(202, ""))
	e := newEnv(t, map[string]chanSpec{
		"slack-prod": {typ: "slack", url: slack.URL + secretPath},
		"teams-prod": {typ: "teams", url: teams.URL + secretPath},
	}, nil)
	_, raw := fixture(t, "failed")
	ev := events.SNSEvent{Records: []events.SNSEventRecord{{EventSource: "aws:sns", SNS: events.SNSEntity{MessageID: "m-1", Message: string(raw)}}}}
	done := make(chan error, 2)
	for range 2 { // concurrent duplicates
		go func() { done <- e.n.Handle(context.Background(), ev) }()
	}
	for range 2 {
		if err := <-done; err != nil {
			t.Fatalf("Handle() = %v", err)
		}
	}
	if err := e.n.Handle(context.Background(), ev); err != nil { // a late redelivery
		t.Fatalf("Handle() = %v", err)
	}
	if s, tm := len(slack.Bodies()), len(teams.Bodies()); s != 1 || tm != 1 {
		t.Errorf("slack got %d, teams got %d messages; want 1 each", s, tm)
	}
	if n := len(e.drain(t, e.chatQueueURL)); n != 1 {
		t.Errorf("chat topic got %d messages; want 1", n)
	}
	if !strings.Contains(e.logs.String(), "already delivered") {
		t.Errorf("the skipped redelivery is not logged")
	}
}

// TestNotifyOneChannelFailing: a permanent failure and a retryable one do not keep the
// healthy channel from getting its message.
func TestNotifyOneChannelFailing(t *testing.T) {
	good, gone, slow := newReceiver(t, status(200, "ok")), newReceiver(t, status(404, "channel_not_found")), newReceiver(t, hang(5*time.Second))
	e := newEnv(t, map[string]chanSpec{
		"discord-ops": {typ: "discord", url: good.URL + "/api/webhooks/1/tok"},
		"slack-old":   {typ: "slack", url: gone.URL + secretPath},
		"teams-slow":  {typ: "teams", url: slow.URL + "/workflows/abc"},
		"bad-secret":  {typ: "googlechat", noSecret: true},
	}, nil)
	r, raw := fixture(t, "rolled-back-smoke")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := e.n.Notify(ctx, "m-1", raw)
	var re *RetryError
	if !errors.As(err, &re) || len(re.Failures) != 1 || re.Failures["teams-slow"] == nil {
		t.Fatalf("Notify() = %v; want a RetryError for teams-slow only", err)
	}
	want := map[string]string{"discord-ops": "sent", "slack-old": "failed", "bad-secret": "failed", AmazonQChannel: "sent"}
	if got := e.states(t, r.ID); !equalMaps(got, want) {
		t.Errorf("ledger claims = %v; want %v", got, want)
	}
	if len(good.Bodies()) != 1 {
		t.Errorf("the healthy channel got %d messages; want 1", len(good.Bodies()))
	}
	dl := e.drain(t, e.dlqURL)
	if len(dl) != 2 {
		t.Fatalf("dead-letter queue = %v; want 2 messages (404 and bad secret)", dl)
	}
	joined := strings.Join(dl, "\n")
	if !strings.Contains(joined, "greenlight/bad-secret-Missing") || !strings.Contains(joined, "does not exist: create it with") {
		t.Errorf("the bad-secret dead letter does not name the secret and the fix: %s", joined)
	}
}

// TestNotifyRouting: outcome filters, SKIPPED by default, unknown routes and routes without
// channels.
func TestNotifyRouting(t *testing.T) {
	all, fails := newReceiver(t, status(200, "ok")), newReceiver(t, status(200, "ok"))
	e := newEnv(t, map[string]chanSpec{
		"slack-all":   {typ: "slack", url: all.URL + secretPath},
		"slack-fails": {typ: "slack", url: fails.URL + secretPath, outcomes: []string{"ROLLED_BACK", "FAILED", "REGRESSED"}},
	}, nil)
	ctx := context.Background()
	send := func(mutate func(*result.Result)) {
		t.Helper()
		r, _ := fixture(t, "succeeded")
		mutate(&r)
		raw, _ := json.Marshal(r)
		if err := e.n.Notify(ctx, "m-"+r.ID, raw); err != nil {
			t.Fatalf("Notify(%s) = %v", r.ID, err)
		}
	}
	send(func(r *result.Result) { r.ID = "ok-1" })
	send(func(r *result.Result) {
		r.ID = "rb-1"
		r.Outcome = result.RolledBack
		r.Reason = &result.Reason{Kind: result.KindAlarm, Summary: "alarm"}
	})
	send(func(r *result.Result) {
		r.ID = "skip-1"
		r.Outcome = result.Skipped
		r.Reason = &result.Reason{Kind: result.KindDuplicate, Summary: "dup"}
	})
	send(func(r *result.Result) { r.ID = "unknown-1"; r.Route = "no-such-route" })
	send(func(r *result.Result) { r.ID = "nochan-1"; r.Route = "api-prod"; r.Service = "api" })
	send(func(r *result.Result) { r.ID = "byservice-1"; r.Route = "" }) // found by cluster/service

	if n := len(all.Bodies()); n != 3 {
		t.Errorf("slack-all got %d messages; want 3 (ok-1, rb-1, byservice-1)", n)
	}
	if n := len(fails.Bodies()); n != 1 {
		t.Errorf("slack-fails got %d messages; want 1 (rb-1)", n)
	}
	// Amazon Q gets every result but SKIPPED, whatever the route.
	if n := len(e.drain(t, e.chatQueueURL)); n != 5 {
		t.Errorf("chat topic got %d messages; want 5", n)
	}
	logs := e.logs.String()
	for _, want := range []string{"is not in the routes document", "the route has no chat channels", "outcome filter skips"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q", want)
		}
	}
}

// TestNotifyMalformedMessage: a message that is not a result is dead-lettered, not retried.
func TestNotifyMalformedMessage(t *testing.T) {
	e := newEnv(t, map[string]chanSpec{}, []string{})
	if err := e.n.Notify(context.Background(), "m-bad", []byte(`{"hello": "world"}`)); err != nil {
		t.Fatalf("Notify(not a result) = %v; want nil", err)
	}
	dl := e.drain(t, e.dlqURL)
	if len(dl) != 1 || !strings.Contains(dl[0], "not a greenlight result") || !strings.Contains(dl[0], `\"hello\"`) {
		t.Errorf("dead-letter queue = %v; want the message with the reason", dl)
	}
}

// TestWebhookURLNeverLogged runs full notifications through the handler with known URLs
// (a success, a 404, a timeout, a refused connection) and asserts that no log record, dead
// letter or error contains any URL, path or token.
func TestWebhookURLNeverLogged(t *testing.T) {
	ok, gone, slow := newReceiver(t, status(200, "ok")), newReceiver(t, status(404, "no_service")), newReceiver(t, hang(5*time.Second))
	const token = "/services/T0SECRET/B0SECRET/zYxWvUtSrQpOnMlK"
	const query = "?sig=Q1u2E3r4Y5s6I7g8"
	urls := map[string]string{
		"slack-ok":       ok.URL + token,
		"slack-gone":     gone.URL + token + "x",
		"teams-slow":     slow.URL + "/workflows/SECRETFLOW/triggers/manual/paths/invoke" + query,
		"discord-nohost": "http://127.0.0.1:1/api/webhooks/12345/DISCORDSECRETTOKEN",
		"webhook-json":   ok.URL + "/hooks/JSONSECRET",
	}
	chans := map[string]chanSpec{}
	for name, u := range urls {
		typ := strings.SplitN(name, "-", 2)[0]
		c := chanSpec{typ: typ, url: u, signed: typ == "webhook"}
		if name == "webhook-json" {
			c.secret = `{"url": "` + u + `"}`
		}
		chans[name] = c
	}
	e := newEnv(t, chans, nil)
	_, raw := fixture(t, "rolled-back-smoke")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ev := events.SNSEvent{Records: []events.SNSEventRecord{{SNS: events.SNSEntity{MessageID: "m-1", Message: string(raw)}}}}
	err := e.n.Handle(ctx, ev)
	if err == nil {
		t.Fatal("Handle() = nil; want a RetryError (teams-slow, discord-nohost)")
	}
	logs := e.logs.String()
	dl := strings.Join(e.drain(t, e.dlqURL), "\n")
	if len(strings.Split(strings.TrimSpace(logs), "\n")) < 5 {
		t.Fatalf("too few log records to be meaningful:\n%s", logs)
	}
	for where, text := range map[string]string{"logs": logs, "dead letters": dl, "returned error": err.Error()} {
		for name, u := range urls {
			p := u[strings.Index(u, "//")+2:]
			p = p[strings.Index(p, "/"):]
			for _, leak := range []string{u, p, strings.SplitN(p, "?", 2)[0]} {
				if strings.Contains(text, leak) {
					t.Errorf("%s contain %s's URL part %q:\n%s", where, name, leak, text)
				}
			}
		}
		for _, leak := range []string{"T0SECRET", "zYxWvUtSrQpOnMlK", "SECRETFLOW", "Q1u2E3r4Y5s6I7g8", "DISCORDSECRETTOKEN", "JSONSECRET", signingKeyValue} {
			if strings.Contains(text, leak) {
				t.Errorf("%s contain %q", where, leak)
			}
		}
	}
	// The records still say what happened, with the host for debugging.
	for _, want := range []string{`"channel":"slack-gone"`, "HTTP 404", "timed out", `"msg":"delivered"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %s", line)
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

var _ = fmt.Sprintf
