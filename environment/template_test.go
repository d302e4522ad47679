package environment_test

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/greenlight-deploy/greenlight/internal/cfnyaml"
)

// The wiring ECS native blue/green and greenlight depend on (reference ecs-bluegreen.md §1,
// §2.8, §5, §6), checked in environment/template.yaml. Values are the parameters' defaults,
// which are the hand-run guide's values.

// forwardWeights returns a listener rule's forward target groups and weights.
func forwardWeights(t *testing.T, tp *tmpl, rule string) (listener any, weights map[string]int) {
	t.Helper()
	actions := list(t, tp.prop(t, rule, "Actions"), rule+".Actions")
	if len(actions) != 1 {
		t.Fatalf("%s has %d actions, want one forward", rule, len(actions))
	}
	a := mapping(t, actions[0], rule+".Actions.0")
	if a["Type"] != "forward" {
		t.Fatalf("%s action type %v, want forward", rule, a["Type"])
	}
	weights = map[string]int{}
	for i, tg := range list(t, tp.prop(t, rule, "Actions.0.ForwardConfig.TargetGroups"), rule+" target groups") {
		m := mapping(t, tg, fmt.Sprintf("%s target group %d", rule, i))
		name, _ := mapping(t, m["TargetGroupArn"], "TargetGroupArn")["Ref"].(string)
		w, ok := m["Weight"].(int)
		if name == "" || !ok {
			t.Fatalf("%s target group %d = %v, want {TargetGroupArn: !Ref …, Weight: n}", rule, i, m)
		}
		weights[name] = w
	}
	return tp.prop(t, rule, "ListenerArn"), weights
}

func TestListenerRules(t *testing.T) {
	tp := environment(t)
	want := map[string]int{"TargetGroupA": 100, "TargetGroupB": 0}

	prodListener, prod := forwardWeights(t, tp, "ProductionRule")
	testListener, test := forwardWeights(t, tp, "TestRule")
	if !reflect.DeepEqual(prod, want) {
		t.Errorf("ProductionRule weights = %v, want %v (exactly one target group live before a deployment)", prod, want)
	}
	if !reflect.DeepEqual(test, want) {
		t.Errorf("TestRule weights = %v, want %v (the test rule starts on the same target group as production)", test, want)
	}
	if !reflect.DeepEqual(prodListener, ref("ProductionListener")) || !reflect.DeepEqual(testListener, ref("TestListener")) {
		t.Errorf("rules on listeners %v and %v, want ProductionListener and TestListener", prodListener, testListener)
	}

	prodPort := tp.num(t, tp.prop(t, "ProductionListener", "Port"))
	testPort := tp.num(t, tp.prop(t, "TestListener", "Port"))
	if prodPort != 80 || testPort == prodPort {
		t.Errorf("listener ports: production %v, test %v; want production 80 (the guide's HTTP:80) and a test port of its own", prodPort, testPort)
	}
	for _, rule := range []string{"ProductionRule", "TestRule"} {
		conds := tp.prop(t, rule, "Conditions")
		want := []any{map[string]any{"Field": "path-pattern", "PathPatternConfig": map[string]any{"Values": []any{"/*"}}}}
		if !reflect.DeepEqual(conds, want) {
			t.Errorf("%s conditions = %v, want every path (/*)", rule, conds)
		}
	}

	lb := mapping(t, list(t, tp.prop(t, "Service", "LoadBalancers"), "Service.LoadBalancers")[0], "Service.LoadBalancers.0")
	adv := mapping(t, lb["AdvancedConfiguration"], "AdvancedConfiguration")
	for key, wantV := range map[string]any{
		"TargetGroupArn": ref("TargetGroupA"),
		"AdvancedConfiguration.AlternateTargetGroupArn": ref("TargetGroupB"),
		"AdvancedConfiguration.ProductionListenerRule":  ref("ProductionRule"),
		"AdvancedConfiguration.TestListenerRule":        ref("TestRule"),
		"AdvancedConfiguration.RoleArn":                 getAtt("LoadBalancerInfrastructureRole", "Arn"),
	} {
		got, err := cfnyaml.Lookup(lb, key)
		if err != nil || !reflect.DeepEqual(got, wantV) {
			t.Errorf("Service load balancer %s = %v, want %v", key, got, wantV)
		}
	}
	if len(adv) != 4 {
		t.Errorf("AdvancedConfiguration = %v, want the four fields above", adv)
	}
}

