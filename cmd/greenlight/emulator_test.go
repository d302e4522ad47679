package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/cli"
	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
)

// These tests drive status --watch and rollback against the ECS blue/green emulator
// (internal/ecsemu) in place of ECS: real service deployments moving through ECS's stages
// with real task processes, while the ledger and routes stay in moto.

const (
	emuTgA      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-a/1111111111111111"
	emuTgB      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-b/2222222222222222"
	emuProdRule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/3333333333333333/4444444444444444/5555555555555555"
	emuTestRule = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/3333333333333333/6666666666666666/7777777777777777"
	emuHook     = "arn:aws:lambda:us-east-1:123456789012:function:greenlight-smoketest"
)

var (
	appOnce sync.Once
	appPath string
	appErr  error
)

// emulatorApp builds the emulator's test container (an HTTP server with /health) once.
func emulatorApp(t *testing.T) string {
	t.Helper()
	appOnce.Do(func() {
		dir, err := os.MkdirTemp("", "greenlight-cli-testapp-")
		if err != nil {
			appErr = err
			return
		}
		appPath = filepath.Join(dir, "testapp")
		cmd := exec.Command("go", "build", "-o", appPath, "../../internal/ecsemu/testdata/testapp")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			appErr = fmt.Errorf("build the emulator's testapp: %v: %s", err, b)
		}
	})
	if appErr != nil {
		t.Fatal(appErr)
	}
	return appPath
}

type emu struct {
	em   *ecsemu.Emulator
	ecs  *ecs.Client
	hook atomic.Value // string: the hook's answer
	ctx  context.Context
}

func startEmulator(t *testing.T) *emu {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	x := &emu{ctx: ctx}
	x.hook.Store(`{"hookStatus":"SUCCEEDED"}`)
	tg := ecsemu.TargetGroupConfig{HealthCheckPath: "/health", HealthCheckIntervalSeconds: 5, HealthCheckTimeoutSeconds: 2,
		HealthyThresholdCount: 2, UnhealthyThresholdCount: 2, DeregistrationDelaySeconds: 30}
	em, err := ecsemu.New(ctx, ecsemu.Options{
		TimeScale:       0.01,
		TargetGroups:    map[string]ecsemu.TargetGroupConfig{emuTgA: tg, emuTgB: tg},
		TaskAddressBase: fmt.Sprintf("127.%d.%d.2", 10+rand.IntN(240), rand.IntN(250)),
		Runner:          ecsemu.Images{"*": {Path: emulatorApp(t)}},
		Invoker: ecsemu.HookFunc(func(ctx context.Context, arn string, payload []byte) ([]byte, error) {
			return []byte(x.hook.Load().(string)), nil
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := em.Close(); err != nil {
			t.Errorf("emulator Close: %v", err)
		}
	})
	x.em = em
	x.ecs = ecs.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("testing", "testing", ""), RetryMaxAttempts: 1},
		func(o *ecs.Options) { o.BaseEndpoint = aws.String(em.URL()) })

	if _, err := x.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	out, err := x.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(x.register(t, "blue")),
		DesiredCount: aws.Int32(2), LaunchType: ecstypes.LaunchTypeFargate,
		DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs},
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(2),
			LifecycleHooks: []ecstypes.DeploymentLifecycleHook{{HookTargetArn: aws.String(emuHook), RoleArn: aws.String("arn:aws:iam::123456789012:role/hook"),
				LifecycleStages: []ecstypes.DeploymentLifecycleHookStage{ecstypes.DeploymentLifecycleHookStagePostTestTrafficShift}}}},
		LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(emuTgA), ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080),
			AdvancedConfiguration: &ecstypes.AdvancedConfiguration{AlternateTargetGroupArn: aws.String(emuTgB), ProductionListenerRule: aws.String(emuProdRule),
				TestListenerRule: aws.String(emuTestRule), RoleArn: aws.String("arn:aws:iam::123456789012:role/ecs-lb")}}},
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: []string{"subnet-0123456789abcdef0"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if r, err := em.WaitDeployment(ctx, aws.ToString(out.Service.CurrentServiceDeployment)); err != nil || r.Status != ecsemu.StatusSuccessful {
		t.Fatalf("first deployment: %v %v", r.Status, err)
	}
	return x
}

