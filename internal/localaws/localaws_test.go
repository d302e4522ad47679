package localaws_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/greenlight-deploy/greenlight/internal/localaws"
)

// TestLambdaThroughMotoAndStepFunctions runs the real bootstrap under aws-lambda-rie, reached
// through moto's Lambda Invoke, and checks the launcher's patches: two executions in one
// account, and function errors surfacing as Step Functions errors.
func TestLambdaThroughMotoAndStepFunctions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	m, cfg, roleARN := startMoto(t, ctx, localaws.MotoOptions{})
	// StartFunction: the bootstrap built, run under aws-lambda-rie, created in moto, routed.
	fn, err := localaws.StartFunction(ctx, localaws.FunctionOptions{
		ModuleDir: filepath.Join("..", ".."), Package: "./internal/localaws/testdata/echo", Name: "echo", BuildDir: t.TempDir(),
		Env: []string{"AWS_ENDPOINT_URL=" + m.URL}, Moto: m, RoleARN: roleARN,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer fn.Stop()
	lc := lambda.NewFromConfig(cfg)
	got, err := lc.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String("echo")})
	if err != nil {
		t.Fatal(err)
	}
	if c := got.Configuration; aws.ToString(c.FunctionArn) != fn.ARN || fn.ARN == "" || c.Runtime != lambdatypes.RuntimeProvidedal2023 ||
		aws.ToString(c.Handler) != "bootstrap" || len(c.Architectures) != 1 || c.Architectures[0] != lambdatypes.ArchitectureArm64 || aws.ToInt32(c.Timeout) != 60 {
		t.Errorf("GetFunction(echo) = %+v; want ARN %s, provided.al2023, bootstrap, arm64, 60 s", c, fn.ARN)
	}
	out, err := lc.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String("echo"), Payload: []byte(`{"a":1}`)})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out.Payload), `"echoed":true`) {
		t.Fatalf("Invoke(echo) = %s; want the echoed input", out.Payload)
	}

	def := `{"StartAt":"Call","States":{"Call":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"` + fn.ARN + `","Payload.$":"$"},"OutputPath":"$.Payload","Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Caught"}],"End":true},"Caught":{"Type":"Pass","End":true}}}`
	sc := sfn.NewFromConfig(cfg)
	sm, err := sc.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("sm"), Definition: aws.String(def), RoleArn: aws.String(roleARN)})
	if err != nil {
		t.Fatal(err)
	}
	// Patch 5: a state machine starts another one (greenlight's regression rollback).
	child, err := sc.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("child"), RoleArn: aws.String(roleARN),
		Definition: aws.String(`{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	parent, err := sc.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String("parent"), RoleArn: aws.String(roleARN),
		Definition: aws.String(`{"StartAt":"Start","States":{"Start":{"Type":"Task","Resource":"arn:aws:states:::states:startExecution","Parameters":{"StateMachineArn":"` + *child.StateMachineArn + `","Input.$":"$.request"},"End":true}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	px, err := sc.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: parent.StateMachineArn, Input: aws.String(`{"request":{"digest":"sha256:1"}}`)})
	if err != nil {
		t.Fatal(err)
	}
	waitDone(t, sc, px.ExecutionArn, "parent")
	kids, err := sc.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: child.StateMachineArn})
	if err != nil || len(kids.Executions) != 1 {
		t.Fatalf("executions of the child after states:startExecution = %v, %v; want 1", kids, err)
	}
	kd := waitDone(t, sc, kids.Executions[0].ExecutionArn, "child")
	if !strings.Contains(aws.ToString(kd.Input), `"sha256:1"`) {
		t.Fatalf("child input = %s; want the parent's request", aws.ToString(kd.Input))
	}

	for _, tc := range []struct{ in, want string }{
		{`{"x":1}`, `"echoed": true`},
		{`{"fail":true}`, `asked to fail`},
	} {
		ex, err := sc.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: sm.StateMachineArn, Input: aws.String(tc.in)})
		if err != nil {
			t.Fatalf("StartExecution(%s): %v", tc.in, err)
		}
		var d *sfn.DescribeExecutionOutput
		for i := 0; i < 200; i++ {
			d, err = sc.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: ex.ExecutionArn})
			if err != nil {
				t.Fatal(err)
			}
			if d.Status != sfntypes.ExecutionStatusRunning {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if d.Status != sfntypes.ExecutionStatusSucceeded || !strings.Contains(aws.ToString(d.Output), tc.want) {
			t.Fatalf("execution(%s) = %s %s; want SUCCEEDED containing %s", tc.in, d.Status, aws.ToString(d.Output), tc.want)
		}
	}
}