func TestTargetGroupHealthChecks(t *testing.T) {
	tp := environment(t)
	want := map[string]any{
		"TargetType":                 "ip",
		"Protocol":                   "HTTP",
		"HealthCheckEnabled":         true,
		"HealthCheckProtocol":        "HTTP",
		"HealthCheckPath":            "/health",
		"HealthCheckIntervalSeconds": 30,
		"HealthCheckTimeoutSeconds":  5,
		"HealthyThresholdCount":      2,
		"UnhealthyThresholdCount":    3,
		"Port":                       8080,
	}
	for _, tg := range []string{"TargetGroupA", "TargetGroupB"} {
		for key, w := range want {
			if got := tp.resolve(t, tp.prop(t, tg, key)); !sameValue(got, w) {
				t.Errorf("%s %s = %v, want %v", tg, key, got, w)
			}
		}
		if got := tp.prop(t, tg, "Matcher"); !reflect.DeepEqual(got, map[string]any{"HttpCode": "200"}) {
			t.Errorf("%s Matcher = %v, want 200", tg, got)
		}
		if got := tp.prop(t, tg, "Port"); !reflect.DeepEqual(got, ref("ContainerPort")) {
			t.Errorf("%s Port = %v, want the container port", tg, got)
		}
	}
	if reflect.DeepEqual(tp.prop(t, "TargetGroupA", "Name"), tp.prop(t, "TargetGroupB", "Name")) {
		t.Error("the two target groups have the same name")
	}
}

// alarmQueries reads an alarm's or scaling policy's Metrics list, with parameters resolved.
func alarmQueries(t *testing.T, tp *tmpl, metrics any) ([]metricQuery, map[string]map[string]any) {
	t.Helper()
	var qs []metricQuery
	stats := map[string]map[string]any{}
	for i, m := range list(t, metrics, "Metrics") {
		q := mapping(t, m, fmt.Sprintf("Metrics.%d", i))
		id, _ := q["Id"].(string)
		expr, _ := tp.resolve(t, q["Expression"]).(string)
		ret, _ := q["ReturnData"].(bool)
		if _, has := q["ReturnData"]; !has {
			ret = true // CloudWatch's default
		}
		qs = append(qs, metricQuery{id: id, expression: expr, returnData: ret})
		if ms, ok := q["MetricStat"].(map[string]any); ok {
			stats[id] = ms
		}
	}
	return qs, stats
}

// metricOf describes a MetricStat as "Namespace/Name Stat period {dims}".
func metricOf(t *testing.T, ms map[string]any) (name, stat string, period any, dims map[string]any) {
	t.Helper()
	metric := mapping(t, ms["Metric"], "MetricStat.Metric")
	dims = map[string]any{}
	for _, d := range list(t, metric["Dimensions"], "Dimensions") {
		dm := mapping(t, d, "Dimension")
		dims[dm["Name"].(string)] = dm["Value"]
	}
	return fmt.Sprintf("%v/%v", metric["Namespace"], metric["MetricName"]), fmt.Sprint(ms["Stat"]), ms["Period"], dims
}

