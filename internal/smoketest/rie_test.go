package smoketest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/smoketest"
)

func TestMain(m *testing.M) { awstest.Main(m) }

// TestBootstrapUnderRIE runs the real bootstrap (built as sam build does) under
// aws-lambda-rie, with moto_server as AWS: the route comes from moto SSM, the evidence goes
// to the ledger in moto DynamoDB, and the "test listener" is an httptest server the route
// points at. moto has no ECS service-deployment APIs, so POST_SCALE_UP discovery is covered
// by the fake-ECS tests; here the stages that need no ECS call run: POST_TEST_TRAFFIC_SHIFT
// through the route's test listener, and a rollback re-invocation.
func TestBootstrapUnderRIE(t *testing.T) {
	m := awstest.Moto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()

	// The function's own SDK calls carry no moto account header: use moto's default account.
	cfg := awstest.DefaultAccountConfig(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	param, table := "/greenlight/smoketest-rie-"+suffix+"/routes", "greenlight-smoketest-rie-"+suffix

	var status atomic.Int32
	status.Store(200)
	var hits atomic.Int32
	listener := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/health" {
			w.WriteHeader(404)
			return
		}
		code := int(status.Load())
		w.WriteHeader(code)
		if code == 200 {
			fmt.Fprint(w, "OK")
		} else {
			fmt.Fprint(w, "FAIL")
		}
	}))
	defer listener.Close()

	routesDoc := fmt.Sprintf(`{"version": 1, "routes": [{"name": "web-prod", "repository": "web", "tagPattern": ".*",
	  "targets": [{"cluster": "prod", "service": "web", "container": "app"}],
	  "smokeTests": {"testListenerUrl": %q, "checks": [{"name": "health", "path": "/health", "expectStatus": 200, "bodyContains": "OK", "maxLatencyMs": 2000}]}}]}`, listener.URL)
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(param), Value: aws.String(routesDoc), Type: ssmtypes.ParameterTypeString,
	}); err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(ctx, ledger.CreateTableInput(table)); err != nil {
		t.Fatal(err)
	}

	rie := awstest.StartFunction(t, localaws.FunctionOptions{
		Package: "./functions/smoketest", Name: "smoketest", Timeout: 30 * time.Second,
		Env: []string{
			"AWS_ENDPOINT_URL=" + m.URL,
			"ROUTES_PARAMETER=" + param,
			"LEDGER_TABLE=" + table,
			"GREENLIGHT_TIME_SCALE=0.01",
			// What Lambda sets for LoggingConfig.LogFormat JSON; lambdacontext.NewLogger reads it.
			"AWS_LAMBDA_LOG_FORMAT=JSON",
		},
	})

	invoke := func(sample string, edit func(map[string]any)) smoketest.HookResponse {
		t.Helper()
		b, err := os.ReadFile(filepath.Join("..", "..", "events", "smoketest", sample))
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			var ev map[string]any
			if err := json.Unmarshal(b, &ev); err != nil {
				t.Fatal(err)
			}
			edit(ev)
			b, _ = json.Marshal(ev)
		}
		out, err := rie.Invoke(ctx, b)
		if err != nil {
			t.Fatalf("invoke: %v\n%s", err, rie.LogTail(20))
		}
		dec := json.NewDecoder(bytes.NewReader(out))
		dec.DisallowUnknownFields()
		var resp smoketest.HookResponse
		if err := dec.Decode(&resp); err != nil || resp.HookStatus == "" {
			t.Fatalf("response %s is not a hook response (%v)\n%s", out, err, rie.LogTail(20))
		}
		return resp
	}
	// The sample carries a hookDetails.testListenerUrl for its documentation; here the
	// route's URL is the one under test.
	noHookDetails := func(ev map[string]any) { delete(ev, "hookDetails") }
	const sd = "arn:aws:ecs:eu-west-1:111122223333:service-deployment/prod/web/EZe5RNVLH6PPzHXINuP28"
	evidence := func() string {
		t.Helper()
		checks, err := ledger.New(db, table).SmokeEvidence(ctx, sd)
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, c := range checks {
			lines = append(lines, fmt.Sprintf("%s %s passed=%v status=%d body=%q", c.Stage, c.Check, c.Passed, c.Status, c.BodyExcerpt))
		}
		return strings.Join(lines, "\n")
	}

	resp := invoke("post-test-traffic-shift.json", noHookDetails)
	if resp.HookStatus != smoketest.Succeeded || resp.Reason != "1 of 1 green targets passed 1 check at POST_TEST_TRAFFIC_SHIFT" {
		t.Fatalf("POST_TEST_TRAFFIC_SHIFT = %+v; want SUCCEEDED\n%s", resp, rie.LogTail(20))
	}
	if got := evidence(); got != `POST_TEST_TRAFFIC_SHIFT health passed=true status=200 body="OK"` {
		t.Fatalf("ledger evidence = %s", got)
	}

	status.Store(500)
	resp = invoke("post-test-traffic-shift.json", noHookDetails)
	addr := strings.TrimPrefix(listener.URL, "http://")
	if resp.HookStatus != smoketest.Failed || !strings.HasPrefix(resp.Reason, "GET /health on "+addr+" returned 500 'FAIL' in ") {
		t.Fatalf("POST_TEST_TRAFFIC_SHIFT with a failing listener = %+v; want FAILED explaining the 500", resp)
	}
	if got := evidence(); got != `POST_TEST_TRAFFIC_SHIFT health passed=false status=500 body="FAIL"` {
		t.Fatalf("ledger evidence = %s", got)
	}

	// The sample's hookDetails URL must be proven to be the service's own load balancer,
	// which needs ECS DescribeServiceRevisions; moto answers it with HTTP 500, which is an
	// AWS error worth retrying: IN_PROGRESS, naming the URL, and nothing probed.
	before := hits.Load()
	start := time.Now()
	resp = invoke("post-test-traffic-shift.json", nil)
	if resp.HookStatus != smoketest.InProgress || resp.CallBackDelay != 1 || !strings.Contains(resp.Reason, "hookDetails.testListenerUrl http://internal-web-alb-1234567890.eu-west-1.elb.amazonaws.com:8443 cannot be checked against the service's own load balancer: describe service revision") {
		t.Fatalf("hookDetails URL = %+v; want IN_PROGRESS naming it", resp)
	}
	t.Logf("unverifiable hookDetails URL answered in %s (the SDK's own retries of moto's 500)", time.Since(start).Round(time.Millisecond))
	if hits.Load() != before {
		t.Fatal("the listener was probed although the URL was not verified")
	}

	resp = invoke("rollback-production-traffic-shift.json", nil)
	if resp.HookStatus != smoketest.Succeeded || !strings.HasPrefix(resp.Reason, "rollback in progress") {
		t.Fatalf("rollback re-invocation = %+v; want SUCCEEDED", resp)
	}

	// Every verdict is logged as one JSON line with the deployment and the stage.
	logs, _ := os.ReadFile(rie.LogPath())
	n := 0
	for _, line := range strings.Split(string(logs), "\n") {
		if !strings.Contains(line, `"message":"hook verdict"`) {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("verdict log is not JSON: %s", line)
		}
		if rec["service_deployment_arn"] != sd || rec["stage"] == nil || rec["outcome"] == nil {
			t.Errorf("verdict log lacks fixed keys: %s", line)
		}
		n++
	}
	if n != 4 {
		t.Errorf("%d verdict log lines; want 4\n%s", n, logs)
	}
}
