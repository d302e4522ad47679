package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/reconcile"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// TestBootstrapUnderRIE runs the real reconcile bootstrap (built as sam build does) under
// aws-lambda-rie with moto as AWS, invoked with the sample scheduled event: the wiring in
// functions/reconcile (configuration from the template's environment variables, the clients,
// the handler's event and result types) starts the missed push once, and a second
// invocation starts nothing.
func TestBootstrapUnderRIE(t *testing.T) {
	m := awstest.Moto(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	// The function's own SDK calls carry no moto account header: use moto's default account.
	cfg := awstest.DefaultAccountConfig(t)
	suffix := fmt.Sprint(time.Now().UnixNano())
	repo, cluster, param, table := "web-rie-"+suffix, "prod-rie-"+suffix, "/greenlight/reconcile-rie-"+suffix+"/routes", "greenlight-reconcile-rie-"+suffix

	er := ecr.NewFromConfig(cfg)
	if _, err := er.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String(repo)}); err != nil {
		t.Fatal(err)
	}
	d1, pushed1 := pushImage(t, er, repo, "v1.0.0", "d")
	time.Sleep(1100 * time.Millisecond)
	d2, _ := pushImage(t, er, repo, "v1.1.0", "e")

	routesDoc := fmt.Sprintf(`{"version": 1, "routes": [{"name": "web-prod", "repository": %q, "tagPattern": "v\\d+\\.\\d+\\.\\d+",
	  "targets": [{"cluster": %q, "service": "web", "container": "app"}]}]}`, repo, cluster)
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String(param), Value: aws.String(routesDoc), Type: ssmtypes.ParameterTypeString,
	}); err != nil {
		t.Fatal(err)
	}
	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(ctx, ledger.CreateTableInput(table)); err != nil {
		t.Fatal(err)
	}
	if err := ledger.New(db, table).PutResult(ctx, result.Result{ID: "e1/" + cluster + "/web", Outcome: result.Succeeded, Cluster: cluster, Service: "web",
		Image: result.Image{Repository: repo, Tag: "v1.0.0", Digest: d1}, Trigger: result.Trigger{Source: "ecr-push", PushedAt: pushed1}, StartedAt: pushed1}); err != nil {
		t.Fatal(err)
	}
	ec := ecs.NewFromConfig(cfg)
	if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String(cluster)}); err != nil {
		t.Fatal(err)
	}
	createService(t, ec, cluster, "web", "web-rie-"+suffix, "123456789012.dkr.ecr.us-east-1.amazonaws.com/"+repo+"@"+d1)
	smARN := passStateMachine(t, cfg, "greenlight-rie-"+suffix+"-deploy")

	rie := awstest.StartFunction(t, localaws.FunctionOptions{
		Package: "./functions/reconcile", Name: "reconcile", Timeout: 60 * time.Second,
		Env: []string{
			"AWS_ENDPOINT_URL=" + m.URL,
			"ROUTES_PARAMETER=" + param,
			"LEDGER_TABLE=" + table,
			"STATE_MACHINE_ARN=" + smARN,
			"RECONCILE_GRACE_MINUTES=0",
			"AWS_LAMBDA_LOG_FORMAT=JSON",
		},
	})

	event, err := os.ReadFile(filepath.Join("..", "..", "events", "reconcile", "scheduled.json"))
	if err != nil {
		t.Fatal(err)
	}
	run := func() reconcile.Summary {
		t.Helper()
		out, err := rie.Invoke(ctx, event)
		if err != nil {
			t.Fatalf("invoke: %v\n%s", err, rie.LogTail(20))
		}
		var sum reconcile.Summary
		if err := json.Unmarshal(out, &sum); err != nil || len(sum.Decisions) != 1 {
			t.Fatalf("response %s is not a run summary (%v)\n%s", out, err, rie.LogTail(20))
		}
		return sum
	}
	sum := run()
	name := "reconcile-" + cluster + "-web-" + result.ShortDigest(d2)
	if sum.Started != 1 || sum.Decisions[0].Image.Digest != d2 || !strings.HasSuffix(sum.Decisions[0].ExecutionARN, ":"+name) {
		t.Fatalf("first run: %+v; want v1.1.0 started as %s", sum, name)
	}
	if sum = run(); sum.Started != 0 || sum.Skipped[reconcile.ReasonStarted] != 1 {
		t.Fatalf("second run: %+v; want nothing started, already-started", sum)
	}
	ex, err := sfn.NewFromConfig(cfg).ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(smARN)})
	if err != nil || len(ex.Executions) != 1 || aws.ToString(ex.Executions[0].Name) != name {
		t.Fatalf("executions %+v, %v; want exactly %s", ex, err, name)
	}
	logs, _ := os.ReadFile(rie.LogPath())
	if !strings.Contains(string(logs), `"message":"reconciliation finished"`) || !strings.Contains(string(logs), `"started":1`) {
		t.Errorf("the function's JSON log has no run summary:\n%s", rie.LogTail(20))
	}
}
