package localaws_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/greenlight-deploy/greenlight/internal/localaws"
)

const signed = "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x"

// TestProxyHoldsAndDrops: held requests wait between Min and Max before they reach the
// target; every DropEvery-th held request never reaches it and ends in a connection reset;
// the stats say so, per service.
func TestProxyHoldsAndDrops(t *testing.T) {
	var hits atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("ok"))
	}))
	defer backend.Close()
	p, err := localaws.StartProxy(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if err := p.SetFaults(&localaws.SlowFaults{Share: 1, Min: 80 * time.Millisecond, Max: 100 * time.Millisecond, DropEvery: 2, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	var answered, reset int
	for i := 0; i < 4; i++ {
		req, _ := http.NewRequest(http.MethodPost, p.URL+"/", strings.NewReader("{}"))
		req.Header.Set("Authorization", signed)
		began := time.Now()
		resp, err := client.Do(req)
		took := time.Since(began)
		if took < 80*time.Millisecond {
			t.Errorf("request %d took %s; want it held at least 80ms", i, took)
		}
		if err != nil {
			if !strings.Contains(err.Error(), "reset") && !strings.Contains(err.Error(), "EOF") {
				t.Errorf("request %d: %v; want a connection reset", i, err)
			}
			reset++
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Errorf("request %d answered %q", i, b)
		}
		answered++
	}
	st := p.Stats()
	if answered != 2 || reset != 2 || hits.Load() != 2 || st.Requests != 4 || st.Held != 4 || st.Dropped != 2 ||
		st.HeldFor < 320*time.Millisecond || st.HeldByService["dynamodb"] != 4 || st.Services() != "dynamodb 4" {
		t.Errorf("answered %d, reset %d, target hits %d, stats %+v; want 2 answered, 2 reset before reaching the target", answered, reset, hits.Load(), st)
	}
	// Without faults everything passes at once.
	if err := p.SetFaults(nil); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(p.URL+"/", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st := p.Stats(); st.Requests != 1 || st.Held != 0 {
		t.Errorf("stats after SetFaults(nil) = %+v", st)
	}
	if err := p.SetFaults(&localaws.SlowFaults{Share: 2}); err == nil {
		t.Error("SetFaults with Share 2: no error")
	}
}

// TestProxyDropIsRetriedBySDK: a dropped call is one the AWS SDK retries, and the retry
// gets through.
func TestProxyDropIsRetriedBySDK(t *testing.T) {
	var hits atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = w.Write([]byte(`{"TableNames":["ledger"]}`))
	}))
	defer backend.Close()
	p, err := localaws.StartProxy(backend.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Every request held 0-1 ms; the second of them dropped.
	if err := p.SetFaults(&localaws.SlowFaults{Share: 1, Max: time.Millisecond, DropEvery: 2}); err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""), RetryMaxAttempts: 3},
		func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(p.URL) })
	for i := 0; i < 2; i++ {
		out, err := db.ListTables(context.Background(), &dynamodb.ListTablesInput{})
		if err != nil || len(out.TableNames) != 1 {
			t.Fatalf("ListTables #%d = %v, %v; want the SDK to retry the dropped call", i, out, err)
		}
	}
	if st := p.Stats(); st.Dropped != 1 || st.Requests != 3 || hits.Load() != 2 {
		t.Errorf("stats %+v, target hits %d; want 3 requests, 1 dropped and retried", st, hits.Load())
	}
	if got := localaws.SignedService("AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/states/aws4_request, SignedHeaders=host"); got != "states" {
		t.Errorf("SignedService = %q; want states", got)
	}
}

// TestKillBootstrap: a bootstrap killed mid-invocation fails that invocation with
// Runtime.ExitError, through moto's Lambda Invoke too (Unhandled, the emulator's error
// passed through), and the emulator starts a new bootstrap for the next invocation, as
// Lambda does.
func TestKillBootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server and aws-lambda-rie")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, cfg, roleARN := startMoto(t, ctx, localaws.MotoOptions{})
	fn, err := localaws.StartFunction(ctx, localaws.FunctionOptions{ModuleDir: filepath.Join("..", ".."), Package: "./internal/localaws/testdata/echo",
		Name: "echo", BuildDir: t.TempDir(), Moto: m, RoleARN: roleARN})
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Stop()
	if _, err := fn.KillBootstrap(); err == nil {
		t.Error("KillBootstrap before any invocation: no error (the emulator starts the bootstrap with the first invocation)")
	}
	lc := lambda.NewFromConfig(cfg)
	type answer struct {
		out *lambda.InvokeOutput
		err error
	}
	done := make(chan answer, 1)
	go func() {
		out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"sleepMs":5000}`)})
		done <- answer{out, err}
	}()
	var killed []int
	for i := 0; i < 100 && len(killed) == 0; i++ {
		time.Sleep(50 * time.Millisecond)
		killed, _ = fn.KillBootstrap()
	}
	if len(killed) == 0 {
		t.Fatal("KillBootstrap found no bootstrap while an invocation ran")
	}
	a := <-done
	if a.err != nil {
		t.Fatalf("Invoke: %v; want a function error, not a failed call", a.err)
	}
	var doc struct{ ErrorType, ErrorMessage string }
	_ = json.Unmarshal(a.out.Payload, &doc)
	if aws.ToString(a.out.FunctionError) != "Unhandled" || doc.ErrorType != "Runtime.ExitError" || !strings.Contains(doc.ErrorMessage, "signal: killed") {
		t.Errorf("Invoke after the kill = %s %s; want Unhandled Runtime.ExitError saying signal: killed", aws.ToString(a.out.FunctionError), a.out.Payload)
	}
	out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"a":1}`)})
	if err != nil || out.FunctionError != nil || !strings.Contains(string(out.Payload), "echoed") {
		t.Errorf("Invoke after the kill = %v, %v; want a new bootstrap to answer", out, err)
	}
}

