package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// claims is the part of the ledger the notifier uses.
type claims interface {
	ClaimNotification(ctx context.Context, resultID, channel string, lease time.Duration) (bool, error)
	CompleteNotification(ctx context.Context, resultID, channel, state, detail string) error
	ReleaseNotification(ctx context.Context, resultID, channel string) error
}

// routesSource loads the routes document (routes.Store).
type routesSource interface {
	Load(ctx context.Context) (*routes.Document, error)
}

// secretSource resolves channel secrets (Secrets).
type secretSource interface {
	WebhookURL(ctx context.Context, arn string) (WebhookURL, error)
	SigningKey(ctx context.Context, arn string) (SigningKey, error)
}

// poster delivers one webhook (Poster).
type poster interface {
	Post(ctx context.Context, u WebhookURL, req Request) (Delivery, error)
}

type snsAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

type sqsAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, optFns ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Notifier delivers results to chat. Every field but Now is required.
type Notifier struct {
	Routes  routesSource
	Ledger  claims
	Secrets secretSource
	Poster  poster
	// SNS publishes the Amazon Q Developer message; SQS sends dead letters.
	SNS    snsAPI
	SQS    sqsAPI
	Config Config
	Now    func() time.Time
	Log    *slog.Logger
}

// bookkeeping bounds the ledger and dead-letter calls after a delivery; they run even when
// the invocation's context has just ended, so a claim is never left dangling by a timeout.
const bookkeeping = 5 * time.Second

// RetryError reports deliveries that failed in a way a later try may fix. Returning it from
// the Lambda makes Lambda retry the event (MaximumRetryAttempts), then hand it to the
// function's own dead-letter queue. Channels already delivered are skipped on the retry.
type RetryError struct {
	ResultID string
	Failures map[string]error // channel → why
}

func (e *RetryError) Error() string {
	names := make([]string, 0, len(e.Failures))
	for n := range e.Failures {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + ": " + e.Failures[n].Error()
	}
	id := e.ResultID
	if id == "" {
		id = "(unknown)"
	}
	return fmt.Sprintf("result %s: %d deliveries to retry: %s", id, len(names), strings.Join(parts, "; "))
}