// startMoto starts a moto_server of the test's own (o.Dir defaults to a directory of the
// test's), stopped when the test ends, and returns it with a config for its default account
// and an IAM role there for functions and state machines.
func startMoto(t *testing.T, ctx context.Context, o localaws.MotoOptions) (*localaws.Moto, aws.Config, string) {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	m, err := localaws.StartMoto(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Stop() })
	cfg, err := localaws.Config(ctx, m.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	role, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("fn"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	return m, cfg, aws.ToString(role.Role.Arn)
}

func waitDone(t *testing.T, sc *sfn.Client, arn *string, what string) *sfn.DescribeExecutionOutput {
	t.Helper()
	for i := 0; i < 200; i++ {
		d, err := sc.DescribeExecution(context.Background(), &sfn.DescribeExecutionInput{ExecutionArn: arn})
		if err != nil {
			t.Fatal(err)
		}
		if d.Status != sfntypes.ExecutionStatusRunning {
			if d.Status != sfntypes.ExecutionStatusSucceeded {
				t.Fatalf("%s execution = %s (%s %s)", what, d.Status, aws.ToString(d.Error), aws.ToString(d.Cause))
			}
			return d
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s execution still running", what)
	return nil
}

// TestSNSLambdaSubscription checks patch 6: a "lambda" subscription delivers the real SNS
// event (message ID, topic, subscription, subject, attributes) to the function's emulator,
// asynchronously, as SNS does.
func TestSNSLambdaSubscription(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m, cfg, roleARN := startMoto(t, ctx, localaws.MotoOptions{})
	got := make(chan []byte, 2)
	rie := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path != "/2015-03-31/functions/function/invocations" {
			t.Errorf("delivery to %s; want the RIE invoke path", r.URL.Path)
		}
		got <- b
		_, _ = w.Write([]byte("null"))
	}))
	defer rie.Close()
	if err := m.RouteLambda("notify", rie.URL); err != nil {
		t.Fatal(err)
	}
	fn, err := lambda.NewFromConfig(cfg).CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String("notify"), Role: aws.String(roleARN), Runtime: "provided.al2023", Handler: aws.String("bootstrap"),
		Code: &lambdatypes.FunctionCode{ZipFile: []byte("PK")},
	})
	if err != nil {
		t.Fatal(err)
	}
	sc := sns.NewFromConfig(cfg)
	topic, err := sc.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String("results")})
	if err != nil {
		t.Fatal(err)
	}
	sub, err := sc.Subscribe(ctx, &sns.SubscribeInput{TopicArn: topic.TopicArn, Protocol: aws.String("lambda"), Endpoint: fn.FunctionArn})
	if err != nil {
		t.Fatal(err)
	}
	pub, err := sc.Publish(ctx, &sns.PublishInput{TopicArn: topic.TopicArn, Message: aws.String(`{"id":"r1"}`), Subject: aws.String("greenlight: result"),
		MessageAttributes: map[string]snstypes.MessageAttributeValue{"outcome": {DataType: aws.String("String"), StringValue: aws.String("SUCCEEDED")}}})
	if err != nil {
		t.Fatal(err)
	}
	var b []byte
	select {
	case b = <-got:
	case <-time.After(20 * time.Second):
		t.Fatalf("the lambda subscription delivered nothing\nmoto log:\n%s", m.LogTail(20))
	}
	var ev events.SNSEvent
	if err := json.Unmarshal(b, &ev); err != nil || len(ev.Records) != 1 {
		t.Fatalf("delivery = %s (%v); want a Lambda SNS event with one record", b, err)
	}
	rec := ev.Records[0]
	if rec.SNS.MessageID != aws.ToString(pub.MessageId) || rec.SNS.TopicArn != aws.ToString(topic.TopicArn) || rec.EventSubscriptionArn != aws.ToString(sub.SubscriptionArn) ||
		rec.SNS.Message != `{"id":"r1"}` || rec.SNS.Subject != "greenlight: result" || rec.SNS.Timestamp.IsZero() {
		t.Errorf("SNS event record = %+v; want the published message's ID, topic, subscription, message, subject and a timestamp", rec)
	}
	if a, _ := rec.SNS.MessageAttributes["outcome"].(map[string]any); a["Value"] != "SUCCEEDED" || a["Type"] != "String" {
		t.Errorf("message attributes = %v; want outcome String SUCCEEDED", rec.SNS.MessageAttributes)
	}
}

