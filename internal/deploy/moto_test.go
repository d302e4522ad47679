package deploy_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/deploy/deployfake"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func TestMain(m *testing.M) { awstest.Main(m) }

func newLedger(t *testing.T) *ledger.Table {
	t.Helper()
	db := dynamodb.NewFromConfig(awstest.Config(t))
	if _, err := db.CreateTable(context.Background(), ledger.CreateTableInput("ledger")); err != nil {
		t.Fatal(err)
	}
	return ledger.New(db, "ledger")
}

// TestResolveDedupeOnMoto resolves pushes against routes in moto SSM and digest markers in
// moto DynamoDB: a second tag of the same digest, and a replayed event, do not deploy twice.
func TestResolveDedupeOnMoto(t *testing.T) {
	ctx := context.Background()
	cfg := awstest.Config(t)
	if _, err := ssm.NewFromConfig(cfg).PutParameter(ctx, &ssm.PutParameterInput{
		Name: aws.String("/greenlight/routes"), Value: aws.String(routesDoc), Type: ssmtypes.ParameterTypeString,
	}); err != nil {
		t.Fatal(err)
	}
	r := &deploy.Resolver{Routes: routes.NewStore(ssm.NewFromConfig(cfg), "/greenlight/routes"), Ledger: newLedger(t)}
	resolve := func(exec string, ev workflow.ExecutionInput) workflow.Plan {
		t.Helper()
		raw, _ := json.Marshal(ev)
		p, err := r.Resolve(ctx, deploy.ResolveInput{Input: raw, ExecutionARN: "arn:aws:states:eu-west-1:111122223333:execution:gl-deploy:" + exec, StartedAt: ev.Time})
		if err != nil {
			t.Fatalf("Resolve(%s): %v", exec, err)
		}
		return p
	}
	first := resolve("e1", pushEvent())
	if len(first.Jobs) != 3 {
		t.Fatalf("first push: %d jobs; want 3 (web-prod's two services + staging)", len(first.Jobs))
	}
	j := first.Jobs[0]
	if j.ID != "e1/prod/web" || j.Skip != nil || j.Image.URI != "111122223333.dkr.ecr.eu-west-1.amazonaws.com/web@"+digestA ||
		j.Registry != "111122223333.dkr.ecr.eu-west-1.amazonaws.com" || j.Route.Name != "web-prod" || j.Target.Container != "app" {
		t.Fatalf("first job = %+v", j)
	}
	// Same digest pushed again under another tag: every target already claimed it.
	second := pushEvent()
	second.Detail.ImageTag, second.ID = "latest", "another-event"
	for _, j := range resolve("e2", second).Jobs {
		if j.Skip == nil || j.Skip.Kind != result.KindDuplicate || !strings.Contains(j.Skip.Summary, "as tag v1.2.3") || !strings.Contains(j.Skip.Summary, "e1") {
			t.Errorf("second tag, job %s: skip = %+v; want DUPLICATE naming tag v1.2.3 and execution e1", j.ID, j.Skip)
		}
	}
	// A retry of the first execution (same job IDs) is not a duplicate of itself.
	for _, j := range resolve("e1", pushEvent()).Jobs {
		if j.Skip != nil {
			t.Errorf("retried resolve of e1: job %s skipped: %+v", j.ID, j.Skip)
		}
	}
	// No route.
	none := pushEvent()
	none.Detail.RepositoryName = "team/api"
	p := resolve("e3", none)
	if len(p.Jobs) != 1 || p.Jobs[0].Skip == nil || p.Jobs[0].Skip.Kind != result.KindNoRoute || p.Jobs[0].ID != "e3/no-route" {
		t.Fatalf("no route: %+v", p.Jobs)
	}
}