func TestFiveXxRateAlarm(t *testing.T) {
	tp := environment(t)
	const alarm = "FiveXxRateAlarm"
	if got := tp.resolve(t, tp.prop(t, alarm, "AlarmName")); got != "greenlight-demo-5xx-rate" {
		t.Errorf("alarm name = %v, want greenlight-demo-5xx-rate (a name greenlight's routes can list)", got)
	}
	for key, want := range map[string]any{
		"ComparisonOperator": "GreaterThanThreshold",
		"Threshold":          5,
		"EvaluationPeriods":  3,
		"DatapointsToAlarm":  2,
		"TreatMissingData":   "notBreaching",
	} {
		if got := tp.resolve(t, tp.prop(t, alarm, key)); !sameValue(got, want) {
			t.Errorf("alarm %s = %v, want %v", key, got, want)
		}
	}

	qs, stats := alarmQueries(t, tp, tp.prop(t, alarm, "Metrics"))
	lbDim := getAtt("LoadBalancer", "LoadBalancerFullName")
	wantStats := map[string][2]any{
		"e1": {"AWS/ApplicationELB/HTTPCode_Target_5XX_Count", "TargetGroupA"},
		"e2": {"AWS/ApplicationELB/HTTPCode_Target_5XX_Count", "TargetGroupB"},
		"r1": {"AWS/ApplicationELB/RequestCount", "TargetGroupA"},
		"r2": {"AWS/ApplicationELB/RequestCount", "TargetGroupB"},
	}
	if len(stats) != len(wantStats) {
		t.Errorf("alarm has metrics %v, want e1, e2, r1, r2", stats)
	}
	for id, w := range wantStats {
		ms, ok := stats[id]
		if !ok {
			t.Errorf("alarm has no metric %s", id)
			continue
		}
		name, stat, period, dims := metricOf(t, ms)
		wantDims := map[string]any{"LoadBalancer": lbDim, "TargetGroup": getAtt(w[1].(string), "TargetGroupFullName")}
		if name != w[0] || stat != "Sum" || period != 60 || !reflect.DeepEqual(dims, wantDims) {
			t.Errorf("alarm metric %s = %s %s %v %v, want %s Sum 60 over %s and the load balancer", id, name, stat, period, dims, w[0], w[1])
		}
	}

	// What the alarm computes, per minute (threshold: > 5 %, at least 20 requests).
	tests := []struct {
		name string
		data map[string]value
		want float64
	}{
		{"no traffic at all", nil, 0},
		{"quiet minute: no 5xx datapoints", map[string]value{"r1": some(300)}, 0},
		{"errors on target group A", map[string]value{"e1": some(30), "r1": some(300)}, 10},
		{"errors on target group B after the swap", map[string]value{"e2": some(60), "r2": some(300)}, 20},
		{"both groups live (test traffic on green)", map[string]value{"e1": some(2), "e2": some(3), "r1": some(80), "r2": some(20)}, 5},
		{"below the minimum traffic", map[string]value{"e1": some(5), "r1": some(10)}, 0},
		{"exactly the minimum traffic", map[string]value{"e1": some(5), "r1": some(20)}, 25},
	}
	for _, tt := range tests {
		got, err := evalQueries(qs, tt.data)
		if err != nil {
			t.Fatalf("evaluate the alarm's metric math: %v", err)
		}
		if !got.ok || math.Abs(got.v-tt.want) > 1e-9 {
			t.Errorf("%s: 5xx rate = %+v, want %v%%", tt.name, got, tt.want)
		}
	}

	svcAlarms := tp.prop(t, "Service", "DeploymentConfiguration.Alarms")
	want := map[string]any{"AlarmNames": []any{ref(alarm)}, "Enable": true, "Rollback": true}
	if !reflect.DeepEqual(svcAlarms, want) {
		t.Errorf("Service deployment alarms = %v, want %v (ECS rolls back while it fires)", svcAlarms, want)
	}
}

