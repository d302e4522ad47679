package rehearsal

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// putImage pushes an image manifest to moto's ECR and returns its digest. moto computes the
// digest from the layers, so each image gets layers of its own.
func (l *local) putImage(ctx context.Context, tag, salt string) (string, error) {
	layer := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("layer/"+salt+"/"+tag+"/"+time.Now().Format(time.RFC3339Nano))))
	config := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("config/"+salt+"/"+tag)))
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
		"config": map[string]any{"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469, "digest": config},
		"layers": []any{map[string]any{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2811478, "digest": layer}},
	})
	out, err := l.c.ecr.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repository), ImageManifest: aws.String(string(m)), ImageTag: aws.String(tag)})
	if err != nil {
		return "", fmt.Errorf("ECR PutImage %s:%s: %w", repository, tag, err)
	}
	return aws.ToString(out.Image.ImageId.ImageDigest), nil
}

// pushEvent sends the "ECR Image Action" event ECR emits after a push (moto's ECR emits
// none); the template's rule starts the state machine from it.
func (l *local) pushEvent(ctx context.Context, tag, digest string) error {
	detail, _ := json.Marshal(map[string]string{"action-type": "PUSH", "result": "SUCCESS", "repository-name": repository, "image-digest": digest, "image-tag": tag})
	out, err := l.c.events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("aws.ecr"), DetailType: aws.String("ECR Image Action"), Detail: aws.String(string(detail)),
		Resources: []string{"arn:aws:ecr:" + region + ":" + account + ":repository/" + repository},
	}}})
	if err != nil {
		return fmt.Errorf("EventBridge PutEvents: %w", err)
	}
	if out.FailedEntryCount > 0 {
		return fmt.Errorf("EventBridge PutEvents: %d entries failed", out.FailedEntryCount)
	}
	return nil
}

// executions lists the state machine's executions.
func (l *local) executions(ctx context.Context, sm string) (map[string]bool, error) {
	m := map[string]bool{}
	in := &sfn.ListExecutionsInput{StateMachineArn: aws.String(sm)}
	for {
		out, err := l.c.sfn.ListExecutions(ctx, in)
		if err != nil {
			return nil, err
		}
		for _, x := range out.Executions {
			m[aws.ToString(x.ExecutionArn)] = true
		}
		if out.NextToken == nil {
			return m, nil
		}
		in.NextToken = out.NextToken
	}
}

// newExecution waits for an execution not in before.
func (l *local) newExecution(ctx context.Context, sm string, before map[string]bool) (string, error) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		now, err := l.executions(ctx, sm)
		if err != nil {
			return "", err
		}
		for arn := range now {
			if !before[arn] {
				return arn, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("the ECR push rule started no Step Functions execution within 10s (is the rule's pattern matching the event?)")
}

// results reads the result topic through an SQS subscription, as any subscriber would.
type results struct {
	mu  sync.Mutex
	got map[string]result.Result // by execution ARN
	all []result.Result
}

func (l *local) subscribeResults(ctx context.Context, topic string) (string, error) {
	q, err := l.c.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("greenlight-rehearsal-results")})
	if err != nil {
		return "", err
	}
	a, err := l.c.sqs.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		return "", err
	}
	if _, err := l.c.sns.Subscribe(ctx, &sns.SubscribeInput{TopicArn: aws.String(topic), Protocol: aws.String("sqs"), Endpoint: aws.String(a.Attributes["QueueArn"])}); err != nil {
		return "", err
	}
	return aws.ToString(q.QueueUrl), nil
}

// poll reads what arrived on the queue.
func (r *results) poll(ctx context.Context, c *sqs.Client, queue string) error {
	out, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(queue), MaxNumberOfMessages: 10})
	if err != nil {
		return err
	}
	for _, m := range out.Messages {
		var env struct{ Message string }
		var res result.Result
		if json.Unmarshal([]byte(aws.ToString(m.Body)), &env) == nil && json.Unmarshal([]byte(env.Message), &res) == nil && res.ID != "" {
			r.mu.Lock()
			if r.got == nil {
				r.got = map[string]result.Result{}
			}
			key := res.ExecutionARN
			if _, dup := r.got[key]; !dup || res.Outcome != result.Regressed {
				r.got[key] = res
			}
			r.all = append(r.all, res)
			r.mu.Unlock()
		}
		_, _ = c.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(queue), ReceiptHandle: m.ReceiptHandle})
	}
	return nil
}