// TestLockQueueOnMoto: while a job holds the service, later pushes wait; the newest waiter
// wins and older waiters end superseded; a dead holder's lock is taken over.
func TestLockQueueOnMoto(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	lg := newLedger(t).WithClock(func() time.Time { return now })
	sf := &fakeSFN{status: map[string]string{}}
	l := &deploy.Locker{Ledger: lg, SFN: sf, Poll: deploy.PollBounds{Min: 1, Max: 60}, Now: func() time.Time { return now }}
	job := func(exec string, pushed time.Time, digest string) workflow.Job {
		return workflow.Job{ID: exec + "/prod/web", ExecutionARN: "arn:" + exec, Target: routes.Target{Cluster: "prod", Service: "web", Container: "app"},
			Image: result.Image{Repository: "web", Digest: digest}, Trigger: result.Trigger{PushedAt: pushed}}
	}
	a := job("a", now, "sha256:a")
	sf.status["arn:a"] = "RUNNING"
	a, err := l.Acquire(ctx, a)
	if err != nil || !a.Lock.Acquired {
		t.Fatalf("a acquire = %+v, %v", a.Lock, err)
	}
	b := job("b", now.Add(time.Minute), "sha256:b")
	c := job("c", now.Add(2*time.Minute), "sha256:c")
	sf.status["arn:b"], sf.status["arn:c"] = "RUNNING", "RUNNING"
	if b, err = l.Acquire(ctx, b); err != nil || b.Lock.Acquired || b.Lock.Holder != "arn:a" || b.Wait != 30 {
		t.Fatalf("b acquire while a holds = %+v wait %d, %v; want waiting 30 s on a", b.Lock, b.Wait, err)
	}
	if c, err = l.Acquire(ctx, c); err != nil || c.Lock.Acquired {
		t.Fatalf("c acquire = %+v, %v", c.Lock, err)
	}
	// b tries again: c is newer, so b is superseded.
	if b, err = l.Acquire(ctx, b); err != nil || !b.Lock.Superseded || b.Lock.SupersededBy.Digest != "sha256:c" {
		t.Fatalf("b retry = %+v, %v; want superseded by c", b.Lock, err)
	}
	if _, err := l.Release(ctx, b); err != nil { // b's release must not free a's lock or c's place
		t.Fatal(err)
	}
	if h, _ := lg.Lock(ctx, "prod/web"); h == nil || h.JobID != a.ID {
		t.Fatalf("lock after b's release = %+v; want a", h)
	}
	a, _ = l.Release(ctx, a)
	if !a.Lock.Released {
		t.Fatal("release did not mark the job released")
	}
	if c, err = l.Acquire(ctx, c); err != nil || !c.Lock.Acquired {
		t.Fatalf("c after a released = %+v, %v", c.Lock, err)
	}
	if q, _ := lg.Queue(ctx, "prod/web"); q != nil {
		t.Fatalf("queue after c acquired = %+v; want empty", q)
	}
	// c's execution dies without releasing: d takes the lock at once.
	sf.status["arn:c"] = "FAILED"
	d := job("d", now.Add(3*time.Minute), "sha256:d")
	sf.status["arn:d"] = "RUNNING"
	if d, err = l.Acquire(ctx, d); err != nil || !d.Lock.Acquired {
		t.Fatalf("d with c's execution dead = %+v, %v; want acquired", d.Lock, err)
	}
}

type fakeSFN struct{ status map[string]string }

func (f *fakeSFN) DescribeExecution(ctx context.Context, in *sfn.DescribeExecutionInput, _ ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error) {
	return &sfn.DescribeExecutionOutput{ExecutionArn: in.ExecutionArn, Status: sfnStatus(f.status[*in.ExecutionArn])}, nil
}