func TestBlueGreenDeployment(t *testing.T) {
	tp := environment(t)
	if got := tp.prop(t, "Service", "DeploymentController"); !reflect.DeepEqual(got, map[string]any{"Type": "ECS"}) {
		t.Errorf("DeploymentController = %v, want ECS (native blue/green, no CodeDeploy)", got)
	}
	dc := mapping(t, tp.prop(t, "Service", "DeploymentConfiguration"), "DeploymentConfiguration")
	if got := tp.resolve(t, dc["Strategy"]); got != "BLUE_GREEN" {
		t.Errorf("Strategy = %v (%v), want BLUE_GREEN by default", got, dc["Strategy"])
	}
	// CANARY and LINEAR carry their settings, each only with its own strategy.
	for key, want := range map[string][]any{
		"CanaryConfiguration": {"IsCanary", map[string]any{"CanaryPercent": ref("CanaryPercent"), "CanaryBakeTimeInMinutes": ref("CanaryBakeTimeMinutes")}, ref("AWS::NoValue")},
		"LinearConfiguration": {"IsLinear", map[string]any{"StepPercent": ref("LinearStepPercent"), "StepBakeTimeInMinutes": ref("LinearStepBakeTimeMinutes")}, ref("AWS::NoValue")},
	} {
		if got := mapping(t, dc[key], key)["Fn::If"]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want !If %v", key, got, want)
		}
	}
	if got := tp.resolve(t, dc["BakeTimeInMinutes"]); got != 5 {
		t.Errorf("BakeTimeInMinutes = %v, want 5 (the guide's bake time)", got)
	}
	if dc["MaximumPercent"] != 200 || dc["MinimumHealthyPercent"] != 100 {
		t.Errorf("Maximum/MinimumHealthyPercent = %v/%v, want 200/100", dc["MaximumPercent"], dc["MinimumHealthyPercent"])
	}
	if got := dc["DeploymentCircuitBreaker"]; !reflect.DeepEqual(got, map[string]any{"Enable": true, "Rollback": true}) {
		t.Errorf("DeploymentCircuitBreaker = %v, want enabled with rollback", got)
	}

	// The hook exists exactly when the smoke-test function is given.
	ifHook := list(t, mapping(t, dc["LifecycleHooks"], "LifecycleHooks")["Fn::If"], "LifecycleHooks Fn::If")
	if len(ifHook) != 3 || ifHook[0] != "HasHookFunction" || !reflect.DeepEqual(ifHook[2], ref("AWS::NoValue")) {
		t.Fatalf("LifecycleHooks = %v, want !If [HasHookFunction, [hook], !Ref AWS::NoValue]", ifHook)
	}
	hooks := list(t, ifHook[1], "hooks")
	if len(hooks) != 1 {
		t.Fatalf("%d lifecycle hooks, want 1", len(hooks))
	}
	hook := mapping(t, hooks[0], "hook")
	if !reflect.DeepEqual(hook["HookTargetArn"], ref("SmokeTestFunctionArn")) || !reflect.DeepEqual(hook["RoleArn"], getAtt("HookInvokeRole", "Arn")) {
		t.Errorf("hook target %v, role %v; want SmokeTestFunctionArn invoked through HookInvokeRole", hook["HookTargetArn"], hook["RoleArn"])
	}
	if hook["TargetType"] != "AWS_LAMBDA" {
		t.Errorf("hook TargetType = %v, want AWS_LAMBDA", hook["TargetType"])
	}
	if got := tp.resolve(t, hook["LifecycleStages"]); !reflect.DeepEqual(got, []any{"POST_SCALE_UP"}) {
		t.Errorf("hook stages = %v, want [POST_SCALE_UP] by default", got)
	}
	allowed := list(t, tp.at(t, "Parameters.HookStages.AllowedValues"), "HookStages.AllowedValues")
	if !slices.Contains(allowed, any("POST_SCALE_UP,POST_TEST_TRAFFIC_SHIFT")) {
		t.Errorf("HookStages allows %v, want POST_TEST_TRAFFIC_SHIFT to be addable", allowed)
	}
	for _, a := range allowed {
		for _, stage := range strings.Split(a.(string), ",") {
			// Stages greenlight's hook may sit at: not re-run on rollback (§2.4).
			if stage != "POST_SCALE_UP" && stage != "POST_TEST_TRAFFIC_SHIFT" {
				t.Errorf("HookStages allows %s, which ECS re-invokes on rollback or greenlight does not check", stage)
			}
		}
	}
	wantDetails := map[string]any{"testListenerUrl": map[string]any{"Fn::Sub": "http://${LoadBalancer.DNSName}:${TestListenerPort}"}}
	if !reflect.DeepEqual(hook["HookDetails"], wantDetails) {
		t.Errorf("HookDetails = %v, want %v", hook["HookDetails"], wantDetails)
	}
	if !reflect.DeepEqual(hook["HookDetails"].(map[string]any)["testListenerUrl"], tp.at(t, "Outputs.TestListenerURL.Value")) {
		t.Error("hookDetails.testListenerUrl and the TestListenerURL output differ")
	}
	timeout := mapping(t, hook["TimeoutConfiguration"], "TimeoutConfiguration")
	if timeout["Action"] != "ROLLBACK" || tp.resolve(t, timeout["TimeoutInMinutes"]) != 30 {
		t.Errorf("hook TimeoutConfiguration = %v, want ROLLBACK after 30 minutes", timeout)
	}

	// The role ECS assumes to invoke the hook (§2.8).
	role := tp.resource(t, "HookInvokeRole")
	if role["Condition"] != "HasHookFunction" {
		t.Errorf("HookInvokeRole condition = %v, want HasHookFunction", role["Condition"])
	}
	assertTrust(t, tp, "HookInvokeRole", "ecs.amazonaws.com")
	stmt := mapping(t, tp.prop(t, "HookInvokeRole", "Policies.0.PolicyDocument.Statement.0"), "hook policy")
	wantRes := []any{ref("SmokeTestFunctionArn"), map[string]any{"Fn::Sub": "${SmokeTestFunctionArn}:*"}}
	if stmt["Action"] != "lambda:InvokeFunction" || !reflect.DeepEqual(stmt["Resource"], wantRes) {
		t.Errorf("HookInvokeRole policy = %v, want lambda:InvokeFunction on the smoke-test function only", stmt)
	}
}

func assertTrust(t *testing.T, tp *tmpl, role, service string) {
	t.Helper()
	stmts := list(t, tp.prop(t, role, "AssumeRolePolicyDocument.Statement"), role+" trust")
	if len(stmts) != 1 {
		t.Fatalf("%s trusts %d statements, want 1", role, len(stmts))
	}
	s := mapping(t, stmts[0], "statement")
	if !reflect.DeepEqual(s["Principal"], map[string]any{"Service": service}) || s["Action"] != "sts:AssumeRole" || s["Effect"] != "Allow" {
		t.Errorf("%s trust = %v, want %s to assume it", role, s, service)
	}
}