func (x *emu) register(t *testing.T, version string) string {
	t.Helper()
	out, err := x.ecs.RegisterTaskDefinition(x.ctx, &ecs.RegisterTaskDefinitionInput{
		Family: aws.String("web"), NetworkMode: ecstypes.NetworkModeAwsvpc, Cpu: aws.String("256"), Memory: aws.String("512"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Essential: aws.Bool(true),
			Image:        aws.String("111122223333.dkr.ecr.us-east-1.amazonaws.com/web@sha256:" + fmt.Sprintf("%064x", rand.Uint64())),
			Environment:  []ecstypes.KeyValuePair{{Name: aws.String("VERSION"), Value: aws.String(version)}},
			PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.TaskDefinition.TaskDefinitionArn)
}

// deploy starts a blue/green deployment the way greenlight's start step does.
func (x *emu) deploy(t *testing.T, version string) string {
	t.Helper()
	out, err := x.ecs.UpdateService(x.ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("web"), TaskDefinition: aws.String(x.register(t, version))})
	if err != nil {
		t.Fatal(err)
	}
	return aws.ToString(out.Service.CurrentServiceDeployment)
}

// useEmulator points the CLI's ECS client at the emulator (as AWS_ENDPOINT_URL_ECS would)
// and makes the CLI's waits real (the emulator runs in wall-clock time).
func (e *env) useEmulator(x *emu) {
	e.ecs = nil
	e.onSleep = func() { time.Sleep(100 * time.Millisecond) }
	e.wrapECS = func(c *cli.Clients) { c.ECS = x.ecs }
}

func TestStatusWatchAgainstEmulator(t *testing.T) {
	e := newEnv(t)
	e.putRoutes(routesDoc)
	x := startEmulator(t)
	e.useEmulator(x)

	arn := x.deploy(t, "green")
	out, errs, code := e.run("status", "--service", "prod/web", "--watch", "--interval", "100ms")
	if code != 0 {
		t.Fatalf("watch: exit %d\n%s\n%s", code, out, errs)
	}
	t.Logf("status --watch against the emulator:\n%s", out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	last := lines[len(lines)-1]
	if !strings.Contains(last, "SUCCESSFUL") || !strings.Contains(out, "BAKE_TIME") || len(lines) < 3 {
		t.Errorf("the watch must follow the stages to SUCCESSFUL:\n%s", out)
	}
	// the final status shows the finished deployment with its revisions
	out, _ = e.mustRun(0, "status", "--service", "prod/web", "-o", "json")
	v := checkSchema(t, "status", out)
	d := v["services"].([]any)[0].(map[string]any)["deployment"].(map[string]any)
	if d["arn"] != arn || d["status"] != "SUCCESSFUL" || d["target"].(map[string]any)["productionWeight"] != float64(100) {
		t.Errorf("status after the deployment: %v", d)
	}
}

func TestRollbackAgainstEmulator(t *testing.T) {
	e := newEnv(t)
	e.putRoutes(routesDoc)
	x := startEmulator(t)
	e.useEmulator(x)

	// the hook keeps answering IN_PROGRESS, so the deployment waits at POST_TEST_TRAFFIC_SHIFT
	x.hook.Store(`{"hookStatus":"IN_PROGRESS","callBackDelay":1}`)
	arn := x.deploy(t, "green")
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := x.ecs.DescribeServiceDeployments(x.ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{arn}})
		if err == nil && len(out.ServiceDeployments) == 1 && out.ServiceDeployments[0].LifecycleStage == ecstypes.ServiceDeploymentLifecycleStagePostTestTrafficShift {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the deployment never reached POST_TEST_TRAFFIC_SHIFT")
		}
		time.Sleep(50 * time.Millisecond)
	}
	out, errs, code := e.run("rollback", "--service", "prod/web", "--yes", "--wait", "--interval", "100ms", "-o", "json")
	if code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, errs)
	}
	v := checkSchema(t, "rollback", out)
	if v["action"] != "stop-deployment" || v["serviceDeploymentArn"] != arn || v["ecsStatus"] != "ROLLBACK_SUCCESSFUL" {
		t.Errorf("rollback view: %v", v)
	}
	// nothing runs now: a second rollback redeploys instead, and the empty ledger says so
	_, errs = e.mustRun(4, "rollback", "--service", "prod/web", "--yes")
	if !strings.Contains(errs, "no earlier good deployment in the ledger") {
		t.Errorf("after the rollback: %s", errs)
	}
}
