package reconcile_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/reconcile"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func TestMain(m *testing.M) { awstest.Main(m) }

const motoRoutes = `{"version": 1, "routes": [
  {"name": "web-prod", "repository": "web", "tagPattern": "v\\d+\\.\\d+\\.\\d+",
   "targets": [
     {"cluster": "prod", "service": "web", "container": "app"},
     {"cluster": "prod", "service": "seen", "container": "app"},
     {"cluster": "prod", "service": "newer", "container": "app"},
     {"cluster": "prod", "service": "running", "container": "app"},
     {"cluster": "prod", "service": "fresh", "container": "app"}]}
]}`

// pushImage puts a one-layer image manifest (its layer makes its digest) under tag and
// returns ECR's digest and imagePushedAt.
func pushImage(t *testing.T, c *ecr.Client, repo, tag, layer string) (string, time.Time) {
	t.Helper()
	ctx := context.Background()
	manifest := fmt.Sprintf(`{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json",
	  "config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":100,"digest":"sha256:%064d"},
	  "layers":[{"mediaType":"application/vnd.docker.image.rootfs.diff.tar.gzip","size":200,"digest":"sha256:%s"}]}`, 0, strings.Repeat(layer, 64))
	out, err := c.PutImage(ctx, &ecr.PutImageInput{RepositoryName: aws.String(repo), ImageManifest: aws.String(manifest), ImageTag: aws.String(tag)})
	if err != nil {
		t.Fatalf("PutImage(%s): %v", tag, err)
	}
	d := aws.ToString(out.Image.ImageId.ImageDigest)
	desc, err := c.DescribeImages(ctx, &ecr.DescribeImagesInput{RepositoryName: aws.String(repo)})
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range desc.ImageDetails {
		if aws.ToString(im.ImageDigest) == d {
			return d, aws.ToTime(im.ImagePushedAt)
		}
	}
	t.Fatalf("DescribeImages does not list %s", d)
	return "", time.Time{}
}

// passStateMachine creates a state machine named name whose only state is a Pass (the
// reconciler only starts and lists executions), with a role of its own, and returns its ARN.
func passStateMachine(t *testing.T, cfg aws.Config, name string) string {
	t.Helper()
	ctx := context.Background()
	role, err := iam.NewFromConfig(cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String(name + "-role"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	sm, err := sfn.NewFromConfig(cfg).CreateStateMachine(ctx, &sfn.CreateStateMachineInput{Name: aws.String(name), RoleArn: role.Role.Arn,
		Definition: aws.String(`{"StartAt":"Resolve","States":{"Resolve":{"Type":"Pass","End":true}}}`)})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(sm.StateMachineArn)
}

// createService creates an ECS service in cluster whose task definition, of family, runs
// image in container app.
func createService(t *testing.T, ec *ecs.Client, cluster, service, family, image string) {
	t.Helper()
	ctx := context.Background()
	td, err := ec.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{Family: aws.String(family),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(image), Memory: aws.Int32(128)}}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ec.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String(cluster), ServiceName: aws.String(service),
		TaskDefinition: td.TaskDefinition.TaskDefinitionArn, DesiredCount: aws.Int32(1)}); err != nil {
		t.Fatal(err)
	}
}