func TestLoadBalancerInfrastructureRole(t *testing.T) {
	tp := environment(t)
	assertTrust(t, tp, "LoadBalancerInfrastructureRole", "ecs.amazonaws.com")
	want := []any{map[string]any{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"}}
	if got := tp.prop(t, "LoadBalancerInfrastructureRole", "ManagedPolicyArns"); !reflect.DeepEqual(got, want) {
		t.Errorf("infrastructure role policies = %v, want the AWS managed AmazonECSInfrastructureRolePolicyForLoadBalancers (no /service-role/ path)", got)
	}
	if got := tp.at(t, "Outputs.ECSBlueGreenRoleArn.Value"); !reflect.DeepEqual(got, getAtt("LoadBalancerInfrastructureRole", "Arn")) {
		t.Errorf("ECSBlueGreenRoleArn = %v, want the infrastructure role", got)
	}
}

// TestFirstDeployment: the stack can be created before any image exists (phase 1), and the
// task definition and the service come with ImageUri (phase 2); from then on greenlight
// owns the image.
func TestFirstDeployment(t *testing.T) {
	tp := environment(t)
	if got := tp.defaultOf(t, "ImageUri"); got != "" {
		t.Errorf("ImageUri default = %v, want empty (phase 1 creates the repository to push to)", got)
	}
	want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{ref("ImageUri"), ""}}}}
	if got := tp.at(t, "Conditions.HasImage"); !reflect.DeepEqual(got, want) {
		t.Errorf("HasImage = %v, want ImageUri not empty", got)
	}
	conds := tp.at(t, "Conditions").(map[string]any)
	needsImage := func(cond string) bool {
		if cond == "HasImage" {
			return true
		}
		if _, ok := conds[cond]; !ok {
			return false
		}
		and, _ := mapping(t, conds[cond], cond)["Fn::And"].([]any)
		return slices.ContainsFunc(and, func(c any) bool { return reflect.DeepEqual(c, map[string]any{"Condition": "HasImage"}) })
	}
	for _, r := range []string{"TaskDefinition", "Service", "ScalableTarget", "CpuScalingPolicy", "MemoryScalingPolicy", "RequestScalingPolicy"} {
		if c, _ := tp.resource(t, r)["Condition"].(string); !needsImage(c) {
			t.Errorf("%s has condition %q, want one that requires HasImage", r, c)
		}
	}
	// Everything a first push needs exists without an image.
	for _, r := range []string{"Repository", "Cluster", "LoadBalancer", "TargetGroupA", "TargetGroupB", "ProductionRule", "TestRule", "FiveXxRateAlarm", "TaskRole", "TaskExecutionRole", "LoadBalancerInfrastructureRole"} {
		if c, ok := tp.resource(t, r)["Condition"]; ok {
			t.Errorf("%s has condition %v; phase 1 (no image yet) must create it", r, c)
		}
	}

	if got := tp.prop(t, "Service", "TaskDefinition"); !reflect.DeepEqual(got, ref("TaskDefinition")) {
		t.Errorf("Service.TaskDefinition = %v, want the stack's own first revision", got)
	}
	if _, ok := tp.resource(t, "Service")["Properties"].(map[string]any)["DesiredCount"]; ok {
		t.Error("Service sets DesiredCount: every stack update would reset what auto scaling chose")
	}
	c := mapping(t, tp.prop(t, "TaskDefinition", "ContainerDefinitions.0"), "container")
	if !reflect.DeepEqual(c["Image"], ref("ImageUri")) || !reflect.DeepEqual(c["Name"], ref("ContainerName")) {
		t.Errorf("container = %v, want image ImageUri named ContainerName", c)
	}
	lb := tp.prop(t, "Service", "LoadBalancers.0")
	for key, want := range map[string]any{"ContainerName": ref("ContainerName"), "ContainerPort": ref("ContainerPort")} {
		if got := lb.(map[string]any)[key]; !reflect.DeepEqual(got, want) {
			t.Errorf("Service load balancer %s = %v, want %v", key, got, want)
		}
	}
	if got := tp.prop(t, "TaskDefinition", "ContainerDefinitions.0.PortMappings.0.ContainerPort"); !reflect.DeepEqual(got, ref("ContainerPort")) {
		t.Errorf("container port mapping = %v, want ContainerPort", got)
	}
	if got := tp.prop(t, "TaskDefinition", "ContainerDefinitions.0.Environment"); !reflect.DeepEqual(got, []any{map[string]any{"Name": "PORT", "Value": ref("ContainerPort")}}) {
		t.Errorf("container environment = %v, want only PORT (fault switches are baked into images, so greenlight's digest deploys carry them)", got)
	}
}