// everything returns every result read so far, in order (redeliveries included).
func (r *results) everything() []result.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]result.Result(nil), r.all...)
}

func (r *results) of(execution string) (result.Result, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.got[execution]
	return v, ok
}

// follower prints an execution's states as it moves through them.
type follower struct {
	arn     string
	label   string
	seen    int
	checks  int
	status  string
	entered map[string]bool
	// at lists, per state, when the execution entered it; transitions counts the
	// StateEntered events; task is the Task state running now; failures are the Task
	// attempts that failed.
	at          map[string][]time.Time
	transitions int
	task        string
	failures    []TaskFailure
	// attempts counts, per Task state, the tasks scheduled (a retry is another attempt
	// within the same state).
	attempts map[string]int
}

// followStates the timeline shows (the wait and check loop is summarised).
var followStates = map[string]string{
	"Resolve": "resolve the route", "Acquire lock": "acquire the service's lock", "Wait for lock": "wait for the lock (queue-latest)",
	"Preflight": "preflight: route alarms", "Start": "start: register the task definition, UpdateService",
	"Finalize": "finalize: result, ledger, SNS and EventBridge", "Release lock": "release the lock",
	"Watch post": "post-deploy watch",
}

func (l *local) follow(ctx context.Context, f *follower) (done bool, err error) {
	in := &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(f.arn), MaxResults: 1000}
	var events []sfntypes.HistoryEvent
	for {
		out, err := l.c.sfn.GetExecutionHistory(ctx, in)
		if err != nil {
			return false, err
		}
		events = append(events, out.Events...)
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	for _, ev := range events[min(f.seen, len(events)):] {
		if ev.Type == sfntypes.HistoryEventTypeTaskScheduled {
			if f.attempts == nil {
				f.attempts = map[string]int{}
			}
			f.attempts[f.task]++
		}
		if d := ev.TaskFailedEventDetails; d != nil {
			f.failures = append(f.failures, TaskFailure{State: f.task, Error: aws.ToString(d.Error), Cause: aws.ToString(d.Cause), At: aws.ToTime(ev.Timestamp)})
		}
		if d := ev.StateEnteredEventDetails; d != nil {
			name := aws.ToString(d.Name)
			if f.entered == nil {
				f.entered, f.at = map[string]bool{}, map[string][]time.Time{}
			}
			f.entered[name] = true
			f.at[name] = append(f.at[name], aws.ToTime(ev.Timestamp))
			f.transitions++
			if ev.Type == sfntypes.HistoryEventTypeTaskStateEntered {
				f.task = name
			}
			switch {
			case name == "Check":
				f.checks++
			case followStates[name] != "":
				if name == "Finalize" && f.checks > 0 {
					l.tl.event("%s Step Functions: %d looks at the service deployment (Check), %s", f.label, f.checks, followStates[name])
				} else {
					l.tl.event("%s Step Functions: %s", f.label, followStates[name])
				}
			}
		}
		switch ev.Type {
		case sfntypes.HistoryEventTypeExecutionSucceeded, sfntypes.HistoryEventTypeExecutionFailed,
			sfntypes.HistoryEventTypeExecutionAborted, sfntypes.HistoryEventTypeExecutionTimedOut:
			f.status = strings.TrimPrefix(string(ev.Type), "Execution")
			f.status = strings.ToUpper(f.status)
		}
	}
	f.seen = len(events)
	return f.status != "", nil
}

// waitLocked follows f until its execution has the service's lock (it entered the state
// after "Acquire lock": preflight or start), or has ended.
func (l *local) waitLocked(ctx context.Context, f *follower) error {
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := l.follow(ctx, f); err != nil {
			return err
		}
		if f.entered["Preflight"] || f.entered["Start"] || f.status != "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: the execution did not take the service's lock within 20s", f.label)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
