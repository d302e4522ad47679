package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
)

func TestVerify(t *testing.T) {
	e := newEnv(t)
	e.putRoutes(routesDoc)
	w := e.wire()

	out, _ := e.mustRun(0, "verify")
	golden(t, "verify-ok", out)
	out, _ = e.mustRun(0, "verify", "-o", "json")
	if v := checkSchema(t, "verify", out); v["ok"] != true || v["failed"] != float64(0) {
		t.Errorf("verify json: %v", v)
	}

	// Break the install the ways people do, then verify names each and its fix.
	ctx := context.Background()
	im := iam.NewFromConfig(e.cfg)
	if _, err := im.DetachRolePolicy(ctx, &iam.DetachRolePolicyInput{RoleName: aws.String("web-ecs-lb"), PolicyArn: aws.String("arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers")}); err != nil {
		t.Fatal(err)
	}
	if _, err := im.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("web-ecs-hook"),
		PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}`)}); err != nil {
		t.Fatal(err)
	}
	// the alarm watches one target group only
	e.putAlarm("web-5xx-rate", []cwtypes.MetricDataQuery{{Id: aws.String("e1"), ReturnData: aws.Bool(true), MetricStat: &cwtypes.MetricStat{Period: aws.Int32(60), Stat: aws.String("Sum"),
		Metric: &cwtypes.Metric{Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(w.lbFull)}, {Name: aws.String("TargetGroup"), Value: aws.String(w.tgAFull)}}}}}})
	// rolling strategy, no hook, no ECS alarms
	e.setDeploymentConfiguration(&ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyRolling})
	// the rule sends another repository's pushes
	e.putRule(`{"source":["aws.ecr"],"detail-type":["ECR Image Action"],"detail":{"action-type":["PUSH"],"result":["SUCCESS"],"repository-name":["api"]}}`, e.sm)
	// and a route to a service that does not exist, from a repository that does not exist
	e.putRoutes(strings.Replace(routesDoc, `"targets": [{"cluster": "prod", "service": "web", "container": "app"}]`,
		`"targets": [{"cluster": "prod", "service": "web", "container": "app"}, {"cluster": "prod", "service": "gone", "container": "app"}]`, 1))
	out, _ = e.mustRun(1, "verify")
	golden(t, "verify-broken", out)
	for _, want := range []string{
		"FAIL  deployment strategy is ROLLING, not BLUE_GREEN",
		"FAIL  route web-prod has smoke tests but the service has no lifecycle hook",
		"FAIL  alarm web-5xx-rate watches 1 of the service's 2 target groups",
		"FAIL  role web-ecs-lb trusts ecs but lacks AmazonECSInfrastructureRolePolicyForLoadBalancers",
		"FAIL  the ECS service does not exist (or is INACTIVE)",
		"FAIL  no enabled rule sends pushes to web to the state machine",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("verify output lacks %q", want)
		}
	}
	out, _ = e.mustRun(1, "verify", "-o", "json", "--service", "prod/web")
	if v := checkSchema(t, "verify", out); v["ok"] != false {
		t.Errorf("broken verify json: %v", v)
	}

	// the hook role is checked when a hook is configured; test rule missing is a warning
	e.setDeploymentConfiguration(&ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(5),
		LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{HookTargetArn: aws.String(w.hookFn), RoleArn: aws.String(w.hookRole),
			LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{ecstypes.DeploymentLifecycleHookStagePostScaleUp}}}})
	out, _ = e.mustRun(1, "verify", "--service", "prod/web")
	if !strings.Contains(out, "FAIL  role web-ecs-hook does not trust ecs.amazonaws.com") || !strings.Contains(out, "PASS  hook function greenlight-smoketest is Active") {
		t.Errorf("hook role:\n%s", out)
	}

	// an invalid routes document: one FAIL, exit 1
	e.putRoutes(`{"version": 2, "routes": []}`)
	out, _ = e.mustRun(1, "verify")
	if !strings.Contains(out, "FAIL  routes parameter /greenlight/routes: invalid routes: version: is 2, want 1") {
		t.Errorf("invalid routes:\n%s", out)
	}
}