// TestAsyncRetriesAndOnFailureDestination checks patch 9: an SNS delivery to a function
// that fails is retried MaximumRetryAttempts times, then Lambda's invocation record goes to
// the OnFailure queue.
func TestAsyncRetriesAndOnFailureDestination(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server and aws-lambda-rie")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, cfg, roleARN := startMoto(t, ctx, localaws.MotoOptions{Env: []string{"MOTO_LAMBDA_ASYNC_RETRY_SCALE=0.005"}})
	fn, err := localaws.StartFunction(ctx, localaws.FunctionOptions{ModuleDir: filepath.Join("..", ".."), Package: "./internal/localaws/testdata/fail",
		Name: "fail", BuildDir: t.TempDir(), Moto: m, RoleARN: roleARN})
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Stop()
	sq := sqs.NewFromConfig(cfg)
	q, err := sq.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("dlq")})
	if err != nil {
		t.Fatal(err)
	}
	qa, err := sq.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: q.QueueUrl, AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lambda.NewFromConfig(cfg).PutFunctionEventInvokeConfig(ctx, &lambda.PutFunctionEventInvokeConfigInput{FunctionName: aws.String("fail"),
		MaximumRetryAttempts: aws.Int32(2), DestinationConfig: &lambdatypes.DestinationConfig{OnFailure: &lambdatypes.OnFailure{Destination: aws.String(qa.Attributes["QueueArn"])}}}); err != nil {
		t.Fatal(err)
	}
	sc := sns.NewFromConfig(cfg)
	topic, err := sc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("results")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("lambda"), Endpoint: aws.String(fn.ARN)}); err != nil {
		t.Fatal(err)
	}
	if _, err := sc.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(`{"id":"r1"}`)}); err != nil {
		t.Fatal(err)
	}
	var body string
	for i := 0; i < 100 && body == ""; i++ {
		out, err := sq.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: q.QueueUrl, WaitTimeSeconds: 1})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) > 0 {
			body = aws.ToString(out.Messages[0].Body)
		}
	}
	if body == "" {
		t.Fatalf("the on-failure queue got nothing\nmoto log:\n%s", m.LogTail(20))
	}
	var rec struct {
		Version        string
		RequestContext struct {
			FunctionArn            string
			Condition              string
			ApproximateInvokeCount int
		}
		RequestPayload  events.SNSEvent
		ResponseContext struct {
			StatusCode    int
			FunctionError string
		}
		ResponsePayload struct{ ErrorType, ErrorMessage string }
	}
	if err := json.Unmarshal([]byte(body), &rec); err != nil {
		t.Fatalf("record %s: %v", body, err)
	}
	if rec.Version != "1.0" || rec.RequestContext.Condition != "RetriesExhausted" || rec.RequestContext.ApproximateInvokeCount != 3 ||
		!strings.HasPrefix(rec.RequestContext.FunctionArn, fn.ARN) || len(rec.RequestPayload.Records) != 1 || rec.RequestPayload.Records[0].SNS.Message != `{"id":"r1"}` ||
		rec.ResponseContext.StatusCode != 200 || rec.ResponseContext.FunctionError != "Unhandled" || rec.ResponsePayload.ErrorMessage != "always fails" {
		t.Errorf("invocation record = %s; want RetriesExhausted after 3 invocations, the SNS event and the function's error", body)
	}
	if n := strings.Count(readFile(t, fn.LogPath()), "START RequestId"); n != 3 {
		t.Errorf("the function was invoked %d times; want 3 (MaximumRetryAttempts 2)", n)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestStopInsideMapIsAborted checks patch 10: StopExecution while a Map iteration runs
// ends the execution ABORTED, with an ExecutionAborted event, as on AWS (greenlight's deploy
// loop runs inside a Map, and the stopped-by-hand rehearsal stops it there).
func TestStopInsideMapIsAborted(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, cfg, roleARN := startMoto(t, ctx, localaws.MotoOptions{})
	sc := sfn.NewFromConfig(cfg)
	def := `{"StartAt":"Each","States":{"Each":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},` +
		`"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":20,"End":true}}},"End":true}}}`
	sm, err := sc.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("m"), Definition: aws.String(def), RoleArn: aws.String(roleARN)})
	if err != nil {
		t.Fatal(err)
	}
	ex, err := sc.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: sm.StateMachineArn, Input: aws.String(`{"items":[1]}`)})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if _, err := sc.StopExecution(ctx, &sfn.StopExecutionInput{ExecutionArn: ex.ExecutionArn, Error: aws.String("ByHand"), Cause: aws.String("test")}); err != nil {
		t.Fatal(err)
	}
	var d *sfn.DescribeExecutionOutput
	for i := 0; i < 100; i++ {
		if d, err = sc.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: ex.ExecutionArn}); err != nil {
			t.Fatal(err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	h, err := sc.GetExecutionHistory(ctx, &sfn.GetExecutionHistoryInput{ExecutionArn: ex.ExecutionArn})
	if err != nil {
		t.Fatal(err)
	}
	last := h.Events[len(h.Events)-1]
	if d.Status != sfntypes.ExecutionStatusAborted || last.Type != sfntypes.HistoryEventTypeExecutionAborted {
		t.Errorf("a stopped execution ended %s, last event %s; want ABORTED, ExecutionAborted", d.Status, last.Type)
	}
}
