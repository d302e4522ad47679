package ecsemu

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// TestSDKRoundTrip calls every operation the emulator serves with aws-sdk-go-v2's ECS client
// (service/ecs v1.105.1) and checks the decoded fields, so a misspelt or mistyped JSON field
// shows up as a missing value here.
func TestSDKRoundTrip(t *testing.T) {
	h := newHarness(t, harnessOpts{cw: newFakeCW(rateAlarm("web-5xx-rate", lbName, tgA, tgB))})
	pause := ecstypes.DeploymentLifecycleHook{TargetType: ecstypes.DeploymentLifecycleHookTargetTypePause,
		LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{ecstypes.DeploymentLifecycleHookStagePostScaleUp}}
	_, name := h.create(svcSpec{desired: 2, bake: 1,
		hooks:  []ecstypes.DeploymentLifecycleHook{staticDetails(lambdaHook(ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift)), pause},
		alarms: &ecstypes.DeploymentAlarms{AlarmNames: []string{"web-5xx-rate"}, Enable: true, Rollback: true},
		cb:     &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true},
	})
	ctx := h.ctx
	c := h.ecs

	// DescribeServices: what moto drops is there, and the counts are real.
	svcs, err := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{name, "nope"}})
	if err != nil {
		t.Fatal(err)
	}
	s := svcs.Services[0]
	dc := s.DeploymentConfiguration
	switch {
	case dc == nil || dc.Strategy != ecstypes.DeploymentStrategyBlueGreen || aws.ToInt32(dc.BakeTimeInMinutes) != 1:
		t.Errorf("deploymentConfiguration = %+v", dc)
	case len(dc.LifecycleHooks) != 2 || dc.LifecycleHooks[0].HookDetails == nil || dc.Alarms == nil || !dc.Alarms.Rollback ||
		dc.DeploymentCircuitBreaker == nil || !dc.DeploymentCircuitBreaker.Enable || aws.ToInt32(dc.MaximumPercent) != 200:
		t.Errorf("deploymentConfiguration details = %+v", dc)
	}
	var details map[string]any
	if err := dc.LifecycleHooks[0].HookDetails.UnmarshalSmithyDocument(&details); err != nil || details["path"] != "/healthz" {
		t.Errorf("hookDetails = %v (%v)", details, err)
	}
	if s.DeploymentController == nil || s.DeploymentController.Type != ecstypes.DeploymentControllerTypeEcs {
		t.Errorf("deploymentController = %+v", s.DeploymentController)
	}
	if ac := s.LoadBalancers[0].AdvancedConfiguration; ac == nil || aws.ToString(ac.AlternateTargetGroupArn) != tgB || aws.ToString(ac.TestListenerRule) != testRule {
		t.Errorf("advancedConfiguration = %+v", ac)
	}
	if nc := s.NetworkConfiguration; nc == nil || nc.AwsvpcConfiguration == nil || nc.AwsvpcConfiguration.Subnets[0] != "subnet-0123456789abcdef0" {
		t.Errorf("networkConfiguration = %+v", nc)
	}
	if s.RunningCount != 2 || s.DesiredCount != 2 || s.CreatedAt == nil || aws.ToString(s.Status) != "ACTIVE" || aws.ToString(s.CurrentServiceDeployment) == "" {
		t.Errorf("service running %d desired %d createdAt %v status %s current %s", s.RunningCount, s.DesiredCount, s.CreatedAt, aws.ToString(s.Status), aws.ToString(s.CurrentServiceDeployment))
	}
	if len(s.Deployments) != 1 || aws.ToString(s.Deployments[0].Status) != "PRIMARY" || !strings.HasPrefix(aws.ToString(s.Deployments[0].Id), "ecs-svc/") ||
		s.Deployments[0].RunningCount != 2 || s.Deployments[0].RolloutState != ecstypes.DeploymentRolloutStateCompleted {
		t.Errorf("deployments = %+v", s.Deployments)
	}
	if len(svcs.Failures) != 1 || aws.ToString(svcs.Failures[0].Reason) != "MISSING" {
		t.Errorf("failures = %+v, want nope MISSING", svcs.Failures)
	}

	// UpdateService with desiredCount only scales, without a deployment (reference §5.1).
	before := aws.ToString(s.CurrentServiceDeployment)
	up, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String(name), DesiredCount: aws.Int32(3)})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(up.Service.CurrentServiceDeployment) != before {
		t.Error("a desiredCount-only UpdateService started a deployment")
	}
	waitFor(t, "3 running tasks", func() bool {
		out, _ := c.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{name}})
		return out.Services[0].RunningCount == 3
	})
	// RUNNING means the process started; wait until the load balancer sees it healthy too.
	waitForState(t, h, name, "3 healthy tasks", func() bool {
		tasks, _ := h.em.Tasks("prod", name)
		n := 0
		for _, ti := range tasks {
			if ti.Healthy {
				n++
			}
		}
		return n == 3
	})

	// ListTasks and DescribeTasks: awsvpc-looking tasks on their own loopback addresses.
	lt, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), ServiceName: aws.String(name)})
	if err != nil || len(lt.TaskArns) != 3 {
		t.Fatalf("ListTasks = %v, %v", lt, err)
	}
	dt, err := c.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: append(lt.TaskArns, "arn:aws:ecs:us-east-1:123456789012:task/prod/0000")})
	if err != nil {
		t.Fatal(err)
	}
	ips := map[string]bool{}
	for _, task := range dt.Tasks {
		var ip string
		for _, kv := range task.Attachments[0].Details {
			if aws.ToString(kv.Name) == "privateIPv4Address" {
				ip = aws.ToString(kv.Value)
			}
		}
		ni := task.Containers[0].NetworkInterfaces
		if ip == "" || len(ni) != 1 || aws.ToString(ni[0].PrivateIpv4Address) != ip || !strings.HasPrefix(ip, "127.") {
			t.Errorf("task addresses: attachment %q, container %+v", ip, ni)
		}
		ips[ip] = true
		if aws.ToString(task.LastStatus) != "RUNNING" || aws.ToString(task.Group) != "service:"+name || !strings.HasPrefix(aws.ToString(task.StartedBy), "ecs-svc/") ||
			aws.ToString(task.TaskDefinitionArn) == "" || task.StartedAt == nil || aws.ToString(task.Containers[0].Name) != "app" ||
			aws.ToString(task.Attachments[0].Type) != "ElasticNetworkInterface" || task.LaunchType != ecstypes.LaunchTypeFargate {
			t.Errorf("task = %+v", task)
		}
		code, body := get(t, "http://"+ip+":8080")
		if code != 200 || body != "blue" {
			t.Errorf("task %s answers %d %q on its private IP", ip, code, body)
		}
	}
	if len(ips) != 3 {
		t.Errorf("tasks share addresses: %v", ips)
	}
	if len(dt.Failures) != 1 || aws.ToString(dt.Failures[0].Reason) != "MISSING" {
		t.Errorf("DescribeTasks failures = %+v", dt.Failures)
	}

	// StopTask: stopped with UserInitiated, replaced by the scheduler.
	st, err := c.StopTask(ctx, &ecs.StopTaskInput{Cluster: aws.String("prod"), Task: aws.String(lt.TaskArns[0]), Reason: aws.String("chaos")})
	if err != nil || aws.ToString(st.Task.DesiredStatus) != "STOPPED" || st.Task.StopCode != ecstypes.TaskStopCodeUserInitiated {
		t.Fatalf("StopTask = %+v, %v", st, err)
	}
	// On a loaded machine another task may fail its health checks and be replaced as well,
	// so the stopped list holds at least the task stopped here, not exactly it.
	waitForState(t, h, name, "the stopped task replaced", func() bool {
		out, _ := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), ServiceName: aws.String(name)})
		stopped, _ := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), ServiceName: aws.String(name), DesiredStatus: ecstypes.DesiredStatusStopped})
		return out != nil && stopped != nil && len(out.TaskArns) == 3 && slices.Contains(stopped.TaskArns, lt.TaskArns[0])
	})

	// A deployment with a pause hook: AWAITING_ACTION until ContinueServiceDeployment.
	arn := h.deploy(name, map[string]string{"VERSION": "green"})
	var hookID string
	waitFor(t, "the pause hook awaiting action", func() bool {
		for _, hd := range h.describe(arn).LifecycleHookDetails {
			if hd.TargetType == ecstypes.DeploymentLifecycleHookTargetTypePause && hd.Status == ecstypes.DeploymentLifecycleHookStatusAwaitingAction {
				hookID = aws.ToString(hd.HookId)
				return true
			}
		}
		return false
	})
	if !strings.HasPrefix(hookID, "ecs-pause-") {
		t.Errorf("pause hookId %q", hookID)
	}
	_, err = c.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), HookId: aws.String("ecs-pause-nope")})
	var ip *ecstypes.InvalidParameterException
	if !errors.As(err, &ip) {
		t.Errorf("ContinueServiceDeployment with an unknown hookId: %v, want InvalidParameterException", err)
	}
	cont, err := c.ContinueServiceDeployment(ctx, &ecs.ContinueServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), HookId: aws.String(hookID), Action: ecstypes.DeploymentLifecycleHookActionContinue})
	if err != nil || aws.ToString(cont.ServiceDeploymentArn) != arn {
		t.Fatalf("ContinueServiceDeployment = %v, %v", cont, err)
	}
	r := h.wait(arn)
	if r.Status != StatusSuccessful {
		t.Fatalf("deployment %s (%s)", r.Status, r.StatusReason)
	}

	// DescribeServiceDeployments: every field the deploy Lambdas read.
	dd, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn, arn + "-missing"}})
	if err != nil {
		t.Fatal(err)
	}
	d := dd.ServiceDeployments[0]
	if aws.ToString(d.ServiceDeploymentArn) != arn || aws.ToString(d.ServiceArn) != svcArn(h, name) || !strings.HasSuffix(aws.ToString(d.ClusterArn), ":cluster/prod") ||
		d.CreatedAt == nil || d.StartedAt == nil || d.FinishedAt == nil || d.UpdatedAt == nil || d.Status != ecstypes.ServiceDeploymentStatusSuccessful ||
		d.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStageCleanUp || d.DeploymentConfiguration == nil || d.DeploymentConfiguration.Strategy != ecstypes.DeploymentStrategyBlueGreen {
		t.Errorf("service deployment = %+v", d)
	}
	if tr := d.TargetServiceRevision; tr == nil || aws.ToString(tr.Arn) != r.TargetRevisionARN || tr.RequestedTaskCount != 3 || tr.RunningTaskCount != 3 ||
		aws.ToFloat64(tr.RequestedTestTrafficWeight) != 100 {
		t.Errorf("targetServiceRevision = %+v", tr)
	}
	if cb := d.DeploymentCircuitBreaker; cb == nil || cb.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoringComplete || cb.Threshold != 3 {
		t.Errorf("deploymentCircuitBreaker = %+v", cb)
	}
	if al := d.Alarms; al == nil || al.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusMonitoringComplete || al.AlarmNames[0] != "web-5xx-rate" {
		t.Errorf("alarms = %+v", al)
	}
	if len(d.LifecycleHookDetails) != 2 {
		t.Errorf("lifecycleHookDetails = %+v", d.LifecycleHookDetails)
	}
	if len(dd.Failures) != 1 || aws.ToString(dd.Failures[0].Reason) != "MISSING" {
		t.Errorf("failures = %+v", dd.Failures)
	}

	// DescribeServiceRevisions.
	rv, err := c.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{r.TargetRevisionARN, r.TargetRevisionARN + "9"}})
	if err != nil {
		t.Fatal(err)
	}
	rev := rv.ServiceRevisions[0]
	if aws.ToString(rev.ServiceRevisionArn) != r.TargetRevisionARN || !strings.HasSuffix(aws.ToString(rev.TaskDefinition), "web:2") ||
		len(rev.ContainerImages) != 1 || !strings.HasPrefix(aws.ToString(rev.ContainerImages[0].ImageDigest), "sha256:") ||
		aws.ToString(rev.ContainerImages[0].ContainerName) != "app" || rev.ResolvedConfiguration == nil ||
		aws.ToString(rev.ResolvedConfiguration.LoadBalancers[0].TargetGroupArn) != tgB || len(rev.LoadBalancers) != 1 || rev.CreatedAt == nil {
		t.Errorf("service revision = %+v", rev)
	}
	if len(rv.Failures) != 1 {
		t.Errorf("revision failures = %+v", rv.Failures)
	}

	// ListServiceDeployments: newest first, filters, pagination.
	all, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("prod"), Service: aws.String(name)})
	if err != nil || len(all.ServiceDeployments) != 2 || aws.ToString(all.ServiceDeployments[0].ServiceDeploymentArn) != arn ||
		aws.ToString(all.ServiceDeployments[0].TargetServiceRevisionArn) != r.TargetRevisionARN {
		t.Fatalf("ListServiceDeployments = %+v, %v", all, err)
	}
	page, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("prod"), Service: aws.String(name), MaxResults: aws.Int32(1)})
	if err != nil || len(page.ServiceDeployments) != 1 || page.NextToken == nil {
		t.Fatalf("page 1 = %+v, %v", page, err)
	}
	page2, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("prod"), Service: aws.String(name), MaxResults: aws.Int32(1), NextToken: page.NextToken})
	if err != nil || len(page2.ServiceDeployments) != 1 || page2.NextToken != nil || aws.ToString(page2.ServiceDeployments[0].ServiceDeploymentArn) == arn {
		t.Fatalf("page 2 = %+v, %v", page2, err)
	}
	recent, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("prod"), Service: aws.String(name),
		Status: []ecstypes.ServiceDeploymentStatus{ecstypes.ServiceDeploymentStatusSuccessful}, CreatedAt: &ecstypes.CreatedAt{After: aws.Time(r.CreatedAt.Add(-time.Millisecond))}})
	if err != nil || len(recent.ServiceDeployments) != 1 {
		t.Errorf("filtered ListServiceDeployments = %+v, %v", recent, err)
	}

	// forceNewDeployment with the same task definition starts a deployment (reference §5.1).
	force, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String(name), ForceNewDeployment: true})
	if err != nil || aws.ToString(force.Service.CurrentServiceDeployment) == arn {
		t.Fatalf("forceNewDeployment: %v, %v", force, err)
	}
	// It waits at the pause hook; a rollback ends the wait.
	forced := aws.ToString(force.Service.CurrentServiceDeployment)
	h.waitStage(forced, StagePostScaleUp)
	if _, err := c.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(forced), StopType: ecstypes.StopServiceDeploymentStopTypeRollback}); err != nil {
		t.Fatal(err)
	}
	if fr := h.wait(forced); fr.Status != StatusRollbackSuccessful || fr.SourceRevisionARNs[0] != r.TargetRevisionARN {
		t.Errorf("forced deployment: %s from %v", fr.Status, fr.SourceRevisionARNs)
	}

	// Errors: typed by the SDK from {"__type": "...#<Exception>"} with HTTP 400.
	var snf *ecstypes.ServiceNotFoundException
	var cnf *ecstypes.ClusterNotFoundException
	if _, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("prod"), Service: aws.String("nope")}); !errors.As(err, &snf) {
		t.Errorf("unknown service: %v, want ServiceNotFoundException", err)
	}
	if _, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("nocluster"), Service: aws.String(name)}); !errors.As(err, &cnf) {
		t.Errorf("unknown cluster: %v, want ClusterNotFoundException", err)
	}
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("nope"), DesiredCount: aws.Int32(1)}); !errors.As(err, &snf) {
		t.Errorf("UpdateService unknown service: %v, want ServiceNotFoundException", err)
	}
	if _, err := c.ListTasks(ctx, &ecs.ListTasksInput{Cluster: aws.String("nocluster")}); !errors.As(err, &cnf) {
		t.Errorf("ListTasks unknown cluster: %v, want ClusterNotFoundException", err)
	}
	if _, err := c.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String(name), TaskDefinition: aws.String("web:99")}); err == nil {
		t.Error("UpdateService to an unregistered task definition succeeded")
	}
	var ae smithy.APIError
	if _, err := c.ListClusters(ctx, &ecs.ListClustersInput{}); !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" || !strings.Contains(ae.ErrorMessage(), "upstream") {
		t.Errorf("an operation standalone mode does not serve: %v", err)
	}
	if _, err := c.CreateService(ctx, &ecs.CreateServiceInput{Cluster: aws.String("prod"), ServiceName: aws.String("bad"), TaskDefinition: aws.String("web:1"),
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(1)},
		LoadBalancers:           []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(tgA), ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080)}},
	}); !errors.As(err, &ip) || !strings.Contains(err.Error(), "advancedConfiguration") {
		t.Errorf("blue/green without advancedConfiguration: %v, want InvalidParameterException naming advancedConfiguration", err)
	}
}