func TestNetwork(t *testing.T) {
	tp := environment(t)
	az := func(subnet string) any { return tp.prop(t, subnet, "AvailabilityZone") }
	if reflect.DeepEqual(az("PublicSubnet1"), az("PublicSubnet2")) || reflect.DeepEqual(az("PrivateSubnet1"), az("PrivateSubnet2")) {
		t.Error("the two subnets of a tier share an availability zone")
	}
	if got := tp.prop(t, "LoadBalancer", "Subnets"); !reflect.DeepEqual(got, []any{ref("PublicSubnet1"), ref("PublicSubnet2")}) {
		t.Errorf("load balancer subnets = %v, want the public ones", got)
	}
	if got := tp.prop(t, "PublicDefaultRoute", "GatewayId"); !reflect.DeepEqual(got, ref("InternetGateway")) {
		t.Errorf("public default route via %v, want the internet gateway", got)
	}
	if got := tp.prop(t, "PrivateDefaultRoute", "NatGatewayId"); !reflect.DeepEqual(got, ref("NatGateway")) {
		t.Errorf("private default route via %v, want the NAT gateway (tasks pull from ECR, the hook calls AWS APIs)", got)
	}
	awsvpc := mapping(t, tp.prop(t, "Service", "NetworkConfiguration.AwsvpcConfiguration"), "AwsvpcConfiguration")
	if !reflect.DeepEqual(awsvpc["Subnets"], []any{ref("PrivateSubnet1"), ref("PrivateSubnet2")}) || awsvpc["AssignPublicIp"] != "DISABLED" ||
		!reflect.DeepEqual(awsvpc["SecurityGroups"], []any{ref("TaskSecurityGroup")}) {
		t.Errorf("service network = %v, want the private subnets, no public IP, the task security group", awsvpc)
	}
	if got := tp.at(t, "Outputs.HookSubnetIds.Value"); !reflect.DeepEqual(got, map[string]any{"Fn::Join": []any{",", awsvpc["Subnets"]}}) {
		t.Errorf("HookSubnetIds = %v, want the tasks' subnets (the hook probes tasks by private IP)", got)
	}

	ingressFrom := func(sg string) map[any][]any {
		out := map[any][]any{}
		for _, r := range list(t, tp.prop(t, sg, "SecurityGroupIngress"), sg) {
			m := r.(map[string]any)
			src := m["SourceSecurityGroupId"]
			if src == nil {
				src = fmt.Sprint(m["CidrIp"])
			} else {
				src = src.(map[string]any)["Ref"]
			}
			out[src] = append(out[src], m["FromPort"])
		}
		return out
	}
	task := ingressFrom("TaskSecurityGroup")
	for _, src := range []string{"LoadBalancerSecurityGroup", "SmokeTestSecurityGroup"} {
		if got := task[src]; len(got) != 1 || !reflect.DeepEqual(got[0], ref("ContainerPort")) {
			t.Errorf("tasks accept %v from %s, want the container port", got, src)
		}
	}
	if len(task) != 2 {
		t.Errorf("tasks accept traffic from %v, want only the load balancer and the smoke-test hook", task)
	}
	alb := ingressFrom("LoadBalancerSecurityGroup")
	if got := alb["map[Fn::Sub:${NatAddress.PublicIp}/32]"]; len(got) != 1 || !reflect.DeepEqual(got[0], ref("TestListenerPort")) {
		t.Errorf("load balancer accepts %v from the NAT address, want the test listener port (the hook reaches it through the NAT gateway)", got)
	}
	if got := tp.at(t, "Outputs.HookSecurityGroupIds.Value"); !reflect.DeepEqual(got, ref("SmokeTestSecurityGroup")) {
		t.Errorf("HookSecurityGroupIds = %v, want SmokeTestSecurityGroup", got)
	}
}

func TestRepository(t *testing.T) {
	tp := environment(t)
	if got := tp.prop(t, "Repository", "ImageScanningConfiguration"); !reflect.DeepEqual(got, map[string]any{"ScanOnPush": true}) {
		t.Errorf("ImageScanningConfiguration = %v, want scan on push", got)
	}
	text, ok := tp.resolve(t, tp.prop(t, "Repository", "LifecyclePolicy.LifecyclePolicyText")).(string)
	if !ok {
		t.Fatal("LifecyclePolicyText does not resolve to a string")
	}
	var policy struct {
		Rules []struct {
			RulePriority int `json:"rulePriority"`
			Selection    struct {
				TagStatus      string   `json:"tagStatus"`
				TagPatternList []string `json:"tagPatternList"`
				CountType      string   `json:"countType"`
				CountNumber    int      `json:"countNumber"`
			} `json:"selection"`
			Action struct{ Type string } `json:"action"`
		} `json:"rules"`
	}
	if err := json.Unmarshal([]byte(text), &policy); err != nil {
		t.Fatalf("lifecycle policy is not JSON: %v\n%s", err, text)
	}
	if len(policy.Rules) != 1 {
		t.Fatalf("lifecycle policy has %d rules, want 1", len(policy.Rules))
	}
	sel := policy.Rules[0].Selection
	if sel.TagStatus != "tagged" || sel.CountType != "imageCountMoreThan" || sel.CountNumber != 30 || policy.Rules[0].Action.Type != "expire" {
		t.Errorf("lifecycle rule = %+v, want the newest 30 tagged images kept (untagged multi-arch children never expire on their own)", policy.Rules[0])
	}
}