// TestRIEStopEndsTheBootstrap: aws-lambda-rie runs the bootstrap in a process group of its
// own, so Stop must end the bootstrap too (found by the rehearsal's Ctrl-C test).
func TestRIEStopEndsTheBootstrap(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs a bootstrap under aws-lambda-rie")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Without a BuildDir, StartFunction builds in a directory of its own that Stop removes;
	// without Moto, the function is reached through Invoke only.
	r, err := localaws.StartFunction(ctx, localaws.FunctionOptions{ModuleDir: filepath.Join("..", ".."), Package: "./internal/localaws/testdata/echo", Name: "echo"})
	if err != nil {
		t.Fatal(err)
	}
	boot := r.Bootstrap
	if r.ARN != "" {
		t.Errorf("ARN = %q without Moto; want none", r.ARN)
	}
	if out, err := r.Invoke(ctx, []byte(`{"a":1}`)); err != nil || !strings.Contains(string(out), "echoed") {
		t.Fatalf("Invoke = %s, %v", out, err)
	}
	running := func() []string {
		var pids []string
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err == nil && strings.TrimRight(string(cmd), "\x00") == boot {
				pids = append(pids, e.Name())
			}
		}
		return pids
	}
	if len(running()) != 1 {
		t.Fatalf("bootstrap processes after an invoke: %v; want 1", running())
	}
	// Stop while the function is busy (a deployment being cancelled mid-invocation): an
	// idle bootstrap would notice the emulator's death on its own at once.
	go func() { _, _ = r.Invoke(context.Background(), []byte(`{"sleepMs":10000}`)) }()
	time.Sleep(300 * time.Millisecond)
	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if left := running(); len(left) != 0 {
		t.Errorf("after Stop the bootstrap still runs: pids %v", left)
	}
	if _, err := os.Stat(boot); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Stop the build directory is still there: stat %s: %v", boot, err)
	}
}

// TestFunctionOptionsRejected: StartFunction names every missing option, and the fix,
// before it builds or starts anything.
func TestFunctionOptionsRejected(t *testing.T) {
	m := &localaws.Moto{URL: "http://127.0.0.1:9"}
	tests := []struct {
		name string
		o    localaws.FunctionOptions
		want []string
	}{
		{"empty", localaws.FunctionOptions{}, []string{"ModuleDir", "Package", "Name"}},
		{"no package", localaws.FunctionOptions{ModuleDir: ".", Name: "f"}, []string{"Package (for example ./functions/notify) or Bootstrap"}},
		{"moto without a role", localaws.FunctionOptions{ModuleDir: ".", Package: "./x", Name: "f", Moto: m}, []string{"RoleARN", "CreateRole"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := localaws.StartFunction(context.Background(), tt.o)
			if !errors.Is(err, localaws.ErrFunctionOptions) || f != nil {
				t.Fatalf("StartFunction(%+v) = %v, %v; want nil, ErrFunctionOptions", tt.o, f, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("StartFunction(%+v) = %q; want it to name %q", tt.o, err, w)
				}
			}
		})
	}
}