// ecsSetup creates a cluster, a two-container task definition and a BLUE_GREEN service in
// moto, and returns an ECS client that reaches moto through the service-deployment fake.
func ecsSetup(t *testing.T) (*ecs.Client, *deployfake.Server, string) {
	t.Helper()
	ctx := context.Background()
	cfg := awstest.Config(t)
	fake, err := deployfake.New(awstest.Moto(t).URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fake.Close)
	moto := ecs.NewFromConfig(cfg)
	if _, err := moto.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	td, err := moto.RegisterTaskDefinition(ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("web"), NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ContainerDefinitions: []ecstypes.ContainerDefinition{
			{Name: aws.String("app"), Image: aws.String(reg + "/web:v1.2.2"), Essential: aws.Bool(true), PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}}},
			{Name: aws.String("envoy"), Image: aws.String("public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29"), Essential: aws.Bool(true)},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tdARN := *td.TaskDefinition.TaskDefinitionArn
	if _, err := moto.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(tdARN), DesiredCount: aws.Int32(2),
		DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs},
	}); err != nil {
		t.Fatal(err)
	}
	// moto drops deploymentConfiguration on CreateService but keeps it from UpdateService.
	if _, err := moto.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"),
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(5)}}); err != nil {
		t.Fatal(err)
	}
	client := ecs.NewFromConfig(cfg, func(o *ecs.Options) { o.BaseEndpoint = aws.String(fake.URL) })
	return client, fake, tdARN
}

func deployJob(exec string) workflow.Job {
	return workflow.Job{
		ID: exec + "/prod/web", ExecutionARN: "arn:aws:states:us-east-1:123456789012:execution:gl-deploy:" + exec,
		Target:  routes.Target{Cluster: "prod", Service: "web", Container: "app"},
		Route:   routes.Route{Name: "web-prod", DeadlineMinutes: 30},
		Image:   result.Image{Repository: "web", Tag: "v1.2.3", Digest: digestA, URI: deploy.ImageURI(reg, "web", digestA)},
		Trigger: result.Trigger{Source: "ecr-push", EventID: "ev-1"}, Registry: reg,
	}
}

