package stacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Digest returns a well-formed image digest made from n.
func Digest(n int) string { return fmt.Sprintf("sha256:%064x", n) }

// ExecName is an execution ARN's last part, the execution's name, with which result IDs
// begin.
func ExecName(arn string) string { return arn[strings.LastIndex(arn, ":")+1:] }

// PushEvent is the EventBridge "ECR Image Action" event of a successful push of repo:tag
// with digest d, in the stack's account, with event ID id.
func PushEvent(repo, tag, d, id string) map[string]any {
	return map[string]any{
		"version": "0", "id": id, "detail-type": "ECR Image Action", "source": "aws.ecr", "account": Account,
		"time": time.Now().UTC().Format(time.RFC3339), "region": localaws.Region, "resources": []string{},
		"detail": map[string]any{"result": "SUCCESS", "repository-name": repo, "image-digest": d, "action-type": "PUSH", "image-tag": tag},
	}
}

// Push sends a PushEvent through EventBridge (the stack's rule starts the execution) and
// returns the new execution's ARN.
func (s *Stack) Push(t *testing.T, ev map[string]any) string {
	t.Helper()
	ctx := context.Background()
	before := map[string]bool{}
	for _, x := range s.Executions(t) {
		before[aws.ToString(x.ExecutionArn)] = true
	}
	detail, _ := json.Marshal(ev["detail"])
	out, err := s.Events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{{
		Source: aws.String("aws.ecr"), DetailType: aws.String("ECR Image Action"), Detail: aws.String(string(detail)),
	}}})
	if err != nil || out.FailedEntryCount != 0 {
		t.Fatalf("PutEvents: %v %+v", err, out)
	}
	want := ev["detail"].(map[string]any)
	for i := 0; i < 100; i++ {
		for _, x := range s.Executions(t) {
			arn := aws.ToString(x.ExecutionArn)
			if before[arn] {
				continue
			}
			d, err := s.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
			var in struct{ Detail map[string]any }
			if err == nil && json.Unmarshal([]byte(aws.ToString(d.Input)), &in) == nil &&
				in.Detail["image-digest"] == want["image-digest"] && in.Detail["image-tag"] == want["image-tag"] {
				return arn
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatal("the ECR push rule started no execution")
	return ""
}

// Start starts an execution of the state machine with input marshalled to JSON (a
// json.RawMessage goes as it is) and returns its ARN.
func (s *Stack) Start(t *testing.T, input any) string {
	t.Helper()
	b, err := json.Marshal(input)
	if err != nil {
		t.Fatalf("execution input %v: %v", input, err)
	}
	out, err := s.SFN.StartExecution(context.Background(), &sfn.StartExecutionInput{StateMachineArn: aws.String(s.StateMachineARN), Input: aws.String(string(b))})
	if err != nil {
		t.Fatal(err)
	}
	return *out.ExecutionArn
}

// Executions lists the state machine's executions (the first page: up to 100, plenty for a
// test).
func (s *Stack) Executions(t *testing.T) []sfntypes.ExecutionListItem {
	t.Helper()
	s.listMu.Lock()
	defer s.listMu.Unlock()
	out, err := s.SFN.ListExecutions(context.Background(), &sfn.ListExecutionsInput{StateMachineArn: aws.String(s.StateMachineARN)})
	if err != nil {
		t.Fatal(err)
	}
	return out.Executions
}

// Wait waits up to 150 s for the execution to stop running and returns its description.
func (s *Stack) Wait(t *testing.T, arn string) *sfn.DescribeExecutionOutput {
	t.Helper()
	deadline := time.Now().Add(150 * time.Second)
	for time.Now().Before(deadline) {
		d, err := s.SFN.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			return d
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("execution %s still running", arn)
	return nil
}

// Result waits up to within for the result with the given ID on the result topic's SQS
// subscription. Results that arrive meanwhile are kept for later calls (parallel subtests
// share the queue); one published twice fails the test.
func (s *Stack) Result(t *testing.T, id string, within time.Duration) Message {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		r, ok := s.results[id]
		s.mu.Unlock()
		if ok {
			return r
		}
		out, err := s.SQS.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{QueueUrl: aws.String(s.QueueURL), MaxNumberOfMessages: 10, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range out.Messages {
			var env struct {
				Message           string
				Subject           string
				MessageAttributes map[string]struct{ Value string }
			}
			if err := json.Unmarshal([]byte(*msg.Body), &env); err != nil {
				t.Fatalf("SQS body is not an SNS envelope: %s", *msg.Body)
			}
			var r result.Result
			if err := json.Unmarshal([]byte(env.Message), &r); err != nil {
				t.Fatalf("SNS message is not a result: %s", env.Message)
			}
			attrs := map[string]string{}
			for k, v := range env.MessageAttributes {
				attrs[k] = v.Value
			}
			s.mu.Lock()
			if _, dup := s.results[r.ID]; dup {
				t.Errorf("result %s published twice", r.ID)
			} else {
				s.results[r.ID] = Message{Result: r, Attributes: attrs, Subject: env.Subject}
			}
			s.mu.Unlock()
			_, _ = s.SQS.DeleteMessage(context.Background(), &sqs.DeleteMessageInput{QueueUrl: aws.String(s.QueueURL), ReceiptHandle: msg.ReceiptHandle})
		}
	}
	t.Fatalf("no result %s on the topic within %s", id, within)
	return Message{}
}

// LockFree fails the test if the ledger holds a lock on the service key (cluster/service).
func (s *Stack) LockFree(t *testing.T, key string) {
	t.Helper()
	h, err := s.Table.Lock(context.Background(), key)
	if err != nil || h != nil {
		t.Errorf("lock on %s after the execution = %+v, %v; want released", key, h, err)
	}
}

// History returns every event of an execution's history.
func (s *Stack) History(ctx context.Context, arn string) ([]sfntypes.HistoryEvent, error) {
	var evs []sfntypes.HistoryEvent
	in := &sfn.GetExecutionHistoryInput{ExecutionArn: aws.String(arn), MaxResults: 1000}
	for {
		out, err := s.SFN.GetExecutionHistory(ctx, in)
		if err != nil {
			return nil, err
		}
		evs = append(evs, out.Events...)
		if out.NextToken == nil {
			return evs, nil
		}
		in.NextToken = out.NextToken
	}
}

func (s *Stack) history(t *testing.T, arn string) []sfntypes.HistoryEvent {
	t.Helper()
	evs, err := s.History(context.Background(), arn)
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// Transitions counts the states an execution entered (what Step Functions bills).
func (s *Stack) Transitions(t *testing.T, arn string) int {
	t.Helper()
	n := 0
	for _, ev := range s.history(t, arn) {
		if strings.HasSuffix(string(ev.Type), "StateEntered") {
			n++
		}
	}
	return n
}

// Entered counts how many times an execution entered the named state (Check: the polls).
func (s *Stack) Entered(t *testing.T, arn, state string) int {
	t.Helper()
	n := 0
	for _, ev := range s.history(t, arn) {
		if d := ev.StateEnteredEventDetails; d != nil && aws.ToString(d.Name) == state {
			n++
		}
	}
	return n
}

// Scheduled returns the parameters of the first task an execution scheduled on resource
// (for example startExecution), or nil.
func (s *Stack) Scheduled(t *testing.T, arn, resource string) *string {
	t.Helper()
	for _, ev := range s.history(t, arn) {
		if d := ev.TaskScheduledEventDetails; d != nil && aws.ToString(d.Resource) == resource {
			return d.Parameters
		}
	}
	return nil
}

// HistoryTail renders the last n events of an execution, for failure messages.
func (s *Stack) HistoryTail(arn string, n int) string {
	evs, err := s.History(context.Background(), arn)
	if err != nil {
		return err.Error()
	}
	if len(evs) > n {
		evs = evs[len(evs)-n:]
	}
	var b strings.Builder
	for _, ev := range evs {
		detail, _ := json.Marshal(struct {
			A, B, C, D, E any
		}{ev.StateEnteredEventDetails, ev.TaskFailedEventDetails, ev.TaskSubmitFailedEventDetails, ev.ExecutionFailedEventDetails, ev.TaskScheduledEventDetails})
		fmt.Fprintf(&b, "%s %s\n", ev.Type, detail)
	}
	return b.String()
}