func TestAutoScaling(t *testing.T) {
	tp := environment(t)
	st := "ScalableTarget"
	for key, want := range map[string]any{"MinCapacity": 1, "MaxCapacity": 10, "ServiceNamespace": "ecs", "ScalableDimension": "ecs:service:DesiredCount"} {
		if got := tp.resolve(t, tp.prop(t, st, key)); !sameValue(got, want) {
			t.Errorf("ScalableTarget %s = %v, want %v", key, got, want)
		}
	}
	if got := tp.prop(t, st, "ResourceId"); !reflect.DeepEqual(got, map[string]any{"Fn::Sub": "service/${Cluster}/${Service.Name}"}) {
		t.Errorf("ScalableTarget ResourceId = %v, want the service", got)
	}

	policies := []struct {
		resource, condition, metric string
		target                      float64
	}{
		{"CpuScalingPolicy", "HasImage", "ECSServiceAverageCPUUtilization", 70},
		{"MemoryScalingPolicy", "MemoryScaling", "ECSServiceAverageMemoryUtilization", 80},
		{"RequestScalingPolicy", "RequestScaling", "", 1000},
	}
	for _, p := range policies {
		r := tp.resource(t, p.resource)
		if r["Condition"] != p.condition {
			t.Errorf("%s condition = %v, want %s", p.resource, r["Condition"], p.condition)
		}
		cfg := mapping(t, tp.prop(t, p.resource, "TargetTrackingScalingPolicyConfiguration"), p.resource)
		if got := tp.prop(t, p.resource, "PolicyType"); got != "TargetTrackingScaling" {
			t.Errorf("%s type = %v, want TargetTrackingScaling", p.resource, got)
		}
		if got := tp.num(t, cfg["TargetValue"]); got != p.target {
			t.Errorf("%s target = %v, want %v", p.resource, got, p.target)
		}
		if in, out := tp.num(t, cfg["ScaleInCooldown"]), tp.num(t, cfg["ScaleOutCooldown"]); in != 300 || out != 60 {
			t.Errorf("%s cooldowns in/out = %v/%v, want 300/60", p.resource, in, out)
		}
		if p.metric != "" {
			want := map[string]any{"PredefinedMetricType": p.metric}
			if got := cfg["PredefinedMetricSpecification"]; !reflect.DeepEqual(got, want) {
				t.Errorf("%s metric = %v, want %s", p.resource, got, p.metric)
			}
		}
	}
	for _, c := range []struct{ cond, param string }{{"MemoryScaling", "EnableMemoryScaling"}, {"RequestScaling", "EnableRequestScaling"}} {
		if got := tp.defaultOf(t, c.param); got != "false" {
			t.Errorf("%s default = %v, want false (optional, as in the guide)", c.param, got)
		}
	}

	// Requests per task counts both target groups: the predefined ALBRequestCountPerTarget
	// follows one, which is idle after every other deployment.
	qs, stats := alarmQueries(t, tp, tp.prop(t, "RequestScalingPolicy", "TargetTrackingScalingPolicyConfiguration.CustomizedMetricSpecification.Metrics"))
	for id, tg := range map[string]string{"r1": "TargetGroupA", "r2": "TargetGroupB"} {
		name, stat, _, dims := metricOf(t, stats[id])
		if name != "AWS/ApplicationELB/RequestCount" || stat != "Sum" || !reflect.DeepEqual(dims["TargetGroup"], getAtt(tg, "TargetGroupFullName")) {
			t.Errorf("request scaling %s = %s %s %v, want RequestCount Sum of %s", id, name, stat, dims, tg)
		}
	}
	if name, _, _, dims := metricOf(t, stats["tasks"]); name != "ECS/ContainerInsights/RunningTaskCount" || !reflect.DeepEqual(dims["ServiceName"], getAtt("Service", "Name")) {
		t.Errorf("request scaling tasks = %s %v, want the service's RunningTaskCount", name, dims)
	}
	for _, tt := range []struct {
		data map[string]value
		want float64
	}{
		{map[string]value{"r1": some(3000), "tasks": some(3)}, 1000},
		{map[string]value{"r2": some(3000), "tasks": some(2)}, 1500},
		{map[string]value{"r1": some(1000), "r2": some(1000), "tasks": some(4)}, 500},
	} {
		got, err := evalQueries(qs, tt.data)
		if err != nil || !got.ok || got.v != tt.want {
			t.Errorf("requests per task with %v = %+v, %v; want %v", tt.data, got, err, tt.want)
		}
	}
}