// TestEndpointFromEnvironment is how the Lambdas reach the emulator: AWS_ENDPOINT_URL_ECS,
// honoured by the SDK's config loader, sends ECS (and only ECS) there.
func TestEndpointFromEnvironment(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{desired: 1})
	t.Setenv("AWS_ENDPOINT_URL_ECS", h.em.URL())
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	cfg, err := config.LoadDefaultConfig(context.Background(), config.WithRegion("us-east-1"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ecs.NewFromConfig(cfg).DescribeServices(h.ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{name}})
	if err != nil || len(out.Services) != 1 {
		t.Fatalf("DescribeServices through AWS_ENDPOINT_URL_ECS: %v, %v", out, err)
	}
	// Not JSON 1.1: a clear error.
	resp, err := http.Get(h.em.URL())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 {
		t.Errorf("GET / = %d, want 400", resp.StatusCode)
	}
}

// waitFor polls cond until it holds. The bound is generous on purpose: it only stops a
// test that would otherwise hang (CI runs many test binaries at once on 2 cores).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if !poll(cond) {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// waitForState is waitFor that, on a timeout, prints the service's tasks, so the failure
// says which task is stuck or why it stopped.
func waitForState(t *testing.T, h *harness, service, what string, cond func() bool) {
	t.Helper()
	if poll(cond) {
		return
	}
	tasks, _ := h.em.Tasks("prod", service)
	for _, ti := range tasks {
		t.Logf("task %s: %s healthy=%v stopped=%q", ti.ARN, ti.LastStatus, ti.Healthy, ti.StoppedReason)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func poll(cond func() bool) bool {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}
