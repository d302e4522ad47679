package ecsemu

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
)

// motoEnv is the demo environment's load-balancing half, built in moto the way the
// environment template builds it: an ALB, two ip target groups with /health checks, a
// production and a test listener rule forwarding [A:100, B:0], and the reference §6
// 5xx-rate alarm.
type motoEnv struct {
	url, account       string
	cfg                aws.Config
	subnets            []string
	securityGroups     []string
	tgA, tgB           string
	prodRule, testRule string
	lbName             string
	elb                *elbv2.Client
	cw                 *cloudwatch.Client
}

var tagRE = func(tag string) *regexp.Regexp { return regexp.MustCompile("<" + tag + ">([^<]+)</" + tag + ">") }

// ec2Query sends one raw EC2 query request to moto (the Go EC2 package takes minutes to
// compile; local-toolchain §1.1) and returns the values of tag in the answer.
func ec2Query(t *testing.T, motoURL, account string, form url.Values, tag string) []string {
	t.Helper()
	form.Set("Version", "2016-11-15")
	req, _ := http.NewRequest(http.MethodPost, motoURL+"/", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=x")
	req.Header.Set("x-moto-account-id", account)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, m := range tagRE(tag).FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		t.Fatalf("moto %s: no <%s> in %s", form.Get("Action"), tag, b)
	}
	return out
}

func newMotoEnv(t *testing.T) *motoEnv {
	t.Helper()
	m := awstest.Moto(t)
	cfg := awstest.Config(t)
	ctx := context.Background()
	env := &motoEnv{url: m.URL, account: awstest.Account(t), cfg: cfg}
	subnets := ec2Query(t, m.URL, env.account, url.Values{"Action": {"DescribeSubnets"}, "Filter.1.Name": {"default-for-az"}, "Filter.1.Value.1": {"true"}}, "subnetId")[:2]
	vpc := ec2Query(t, m.URL, env.account, url.Values{"Action": {"DescribeVpcs"}, "Filter.1.Name": {"isDefault"}, "Filter.1.Value.1": {"true"}}, "vpcId")[0]
	// moto answers 500 (KeyError) to an awsvpc service without securityGroups.
	env.securityGroups = ec2Query(t, m.URL, env.account, url.Values{"Action": {"DescribeSecurityGroups"}, "Filter.1.Name": {"group-name"}, "Filter.1.Value.1": {"default"}}, "groupId")[:1]
	env.subnets = subnets
	env.elb = elbv2.NewFromConfig(cfg)
	env.cw = cloudwatch.NewFromConfig(cfg, func(o *cloudwatch.Options) { o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801) })
	lb, err := env.elb.CreateLoadBalancer(ctx, &elbv2.CreateLoadBalancerInput{Name: aws.String("web"), Subnets: subnets})
	if err != nil {
		t.Fatal(err)
	}
	lbArn := aws.ToString(lb.LoadBalancers[0].LoadBalancerArn)
	var tgs []string
	for _, n := range []string{"web-a", "web-b"} {
		out, err := env.elb.CreateTargetGroup(ctx, &elbv2.CreateTargetGroupInput{Name: aws.String(n), Protocol: elbtypes.ProtocolEnumHttp,
			Port: aws.Int32(8080), VpcId: aws.String(vpc), TargetType: elbtypes.TargetTypeEnumIp, HealthCheckPath: aws.String("/health"),
			HealthCheckIntervalSeconds: aws.Int32(5), HealthCheckTimeoutSeconds: aws.Int32(2), HealthyThresholdCount: aws.Int32(2), UnhealthyThresholdCount: aws.Int32(2)})
		if err != nil {
			t.Fatal(err)
		}
		tgs = append(tgs, aws.ToString(out.TargetGroups[0].TargetGroupArn))
	}
	env.tgA, env.tgB = tgs[0], tgs[1]
	forward := []elbtypes.Action{{Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: []elbtypes.TargetGroupTuple{
		{TargetGroupArn: aws.String(env.tgA), Weight: aws.Int32(100)}, {TargetGroupArn: aws.String(env.tgB), Weight: aws.Int32(0)}}}}}
	var rules []string
	for _, port := range []int32{80, 8443} {
		l, err := env.elb.CreateListener(ctx, &elbv2.CreateListenerInput{LoadBalancerArn: aws.String(lbArn), Protocol: elbtypes.ProtocolEnumHttp, Port: aws.Int32(port),
			DefaultActions: []elbtypes.Action{{Type: elbtypes.ActionTypeEnumFixedResponse, FixedResponseConfig: &elbtypes.FixedResponseActionConfig{StatusCode: aws.String("404")}}}})
		if err != nil {
			t.Fatal(err)
		}
		r, err := env.elb.CreateRule(ctx, &elbv2.CreateRuleInput{ListenerArn: l.Listeners[0].ListenerArn, Priority: aws.Int32(1), Actions: forward,
			Conditions: []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), Values: []string{"/*"}}}})
		if err != nil {
			t.Fatal(err)
		}
		rules = append(rules, aws.ToString(r.Rules[0].RuleArn))
	}
	env.prodRule, env.testRule = rules[0], rules[1]
	env.lbName = lbFullName(env.prodRule)
	a := rateAlarm("web-5xx-rate", env.lbName, env.tgA, env.tgB)
	if _, err := env.cw.PutMetricAlarm(ctx, &cloudwatch.PutMetricAlarmInput{AlarmName: a.AlarmName, ComparisonOperator: a.ComparisonOperator,
		Threshold: a.Threshold, EvaluationPeriods: a.EvaluationPeriods, DatapointsToAlarm: a.DatapointsToAlarm, TreatMissingData: a.TreatMissingData,
		Metrics: a.Metrics}); err != nil {
		t.Fatal(err)
	}
	return env
}