// TestStartAndFollowOnMoto: start registers the clone on moto ECS (image pinned, sidecar and
// tags kept), updates the service with the task definition only, finds the service
// deployment both ways ECS may report it, and check follows it to its end.
func TestStartAndFollowOnMoto(t *testing.T) {
	for _, tc := range []struct {
		name    string
		current bool
		script  []deployfake.Step
		want    result.Outcome
		stages  string
	}{
		{"currentServiceDeployment reported, success", true, deployfake.Success, result.Succeeded, "PRE_SCALE_UP,SCALE_UP,POST_TEST_TRAFFIC_SHIFT,PRODUCTION_TRAFFIC_SHIFT,BAKE_TIME,CLEAN_UP"},
		{"found by ListServiceDeployments, hook rollback", false, deployfake.HookRollback, result.RolledBack, "SCALE_UP,POST_TEST_TRAFFIC_SHIFT,CLEAN_UP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			client, fake, prevTD := ecsSetup(t)
			fake.ReportCurrentDeployment = tc.current
			fake.Script("prod", "web", tc.script...)
			lg := newLedger(t)
			j := deployJob("e1")
			if ok, _, err := lg.TryLock(ctx, "prod/web", ledger.Holder{JobID: j.ID, Execution: j.ExecutionARN, LeaseUntil: time.Now().Add(time.Hour)}); err != nil || !ok {
				t.Fatal(err)
			}
			s := &deploy.Starter{ECS: client, Ledger: lg, Poll: deploy.PollBounds{Min: 1, Max: 1}}
			j, err := s.Start(ctx, j)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			d := j.Deployment
			if d.Skipped != nil || d.WaitingForActive != "" || d.ServiceDeploymentARN == "" || d.Strategy != "BLUE_GREEN" ||
				d.PreviousTaskDefinitionARN != prevTD || d.PreviousImage == nil || d.PreviousImage.Tag != "v1.2.2" || j.Wait != 1 {
				t.Fatalf("Start deployment = %+v (wait %d)", d, j.Wait)
			}
			if deps := fake.Deployments(); len(deps) != 1 || deps[0].ARN != d.ServiceDeploymentARN || deps[0].TaskDefinition != d.TaskDefinitionARN {
				t.Fatalf("service deployments = %+v; want one for %s", deps, d.TaskDefinitionARN)
			}
			out, err := client.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(d.TaskDefinitionARN), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags}})
			if err != nil {
				t.Fatal(err)
			}
			img, _ := deploy.ContainerImage(out.TaskDefinition, "app")
			side, _ := deploy.ContainerImage(out.TaskDefinition, "envoy")
			if img != j.Image.URI || side != "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29" || out.TaskDefinition.Revision != 2 {
				t.Errorf("registered task definition: app %s, envoy %s, revision %d", img, side, out.TaskDefinition.Revision)
			}
			tags := map[string]string{}
			for _, tg := range out.Tags {
				tags[*tg.Key] = *tg.Value
			}
			if tags[deploy.TagDigest] != digestA || tags[deploy.TagTag] != "v1.2.3" || tags[deploy.TagExecution] != j.ExecutionARN || tags[deploy.TagSource] != "ecr-push" || tags[deploy.TagEventID] != "ev-1" {
				t.Errorf("task definition tags = %v", tags)
			}
			svc, _ := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
			if got := *svc.Services[0].TaskDefinition; got != d.TaskDefinitionARN {
				t.Errorf("service task definition = %s; want %s", got, d.TaskDefinitionARN)
			}

			// A retried start (the Lambda died after UpdateService) finds the same deployment.
			again, err := s.Start(ctx, deployJob("e1"))
			if err != nil || again.Deployment.ServiceDeploymentARN != d.ServiceDeploymentARN || len(fake.Deployments()) != 1 {
				t.Fatalf("retried Start = %+v, %v; want the same deployment, no second one", again.Deployment, err)
			}

			c := &deploy.Checker{ECS: client, Ledger: lg, Poll: deploy.PollBounds{Min: 1, Max: 1}}
			for i := 0; i < 20 && !j.Deployment.Done; i++ {
				if j, err = c.Check(ctx, j); err != nil {
					t.Fatalf("Check: %v", err)
				}
			}
			var names []string
			for _, st := range j.Deployment.Stages {
				names = append(names, st.Name)
			}
			if !j.Deployment.Done || deploy.StatusOutcome(j.Deployment.Status) != tc.want || strings.Join(names, ",") != tc.stages {
				t.Fatalf("followed to %s (done %v), stages %v; want %s, %s", j.Deployment.Status, j.Deployment.Done, names, tc.want, tc.stages)
			}
			if tc.want == result.RolledBack {
				if j.Deployment.RollbackReason == "" || len(j.Deployment.Hooks) != 1 || j.Deployment.Hooks[0].Status != "FAILED" {
					t.Errorf("rollback details not copied: %+v", j.Deployment)
				}
				// ECS put blue back; the same push again is a new deployment, not ALREADY_RUNNING.
				svc, _ := client.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
				if got := *svc.Services[0].TaskDefinition; got != prevTD {
					t.Errorf("after rollback the service runs %s; want %s", got, prevTD)
				}
			} else {
				// The same digest again: nothing to do.
				_ = lg.ReleaseLock(ctx, "prod/web", j.ID)
				k := deployJob("e2")
				if ok, _, err := lg.TryLock(ctx, "prod/web", ledger.Holder{JobID: k.ID, Execution: k.ExecutionARN, LeaseUntil: time.Now().Add(time.Hour)}); err != nil || !ok {
					t.Fatal(err)
				}
				k, err := s.Start(ctx, k)
				if err != nil || k.Deployment.Skipped == nil || k.Deployment.Skipped.Kind != result.KindAlreadyRunning {
					t.Fatalf("Start of the running digest = %+v, %v; want ALREADY_RUNNING", k.Deployment, err)
				}
			}
		})
	}
}