// TestBuildBootstraps: one go build for several packages puts each bootstrap where
// BuildBootstrap would, and refuses two packages whose bootstraps would collide.
func TestBuildBootstraps(t *testing.T) {
	if testing.Short() {
		t.Skip("builds bootstraps")
	}
	ctx := context.Background()
	out := t.TempDir()
	pkgs := []string{"./internal/localaws/testdata/echo", "./internal/localaws/testdata/fail"}
	paths, err := localaws.BuildBootstraps(ctx, filepath.Join("..", ".."), pkgs, out)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range pkgs {
		want := filepath.Join(out, filepath.Base(p), "bootstrap")
		st, err := os.Stat(want)
		if len(paths) != len(pkgs) || paths[i] != want || err != nil || st.Mode()&0o111 == 0 {
			t.Errorf("BuildBootstraps(%v)[%d] = %v (stat %v, %v); want the executable %s", pkgs, i, paths, st, err, want)
		}
	}
	if entries, _ := os.ReadDir(out); len(entries) != len(pkgs) {
		t.Errorf("BuildBootstraps left %d entries in its output directory; want %d", len(entries), len(pkgs))
	}
	_, err = localaws.BuildBootstraps(ctx, filepath.Join("..", ".."), []string{"./functions/echo", "./internal/localaws/testdata/echo"}, out)
	if err == nil || !strings.Contains(err.Error(), "echo/bootstrap") {
		t.Errorf("BuildBootstraps of two packages named echo = %v; want an error naming echo/bootstrap", err)
	}
}

// echoBootstrap installs aws-lambda-rie and builds the echo function; with -short it skips.
func echoBootstrap(t *testing.T) (rie, boot string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a bootstrap")
	}
	ctx := context.Background()
	rie, err := localaws.InstallRIE(ctx, filepath.Join("..", "..", ".bin"))
	if err != nil {
		t.Fatal(err)
	}
	boot, err = localaws.BuildBootstrap(ctx, filepath.Join("..", ".."), "./internal/localaws/testdata/echo", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return rie, boot
}

// TestStartRIERetriesOnTakenPorts: an emulator that exits during start-up (here: every
// port it could be given is taken on the first try) is started again on new ports.
func TestStartRIERetriesOnTakenPorts(t *testing.T) {
	ctx := context.Background()
	rie, boot := echoBootstrap(t)
	// A wrapper that fails (exits at once) the first time it runs and execs the real
	// emulator after that: exactly what a port taken between FreePort and bind looks like.
	dir := t.TempDir()
	marker := filepath.Join(dir, "ran-once")
	wrapper := filepath.Join(dir, "rie-once-broken")
	script := "#!/bin/sh\nif [ ! -e " + marker + " ]; then touch " + marker + "; echo 'listen tcp: address already in use' >&2; exit 1; fi\nexec " + rie + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := localaws.StartRIE(ctx, localaws.RIEOptions{RIEPath: wrapper, Bootstrap: boot, Name: "echo-retry", LogDir: dir})
	if err != nil {
		t.Fatalf("StartRIE after one failed start = %v; want a retry on new ports", err)
	}
	defer r.Stop()
	out, err := r.Invoke(ctx, []byte(`{"a":1}`))
	if err != nil || !strings.Contains(string(out), `"echoed":true`) {
		t.Fatalf("Invoke after the retry = %s, %v", out, err)
	}
}