// TestReconcileOnMoto runs the reconciler against moto: ECR images with moto's
// imagePushedAt, routes in SSM, the ledger in DynamoDB, services in ECS and a Pass-only
// state machine. Of five services on one route, only the one whose push was missed gets an
// execution, once, and a late push event for it then finds the digest taken.
func TestReconcileOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg := awstest.Config(t)
	er := ecr.NewFromConfig(cfg)
	if _, err := er.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: aws.String("web")}); err != nil {
		t.Fatal(err)
	}
	d1, _ := pushImage(t, er, "web", "v1.0.0", "a")
	time.Sleep(1100 * time.Millisecond) // moto's imagePushedAt has whole seconds
	d2, pushed2 := pushImage(t, er, "web", "v1.1.0", "b")
	pushImage(t, er, "web", "feature-x", "c") // newest, but no route matches its tag
	registry := awstest.Account(t) + ".dkr.ecr." + cfg.Region + ".amazonaws.com"

	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/greenlight/routes"), Value: aws.String(motoRoutes), Type: ssmtypes.ParameterTypeString,
	}); err != nil {
		t.Fatal(err)
	}

	db := dynamodb.NewFromConfig(cfg)
	if _, err := db.CreateTable(ctx, ledger.CreateTableInput("ledger")); err != nil {
		t.Fatal(err)
	}
	lg := ledger.New(db, "ledger")
	deployed := func(service, id, digest, tag string, pushed time.Time) {
		t.Helper()
		if err := lg.PutResult(ctx, result.Result{ID: id + "/prod/" + service, Outcome: result.Succeeded, Cluster: "prod", Service: service,
			Image: result.Image{Repository: "web", Tag: tag, Digest: digest}, Trigger: result.Trigger{Source: "ecr-push", PushedAt: pushed},
			StartedAt: pushed.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, svc := range []string{"web", "seen", "running"} {
		deployed(svc, "e1", d1, "v1.0.0", pushed2.Add(-2*time.Second))
	}
	// newer: greenlight deployed a v1.2.0 pushed after v1.1.0 (since deleted from ECR).
	deployed("newer", "e9", "sha256:"+strings.Repeat("9", 64), "v1.2.0", pushed2.Add(time.Minute))
	// seen: the push event for v1.1.0 did arrive there.
	if ok, _, err := lg.ClaimDigest(ctx, "prod/seen", ledger.Marker{Digest: d2, Tag: "v1.1.0", JobID: "push/prod/seen", Execution: "push", SeenAt: pushed2}); err != nil || !ok {
		t.Fatalf("claim for seen: %v %v", ok, err)
	}

	ec := ecs.NewFromConfig(cfg)
	if _, err := ec.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	for svc, digest := range map[string]string{"web": d1, "seen": d1, "running": d2} {
		createService(t, ec, "prod", svc, svc, registry+"/web@"+digest)
	}

	smARN := passStateMachine(t, cfg, "greenlight-deploy")
	sc := sfn.NewFromConfig(cfg)
	executions := func() []string {
		t.Helper()
		out, err := sc.ListExecutions(ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(smARN)})
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range out.Executions {
			names = append(names, aws.ToString(e.Name))
		}
		return names
	}

	r := &reconcile.Reconciler{
		Routes: routes.NewStore(ssm.NewFromConfig(cfg), "/greenlight/routes"),
		ECR:    er, ECS: ec, SFN: sc, Ledger: lg,
		StateMachineARN: smARN,
		Grace:           time.Hour,
		Log:             slog.New(slog.DiscardHandler),
	}
	reasons := func(sum reconcile.Summary) map[string]string {
		m := map[string]string{}
		for _, d := range sum.Decisions {
			m[d.Target.Service] = string(d.Action) + "/" + string(d.Reason)
		}
		return m
	}

	// Inside the grace period: nothing starts.
	sum, err := r.Run(ctx)
	if err != nil || sum.Started != 0 || sum.Skipped[reconcile.ReasonGrace] != 5 || len(executions()) != 0 {
		t.Fatalf("run within the grace period: %v, %v, executions %v; want every service grace-period", reasons(sum), err, executions())
	}

	r.Grace = 0
	sum, err = r.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v (%v)", err, reasons(sum))
	}
	want := map[string]string{"web": "start/", "seen": "skip/already-seen", "newer": "skip/not-newer", "running": "skip/already-running", "fresh": "skip/no-history"}
	if got := reasons(sum); fmt.Sprint(got) != fmt.Sprint(want) || sum.Started != 1 || sum.Images != 3 {
		t.Fatalf("decisions %v, %d started, %d images; want %v, 1 started, 3 images", got, sum.Started, sum.Images, want)
	}
	name := "reconcile-prod-web-" + result.ShortDigest(d2)
	if got := executions(); len(got) != 1 || got[0] != name {
		t.Fatalf("executions %v; want exactly %s", got, name)
	}
	execARN, _ := reconcile.ExecutionARN(smARN, name)
	ex, err := sc.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(execARN)})
	if err != nil {
		t.Fatal(err)
	}
	var in workflow.ExecutionInput
	if err := json.Unmarshal([]byte(aws.ToString(ex.Input)), &in); err != nil || in.Request == nil {
		t.Fatalf("execution input %s: %v", aws.ToString(ex.Input), err)
	}
	rq := in.Request
	if rq.Source != "reconcile" || rq.Route != "web-prod" || rq.Cluster != "prod" || rq.Service != "web" || rq.Image.Digest != d2 || rq.Image.Tag != "v1.1.0" ||
		!rq.PushedAt.Equal(pushed2) || rq.Note != "found by reconciliation: the push event for v1.1.0 at "+pushed2.UTC().Format(time.RFC3339)+" never arrived" {
		t.Fatalf("request = %+v; want v1.1.0 (%s) for prod/web pushed at %s", rq, d2, pushed2)
	}

	// A second run (a retried schedule) starts nothing more.
	sum, err = r.Run(ctx)
	if err != nil || sum.Started != 0 || reasons(sum)["web"] != "skip/already-started" || len(executions()) != 1 {
		t.Fatalf("second run: %v, %v, executions %v; want prod/web already-started and still one execution", reasons(sum), err, executions())
	}
	// The late push event for v1.1.0 finds the digest taken by the reconcile job: resolve
	// makes it a DUPLICATE skip (internal/deploy's tests follow that path through resolve).
	ok, prev, err := lg.ClaimDigest(ctx, "prod/web", ledger.Marker{Digest: d2, Tag: "v1.1.0", JobID: "late-push/prod/web", Execution: "late-push", SeenAt: time.Now()})
	if err != nil || ok || prev.JobID != name+"/prod/web" || prev.Execution != execARN {
		t.Fatalf("late push claim = %v, %+v, %v; want refused, held by %s/prod/web", ok, prev, err, name)
	}
}