func (env *motoEnv) ruleWeights(t *testing.T, rule string) map[string]int32 {
	t.Helper()
	out, err := env.elb.DescribeRules(context.Background(), &elbv2.DescribeRulesInput{RuleArns: []string{rule}})
	if err != nil {
		t.Fatal(err)
	}
	w := map[string]int32{}
	for _, tg := range out.Rules[0].Actions[0].ForwardConfig.TargetGroups {
		w[aws.ToString(tg.TargetGroupArn)] = aws.ToInt32(tg.Weight)
	}
	return w
}

// TestWithMoto runs the emulator in front of moto, as the rehearsal does: operations it does
// not own are forwarded (RegisterTaskDefinition lands in moto), CreateService reaches moto
// with what moto drops kept by the emulator, target-group health checks and rule weights come
// from moto's ELBv2 (and weights go back with ModifyRule), metrics go to moto's CloudWatch
// and the reference §6 metric-math alarm, evaluated by the emulator, rolls a bad green back
// during the bake.
func TestWithMoto(t *testing.T) {
	env := newMotoEnv(t)
	h := newHarness(t, harnessOpts{upstream: env.url, aws: &env.cfg, tgs: map[string]TargetGroupConfig{}})
	ctx := h.ctx
	direct := ecs.NewFromConfig(env.cfg) // moto itself

	if _, err := h.ecs.CreateCluster(ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	td1 := h.registerTD("web", map[string]string{"VERSION": "blue"})
	got, err := direct.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td1)})
	if err != nil || aws.ToString(got.TaskDefinition.TaskDefinitionArn) != td1 {
		t.Fatalf("RegisterTaskDefinition through the emulator did not reach moto: %v, %v", got, err)
	}
	if !strings.Contains(td1, ":"+env.account+":") {
		t.Errorf("task definition %s is not in the test's moto account %s", td1, env.account)
	}
	lcs, err := h.ecs.ListClusters(ctx, &ecs.ListClustersInput{})
	if err != nil || len(lcs.ClusterArns) != 1 {
		t.Errorf("forwarded ListClusters = %v, %v", lcs, err)
	}

	out, err := h.ecs.CreateService(ctx, &ecs.CreateServiceInput{
		Cluster: aws.String("prod"), ServiceName: aws.String("web"), TaskDefinition: aws.String(td1), DesiredCount: aws.Int32(2),
		LaunchType: ecstypes.LaunchTypeFargate, DeploymentController: &ecstypes.DeploymentController{Type: ecstypes.DeploymentControllerTypeEcs},
		DeploymentConfiguration: &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(3),
			Alarms: &ecstypes.DeploymentAlarms{AlarmNames: []string{"web-5xx-rate"}, Enable: true, Rollback: true}},
		LoadBalancers: []ecstypes.LoadBalancer{{TargetGroupArn: aws.String(env.tgA), ContainerName: aws.String("app"), ContainerPort: aws.Int32(8080),
			AdvancedConfiguration: &ecstypes.AdvancedConfiguration{AlternateTargetGroupArn: aws.String(env.tgB), ProductionListenerRule: aws.String(env.prodRule),
				TestListenerRule: aws.String(env.testRule), RoleArn: aws.String("arn:aws:iam::" + env.account + ":role/ecs-lb")}}},
		NetworkConfiguration: &ecstypes.NetworkConfiguration{AwsvpcConfiguration: &ecstypes.AwsVpcConfiguration{Subnets: env.subnets, SecurityGroups: env.securityGroups}},
	})
	if err != nil {
		t.Fatalf("CreateService: %v\nmoto log:\n%s", err, awstest.Moto(t).LogTail(30))
	}
	if r := h.wait(aws.ToString(out.Service.CurrentServiceDeployment)); r.Status != StatusSuccessful {
		t.Fatalf("first deployment %s: %s", r.Status, r.StatusReason)
	}
	// moto has the service (and drops deploymentConfiguration); the emulator's view has it.
	raw, err := direct.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
	if err != nil || len(raw.Services) != 1 {
		t.Fatalf("moto does not have the service: %v, %v", raw, err)
	}
	if raw.Services[0].DeploymentConfiguration != nil && raw.Services[0].DeploymentConfiguration.Strategy == ecstypes.DeploymentStrategyBlueGreen {
		t.Log("moto kept deploymentConfiguration; the patch is no longer needed")
	}
	svc, err := h.ecs.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{"web"}})
	if err != nil || svc.Services[0].DeploymentConfiguration == nil || svc.Services[0].DeploymentConfiguration.Strategy != ecstypes.DeploymentStrategyBlueGreen ||
		svc.Services[0].RunningCount != 2 || aws.ToString(svc.Services[0].TaskDefinition) != td1 {
		t.Fatalf("patched DescribeServices = %+v, %v", svc, err)
	}
	// Health checks from moto's target group (5 s interval at scale 0.01 = 50 ms).
	if hc := h.em.services[svcKey("prod", "web")].balancer.TargetGroup(env.tgA).HealthCheck(); hc.Path != "/health" || hc.Interval != 50*time.Millisecond || hc.HealthyThreshold != 2 {
		t.Errorf("health check from moto = %+v", hc)
	}

	// A good deployment: the production rule in moto ends on B.
	prodURL, _, _ := h.em.Listeners("prod", "web")
	l := startLoad(prodURL)
	r := h.wait(h.deploy("web", map[string]string{"VERSION": "v2"}))
	if r.Status != StatusSuccessful {
		t.Fatalf("deployment %s: %s", r.Status, r.StatusReason)
	}
	if w := env.ruleWeights(t, env.prodRule); w[env.tgB] != 100 || w[env.tgA] != 0 {
		t.Errorf("moto production rule weights = %v, want B 100", w)
	}
	if w := env.ruleWeights(t, env.testRule); w[env.tgB] != 100 {
		t.Errorf("moto test rule weights = %v, want B 100", w)
	}

	// A bad one: green answers 500, the alarm fires in the bake, ECS rolls back.
	r = h.wait(h.deploy("web", map[string]string{"VERSION": "v3", "ERROR_RATE": "1"}))
	_, failed, _, _ := l.finish()
	if r.Status != StatusRollbackSuccessful || r.Statuses[2].Stage != StageBakeTime {
		t.Fatalf("bad deployment %s (rollback requested in %s): %s", r.Status, r.Statuses[min(2, len(r.Statuses)-1)].Stage, r.StatusReason)
	}
	if failed == 0 {
		t.Error("no 5xx seen in production while green served errors")
	}
	alarms, err := env.cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: []string{"web-5xx-rate"}})
	if err != nil || alarms.MetricAlarms[0].StateValue != cwtypes.StateValueAlarm || !strings.HasPrefix(aws.ToString(alarms.MetricAlarms[0].StateReason), "Threshold Crossed") {
		t.Errorf("alarm in moto = %+v, %v", alarms, err)
	}
	if w := env.ruleWeights(t, env.prodRule); w[env.tgB] != 100 {
		t.Errorf("moto production rule after rollback = %v, want B (v2) 100", w)
	}
	// The published metrics are in moto's CloudWatch.
	md, err := env.cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{StartTime: aws.Time(time.Now().Add(-10 * time.Minute)), EndTime: aws.Time(time.Now().Add(time.Minute)),
		MetricDataQueries: []cwtypes.MetricDataQuery{{Id: aws.String("e"), MetricStat: &cwtypes.MetricStat{Period: aws.Int32(60), Stat: aws.String("Sum"), Metric: &cwtypes.Metric{
			Namespace: aws.String("AWS/ApplicationELB"), MetricName: aws.String("HTTPCode_Target_5XX_Count"),
			Dimensions: []cwtypes.Dimension{{Name: aws.String("LoadBalancer"), Value: aws.String(env.lbName)}, {Name: aws.String("TargetGroup"), Value: aws.String(tgFullName(env.tgA))}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, v := range md.MetricDataResults[0].Values {
		sum += v
	}
	if sum == 0 {
		t.Errorf("moto has no HTTPCode_Target_5XX_Count for green's target group A: %+v", md.MetricDataResults)
	}
	// moto's own errors pass through, typed.
	_, err = h.ecs.UpdateService(ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String("nope"), DesiredCount: aws.Int32(1)})
	if err == nil {
		t.Error("UpdateService of an unknown service succeeded")
	}
}

// TestLambdaInvokerWithMoto invokes a hook through moto's Lambda Invoke (no Docker: canned
// results), the path ECS takes to greenlight's smoke-test function.
func TestLambdaInvokerWithMoto(t *testing.T) {
	env := newMotoEnv(t)
	ctx := context.Background()
	role, err := iam.NewFromConfig(env.cfg).CreateRole(ctx, &iam.CreateRoleInput{RoleName: aws.String("hook"), AssumeRolePolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	zipped, err := localaws.ZipBootstrap(testapp(t))
	if err != nil {
		t.Fatal(err)
	}
	lc := lambda.NewFromConfig(env.cfg)
	fn, err := lc.CreateFunction(ctx, &lambda.CreateFunctionInput{FunctionName: aws.String("smoke"), Role: role.Role.Arn, Runtime: lambdatypes.RuntimeProvidedal2023,
		Handler: aws.String("bootstrap"), Code: &lambdatypes.FunctionCode{ZipFile: zipped}})
	if err != nil {
		t.Fatal(err)
	}
	results, _ := json.Marshal(map[string]any{"account_id": env.account, "region": "us-east-1",
		"results": []string{`{"hookStatus":"IN_PROGRESS","callBackDelay":1,"hookDetails":{"attempt":1}}`, `{"hookStatus":"SUCCEEDED"}`}})
	resp, err := http.Post(env.url+"/moto-api/static/lambda-simple/response", "application/json", bytes.NewReader(results))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("queue canned Lambda results: %v %v", resp, err)
	}
	resp.Body.Close()

	inv := LambdaInvoker{Client: lc}
	var answers []string
	for i := 0; i < 2; i++ {
		b, err := inv.Invoke(ctx, aws.ToString(fn.FunctionArn), []byte(`{"executionId":"x"}`))
		if err != nil {
			t.Fatal(err)
		}
		answers = append(answers, string(b))
	}
	if !strings.Contains(answers[0], "IN_PROGRESS") || !strings.Contains(answers[1], "SUCCEEDED") {
		t.Errorf("answers %v", answers)
	}

}