// TestStartErrors: configuration problems are greenlight.Config errors that name the fix.
func TestStartErrors(t *testing.T) {
	ctx := context.Background()
	client, fake, _ := ecsSetup(t)
	lg := newLedger(t)
	s := &deploy.Starter{ECS: client, Ledger: lg, Poll: deploy.PollBounds{Min: 1, Max: 60}}
	lock := func(j workflow.Job) {
		if h, _ := lg.Lock(ctx, j.Target.Key()); h != nil {
			_ = lg.ReleaseLock(ctx, j.Target.Key(), h.JobID)
		}
		if ok, _, err := lg.TryLock(ctx, j.Target.Key(), ledger.Holder{JobID: j.ID, Execution: j.ExecutionARN, LeaseUntil: time.Now().Add(time.Hour)}); err != nil || !ok {
			t.Fatal(err)
		}
	}
	j := deployJob("e1")
	j.Target.Container = "web"
	lock(j)
	_, err := s.Start(ctx, j)
	if workflow.Name(err) != workflow.ErrConfig || !strings.Contains(err.Error(), `"app", "envoy"`) {
		t.Errorf("missing container: %v (%s); want greenlight.Config naming app and envoy", err, workflow.Name(err))
	}
	j = deployJob("e2")
	j.Target.Service = "nope"
	lock(j)
	if _, err = s.Start(ctx, j); workflow.Name(err) != workflow.ErrConfig || !strings.Contains(err.Error(), "service nope not found in cluster prod") {
		t.Errorf("missing service: %v", err)
	}
	// A deployment greenlight did not start is active: wait for it.
	active := fake.AddDeployment(awstest.Account(t), "prod", "web", "arn:td:other", deployfake.Stuck...)
	j = deployJob("e3")
	lock(j)
	j, err = s.Start(ctx, j)
	if err != nil || j.Deployment.WaitingForActive != active || j.Wait != 30 {
		t.Fatalf("active deployment: %+v wait %d, %v; want waiting 30 s on %s", j.Deployment, j.Wait, err, active)
	}
	// Without the lock, start refuses (and is retried by the state machine).
	k := deployJob("e4")
	if _, err := s.Start(ctx, k); workflow.Name(err) != workflow.ErrTransient {
		t.Errorf("start without the lock = %v; want greenlight.Transient", err)
	}
}

// TestCheckDeadline: past the route deadline check asks ECS to roll back once and ends the
// wait with DeadlineExceeded.
func TestCheckDeadline(t *testing.T) {
	ctx := context.Background()
	client, fake, _ := ecsSetup(t)
	fake.Script("prod", "web", deployfake.Stuck...)
	lg := newLedger(t)
	j := deployJob("e1")
	if ok, _, err := lg.TryLock(ctx, "prod/web", ledger.Holder{JobID: j.ID, Execution: j.ExecutionARN, LeaseUntil: time.Now().Add(time.Hour)}); err != nil || !ok {
		t.Fatal(err)
	}
	s := &deploy.Starter{ECS: client, Ledger: lg, Poll: deploy.PollBounds{Min: 1, Max: 60}}
	j, err := s.Start(ctx, j)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	c := &deploy.Checker{ECS: client, Ledger: lg, Poll: deploy.PollBounds{Min: 1, Max: 60}, Now: func() time.Time { return now }}
	if j, err = c.Check(ctx, j); err != nil || j.Deployment.Done || j.Wait != 10 {
		t.Fatalf("first check = %+v wait %d, %v", j.Deployment, j.Wait, err)
	}
	now = j.Deployment.DeadlineAt.Add(time.Second)
	if j, err = c.Check(ctx, j); err != nil || !j.Deployment.Done || !j.Deployment.DeadlineExceeded {
		t.Fatalf("check past the deadline = %+v, %v", j.Deployment, err)
	}
	if n := fake.Calls("StopServiceDeployment"); n != 1 {
		t.Fatalf("StopServiceDeployment called %d times; want 1", n)
	}
	if !fake.Deployments()[0].StopRequested {
		t.Fatal("the fake did not record the stop")
	}
	// A retried check does not ask again.
	j.Deployment.Done = false
	if _, err = c.Check(ctx, j); err != nil || fake.Calls("StopServiceDeployment") != 1 {
		t.Fatalf("retried deadline check: %v, %d stops", err, fake.Calls("StopServiceDeployment"))
	}
}