// TestStartRIENotFooledByAPortTakenByAnother: the port picked for the emulator is taken by
// another process that keeps listening on it (the emulator then panics: "address already in
// use"). A dial to the port succeeds, but StartRIE must see that the listener is not its
// emulator, and start again on new ports. Seen in CI: invocations then went to the other
// process and came back "404 page not found".
func TestStartRIENotFooledByAPortTakenByAnother(t *testing.T) {
	ctx := context.Background()
	rie, boot := echoBootstrap(t)
	dir := t.TempDir()
	marker, pidFile := filepath.Join(dir, "ran-once"), filepath.Join(dir, "squatter.pid")
	wrapper := filepath.Join(dir, "rie-port-taken")
	// The first time: a Python HTTP server takes the emulator's invoke port and stays; then the
	// real emulator runs, fails to bind and exits. After that: the real emulator.
	script := `#!/bin/bash
if [ ! -e ` + marker + ` ]; then
  touch ` + marker + `
  prev=""; for a in "$@"; do [ "$prev" = "--runtime-interface-emulator-address" ] && port="${a##*:}"; prev="$a"; done
  python3 -m http.server --bind 127.0.0.1 "$port" >/dev/null 2>&1 &
  echo $! > ` + pidFile + `
  for i in $(seq 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
fi
exec ` + rie + ` "$@"
`
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(pidFile); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	})
	r, err := localaws.StartRIE(ctx, localaws.RIEOptions{RIEPath: wrapper, Bootstrap: boot, Name: "echo-squatted", LogDir: dir})
	if err != nil {
		t.Fatalf("StartRIE with its first port taken = %v; want a start on new ports", err)
	}
	defer r.Stop()
	if _, err := os.Stat(pidFile); err != nil {
		t.Fatalf("the squatting server never started (%v): the test did not test anything", err)
	}
	out, err := r.Invoke(ctx, []byte(`{"a":1}`))
	if err != nil || !strings.Contains(string(out), `"echoed":true`) {
		t.Fatalf("Invoke = %s, %v; want the echo function, not the process squatting on the first port", out, err)
	}
}

// TestRetriedCallRunsOnce: two attempts of one SDK call (the same amz-sdk-invocation-id, as a
// retry after a lost answer sends) create the table once; both get moto's first answer
// (launcher patch 11). A new invocation ID is a new call, and gets moto's own answer.
func TestRetriedCallRunsOnce(t *testing.T) {
	ctx := context.Background()
	m, _, _ := startMoto(t, ctx, localaws.MotoOptions{})
	body := `{"TableName":"once","BillingMode":"PAY_PER_REQUEST","AttributeDefinitions":[{"AttributeName":"pk","AttributeType":"S"}],"KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}`
	send := func(invocation, op, body string) (int, string) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+"/", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		req.Header.Set("X-Amz-Target", "DynamoDB_20120810."+op)
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20261129/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=x")
		req.Header.Set("Amz-Sdk-Invocation-Id", invocation)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	call := func(invocation string) (int, string) { return send(invocation, "CreateTable", body) }
	code1, body1 := call("inv-1")
	code2, body2 := call("inv-1")
	if code1 != 200 || code2 != 200 || body1 != body2 {
		t.Fatalf("two attempts of one call: %d %.80s / %d %.80s; want the same 200 twice", code1, body1, code2, body2)
	}
	if code3, body3 := call("inv-2"); code3 != 400 || !strings.Contains(body3, "ResourceInUseException") {
		t.Errorf("a new call creating the same table: %d %.120s; want moto's ResourceInUseException", code3, body3)
	}
	// Another operation with the same invocation ID (a proxy passing headers on) is its own call.
	if code4, body4 := send("inv-1", "DescribeTable", `{"TableName":"once"}`); code4 != 200 || !strings.HasPrefix(body4, `{"Table"`) {
		t.Errorf("DescribeTable with CreateTable's invocation ID: %d %.80s; want its own answer", code4, body4)
	}
}