// Handle is the Lambda handler: one SNS event, usually one record.
func (n *Notifier) Handle(ctx context.Context, ev events.SNSEvent) error {
	var errs []error
	for _, rec := range ev.Records {
		if err := n.Notify(ctx, rec.SNS.MessageID, []byte(rec.SNS.Message)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 1 {
		return errs[0]
	}
	return errors.Join(errs...)
}

// target is one place a result goes.
type target struct {
	name    string // channel name, or AmazonQChannel
	channel routes.Channel
}

// Notify delivers one published result (its JSON as the SNS message) to the Amazon Q
// Developer topic and to every channel of its route that wants its outcome. It returns a
// *RetryError when some delivery should be tried again; everything else is logged (and
// permanent failures are dead-lettered).
func (n *Notifier) Notify(ctx context.Context, messageID string, raw []byte) error {
	log := n.Log.With("sns_message_id", messageID)
	var r result.Result
	if err := json.Unmarshal(raw, &r); err != nil || r.ID == "" || !r.Outcome.Valid() {
		why := "missing id or unknown outcome"
		if err != nil {
			why = err.Error()
		}
		log.ErrorContext(ctx, "the message is not a greenlight result; sent to the dead-letter queue", "error", why)
		dl := DeadLetter{Error: "not a greenlight result: " + why, At: n.now(), SNSMessageID: messageID, Message: truncate(string(raw), 200<<10, byteLen)}
		if err := n.sendDeadLetter(ctx, dl); err != nil {
			log.ErrorContext(ctx, "could not send to the dead-letter queue", "error", err)
			return &RetryError{Failures: map[string]error{"dead-letter": err}}
		}
		return nil
	}
	log = log.With("result_id", r.ID, "cluster", r.Cluster, "service", r.Service, "outcome", string(r.Outcome), "route", r.Route)

	var targets []target
	if n.Config.ChatTopicARN != "" && Wants(n.Config.ChatOutcomes, r.Outcome) {
		targets = append(targets, target{name: AmazonQChannel})
	}
	failures := map[string]error{}
	chans, err := n.channels(ctx, log, r)
	if err != nil {
		// The Amazon Q message does not depend on the routes: send it anyway.
		log.ErrorContext(ctx, "cannot read the routes; chat channels will be retried", "error", err)
		failures["routes"] = err
	}
	targets = append(targets, chans...)
	if len(targets) == 0 {
		if err == nil {
			log.InfoContext(ctx, "no chat destination wants this result")
		}
		return n.retryError(r.ID, failures)
	}

	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Go(func() {
			var err error
			if t.name == AmazonQChannel {
				err = n.deliverAmazonQ(ctx, log, r)
			} else {
				err = n.deliverChannel(ctx, log, r, raw, messageID, t.name, t.channel)
			}
			if err != nil {
				mu.Lock()
				failures[t.name] = err
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return n.retryError(r.ID, failures)
}

func (n *Notifier) retryError(id string, failures map[string]error) error {
	if len(failures) == 0 {
		return nil
	}
	return &RetryError{ResultID: id, Failures: failures}
}

// channels returns the route's channels that want the result. An unknown route, or one
// without channels, is logged and yields none.
func (n *Notifier) channels(ctx context.Context, log *slog.Logger, r result.Result) ([]target, error) {
	doc, err := n.Routes.Load(ctx)
	if err != nil {
		return nil, err
	}
	var route routes.Route
	var ok bool
	if r.Route != "" {
		route, ok = doc.Route(r.Route)
	} else {
		route, _, ok = doc.RouteFor(r.Cluster, r.Service)
	}
	if !ok {
		log.WarnContext(ctx, "the result's route is not in the routes document; no chat channel gets it")
		return nil, nil
	}
	if len(route.Notify) == 0 {
		log.InfoContext(ctx, "the route has no chat channels")
		return nil, nil
	}
	var out []target
	for _, name := range route.Notify {
		ch, ok := doc.Channels[name]
		switch {
		case !ok:
			log.WarnContext(ctx, "the route names a channel the document does not define", "channel", name)
		case !Wants(ch.Outcomes, r.Outcome):
			log.DebugContext(ctx, "the channel's outcome filter skips this result", "channel", name, "outcomes", ch.Outcomes)
		default:
			out = append(out, target{name: name, channel: ch})
		}
	}
	return out, nil
}

// lease is how long a claim holds off other deliveries: the invocation's remaining time and
// a margin, so a crashed or timed-out delivery can be retried by Lambda's next attempt.
func (n *Notifier) lease(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return dl.Sub(n.now()) + 30*time.Second
	}
	return 2 * time.Minute
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

func (n *Notifier) deliverChannel(ctx context.Context, log *slog.Logger, r result.Result, raw []byte, messageID, name string, ch routes.Channel) error {
	log = log.With("channel", name, "channel_type", ch.Type)
	claimed, err := n.Ledger.ClaimNotification(ctx, r.ID, name, n.lease(ctx))
	if err != nil {
		log.ErrorContext(ctx, "cannot claim the delivery in the ledger", "error", err)
		return err
	}
	if !claimed {
		log.InfoContext(ctx, "already delivered (or being delivered) to this channel; not sent again")
		return nil
	}
	var d Delivery
	req, u, err := n.prepare(ctx, r, raw, ch)
	if err == nil {
		d, err = n.Poster.Post(ctx, u, req)
	}
	return n.settle(ctx, log, settlement{result: r, raw: raw, messageID: messageID, channel: name, channelType: ch.Type, delivery: d, err: err, url: u})
}

// prepare resolves the channel's secrets and renders its payload.
func (n *Notifier) prepare(ctx context.Context, r result.Result, raw []byte, ch routes.Channel) (Request, WebhookURL, error) {
	rd, err := RendererFor(ch.Type)
	if err != nil {
		return Request{}, WebhookURL{}, permanent(err)
	}
	u, err := n.Secrets.WebhookURL(ctx, ch.WebhookSecretArn)
	if err != nil {
		return Request{}, WebhookURL{}, err
	}
	payload, err := rd.Render(Input{Result: r, Raw: raw})
	if err != nil {
		return Request{}, u, permanent(fmt.Errorf("render %s: %w", ch.Type, err))
	}
	body, err := Encode(payload)
	if err != nil {
		return Request{}, u, permanent(fmt.Errorf("encode %s: %w", ch.Type, err))
	}
	req := Request{Body: body, Header: http.Header{}}
	if ch.Type == "webhook" {
		var key SigningKey
		if ch.SigningSecretArn != "" {
			if key, err = n.Secrets.SigningKey(ctx, ch.SigningSecretArn); err != nil {
				return Request{}, u, err
			}
		}
		req.Header = SignatureHeaders(key, body, n.now(), r.ID, string(r.Outcome))
	}
	return req, u, nil
}

type settlement struct {
	result      result.Result
	raw         []byte
	messageID   string
	channel     string
	channelType string
	delivery    Delivery
	err         error
	url         WebhookURL
}

// settle records how a delivery ended: sent; failed for good (dead-lettered); or released
// for a later try, which it returns as an error.
func (n *Notifier) settle(ctx context.Context, log *slog.Logger, s settlement) error {
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bookkeeping)
	defer cancel()
	id := s.result.ID
	if s.err == nil {
		detail := fmt.Sprintf("HTTP %d after %d attempt(s)", s.delivery.Status, s.delivery.Attempts)
		if s.delivery.Status == 0 {
			detail = "published"
		}
		if err := n.Ledger.CompleteNotification(bctx, id, s.channel, ledger.NotificationSent, detail); err != nil {
			// The message is out; a redelivery within the claim's lease is still deduplicated.
			log.ErrorContext(ctx, "delivered, but the ledger could not record it", "error", err)
		}
		if s.delivery.Attempts == 0 { // published to SNS, not posted
			log.InfoContext(ctx, "delivered")
		} else {
			log.InfoContext(ctx, "delivered", "status", s.delivery.Status, "attempts", s.delivery.Attempts, "waits", durations(s.delivery.Waits))
		}
		return nil
	}
	msg := s.url.redactIn(s.err.Error())
	if IsPermanent(s.err) {
		dl := DeadLetter{
			ResultID: id, Channel: s.channel, ChannelType: s.channelType, Error: msg,
			At: n.now(), SNSMessageID: s.messageID, Result: validJSON(s.raw),
		}
		var se *StatusError
		if errors.As(s.err, &se) {
			dl.Status = se.Status
		}
		if err := n.sendDeadLetter(bctx, dl); err != nil {
			log.ErrorContext(ctx, "delivery failed for good, and the dead-letter queue refused it; released for a retry", "error", msg, "dead_letter_error", err)
			n.release(bctx, log, id, s.channel)
			return fmt.Errorf("%s; dead-letter queue: %w", msg, err)
		}
		if err := n.Ledger.CompleteNotification(bctx, id, s.channel, ledger.NotificationFailed, msg); err != nil {
			log.ErrorContext(ctx, "could not record the failed delivery in the ledger", "error", err)
		}
		log.ErrorContext(ctx, "delivery failed for good; sent to the dead-letter queue", "error", msg, "status", dl.Status, "attempts", s.delivery.Attempts)
		return nil
	}
	n.release(bctx, log, id, s.channel)
	log.WarnContext(ctx, "delivery failed; released for Lambda's retry", "error", msg, "attempts", s.delivery.Attempts, "waits", durations(s.delivery.Waits))
	return errors.New(msg)
}

func (n *Notifier) release(ctx context.Context, log *slog.Logger, id, channel string) {
	if err := n.Ledger.ReleaseNotification(ctx, id, channel); err != nil {
		log.ErrorContext(ctx, "could not release the claim; the next try waits for its lease", "error", err)
	}
}

// deliverAmazonQ publishes the custom notification to the chat topic, once per result.
func (n *Notifier) deliverAmazonQ(ctx context.Context, log *slog.Logger, r result.Result) error {
	log = log.With("channel", AmazonQChannel, "channel_type", "amazon-q")
	claimed, err := n.Ledger.ClaimNotification(ctx, r.ID, AmazonQChannel, n.lease(ctx))
	if err != nil {
		log.ErrorContext(ctx, "cannot claim the delivery in the ledger", "error", err)
		return err
	}
	if !claimed {
		log.InfoContext(ctx, "already published to the Amazon Q Developer topic; not sent again")
		return nil
	}
	p, _ := AmazonQ{}.Render(Input{Result: r})
	body, err := Encode(p)
	if err == nil {
		_, err = n.SNS.Publish(ctx, &sns.PublishInput{
			TopicArn:          aws.String(n.Config.ChatTopicARN),
			Message:           aws.String(string(body)),
			MessageAttributes: messageAttributes(r),
		})
		err = classifyPublishError(n.Config.ChatTopicARN, err)
	} else {
		err = permanent(err)
	}
	raw, _ := json.Marshal(r)
	return n.settle(ctx, log, settlement{result: r, raw: raw, channel: AmazonQChannel, channelType: "amazon-q", err: err})
}

// messageAttributes are the result topic's (result.Attributes), so a subscription filter
// policy on the chat topic (for example outcome ≠ SUCCEEDED) works the same way.
func messageAttributes(r result.Result) map[string]snstypes.MessageAttributeValue {
	attrs := map[string]snstypes.MessageAttributeValue{}
	for k, v := range r.Attributes() {
		attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return attrs
}

// classifyPublishError marks SNS errors no retry can fix as permanent.
func classifyPublishError(topic string, err error) error {
	if err == nil {
		return nil
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "AuthorizationError", "InvalidParameter", "InvalidParameterValue",
			"KMSDisabled", "KMSAccessDenied", "KMSNotFound", "KMSInvalidState", "InvalidSecurity":
			return permanent(fmt.Errorf("publish to the Amazon Q Developer topic %s: %w (check %s and the notifier's sns:Publish permission)", topic, err, ChatTopicEnv))
		}
	}
	return fmt.Errorf("publish to the Amazon Q Developer topic %s: %w", topic, err)
}

func durations(ds []time.Duration) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond).String()
	}
	return out
}

func validJSON(b []byte) json.RawMessage {
	if json.Valid(b) {
		return json.RawMessage(b)
	}
	q, _ := json.Marshal(string(b))
	return q
}