// TestOutputsFeedTheAutomationStack: the guide's outputs are there, and every output named
// after a parameter of greenlight's automation stack (template.yaml at the repository root)
// is one it has, so the walkthrough can pass them straight through.
func TestOutputsFeedTheAutomationStack(t *testing.T) {
	tp := environment(t)
	outputs := tp.at(t, "Outputs").(map[string]any)
	for name, want := range map[string]any{
		"ECRRepositoryURI":    getAtt("Repository", "RepositoryUri"),
		"ALBDNSName":          getAtt("LoadBalancer", "DNSName"),
		"ECSBlueGreenRoleArn": getAtt("LoadBalancerInfrastructureRole", "Arn"),
		"TestListenerURL":     map[string]any{"Fn::Sub": "http://${LoadBalancer.DNSName}:${TestListenerPort}"},
		"ClusterName":         ref("Cluster"),
		"ContainerName":       ref("ContainerName"),
		"AlarmName":           ref("FiveXxRateAlarm"),
		"ServiceName":         tp.prop(t, "Service", "ServiceName"),
		"ECRRepositoryName":   ref("Repository"),
		"TaskRoleArns":        map[string]any{"Fn::Join": []any{",", []any{getAtt("TaskRole", "Arn"), getAtt("TaskExecutionRole", "Arn")}}},
	} {
		o, ok := outputs[name].(map[string]any)
		if !ok {
			t.Errorf("no output %s", name)
			continue
		}
		if !reflect.DeepEqual(o["Value"], want) {
			t.Errorf("output %s = %v, want %v", name, o["Value"], want)
		}
	}

	root, err := cfnyaml.ParseFile("../template.yaml")
	if err != nil {
		t.Fatalf("the automation stack's template: %v", err)
	}
	params := root["Parameters"].(map[string]any)
	feeds := map[string]string{ // automation parameter ← environment output
		"Repository":           "ECRRepositoryName",
		"ClusterName":          "ClusterName",
		"ServiceName":          "ServiceName",
		"ContainerName":        "ContainerName",
		"AlarmNames":           "AlarmName",
		"TaskRoleArns":         "TaskRoleArns",
		"HookSubnetIds":        "HookSubnetIds",
		"HookSecurityGroupIds": "HookSecurityGroupIds",
	}
	for param, output := range feeds {
		if _, ok := params[param]; !ok {
			t.Errorf("the automation stack has no parameter %s (fed by this stack's output %s): update docs/walkthrough.md and this test", param, output)
		}
		if _, ok := outputs[output]; !ok {
			t.Errorf("no output %s for the automation stack's parameter %s", output, param)
		}
	}
	if _, ok := root["Outputs"].(map[string]any)["SmokeTestFunctionArn"]; !ok {
		t.Error("the automation stack has no output SmokeTestFunctionArn, which this stack's SmokeTestFunctionArn parameter takes")
	}
}

// TestPushRoles: the CI roles may push to the demo repository and do nothing else (no ECS:
// deploying is greenlight's job).
func TestPushRoles(t *testing.T) {
	tp := environment(t)
	for _, role := range []string{"GitHubPushRole", "GitLabPushRole"} {
		if got := tp.prop(t, role, "ManagedPolicyArns"); !reflect.DeepEqual(got, []any{ref("PushImagesPolicy")}) {
			t.Errorf("%s policies = %v, want only PushImagesPolicy", role, got)
		}
		if _, inline := tp.resource(t, role)["Properties"].(map[string]any)["Policies"]; inline {
			t.Errorf("%s has inline policies besides PushImagesPolicy", role)
		}
	}
	for i, s := range list(t, tp.prop(t, "PushImagesPolicy", "PolicyDocument.Statement"), "PushImagesPolicy statements") {
		stmt := mapping(t, s, "statement")
		actions, ok := stmt["Action"].([]any)
		if !ok {
			actions = []any{stmt["Action"]}
		}
		for _, a := range actions {
			if !strings.HasPrefix(a.(string), "ecr:") {
				t.Errorf("PushImagesPolicy statement %d allows %v: CI only pushes images", i, a)
			}
			if a != "ecr:GetAuthorizationToken" && !reflect.DeepEqual(stmt["Resource"], getAtt("Repository", "Arn")) {
				t.Errorf("PushImagesPolicy allows %v on %v, want the demo repository only", a, stmt["Resource"])
			}
		}
	}
}
