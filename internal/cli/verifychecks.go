package cli

import (
	"fmt"
	"sort"
	"strings"
)

// Check statuses.
const (
	Pass = "PASS"
	Fail = "FAIL"
	Warn = "WARN"
)

// Check is one verify result: what was checked, the verdict, and the fix in one line.
type Check struct {
	ID      string `json:"id"`
	Subject string `json:"subject"`
	Status  string `json:"status"`
	Message string `json:"message"`
	Fix     string `json:"fix,omitempty"`
}

// The facts verify reads from AWS, in plain form, so the checks are pure functions over them.
// A nil map entry means "looked up and does not exist".

type verifyFacts struct {
	RoutesErr string
	Services  []serviceFacts
	// Repos: repository → exists (missing key: not read).
	Repos map[string]bool
	// Rules are the EventBridge rules that target the state machine; RulesErr says why they
	// could not be read.
	Rules    []ruleFact
	RulesErr string
	// RuleFilter, when set, limits the rules to the one named with --rule.
	StateMachine string
}

type serviceFacts struct {
	Key         string
	Route       string
	Container   string
	SmokeTests  bool
	SmokeStages []string
	AlarmNames  []string

	ReadErr    string
	Missing    bool
	Status     string
	Controller string
	Strategy   string
	LBs        []lbFact
	Hooks      []hookFact
	ECSAlarms  *ecsAlarmFact

	ListenerRules map[string]*ruleForward
	TargetGroups  map[string]*tgFact
	Roles         map[string]*roleFact
	Functions     map[string]*fnFact
	Alarms        map[string]*alarmFact
}

type lbFact struct {
	Container string
	TG        string
	Advanced  bool
	AltTG     string
	ProdRule  string
	TestRule  string
	Role      string
}

type hookFact struct {
	Function string
	Role     string
	Stages   []string
}

type ecsAlarmFact struct {
	Names    []string
	Enable   bool
	Rollback bool
}

type ruleForward struct {
	// Weights: target group ARN → weight, over the rule's forward actions.
	Weights map[string]int32
}

type tgFact struct {
	FullName      string   // targetgroup/name/id
	LoadBalancers []string // app/name/id
}

type roleFact struct {
	TrustsECS bool
	Policies  []string // attached managed policy ARNs
}

type fnFact struct {
	State            string
	LastUpdateStatus string
}

type alarmFact struct {
	// Dimensions lists every Name=Value in the alarm's metric and metric-math queries.
	Dimensions []string
}

type ruleFact struct {
	Name    string
	State   string
	Pattern string
}

// LoadBalancerPolicy is the AWS managed policy the ECS load-balancer role needs (§2.8).
const LoadBalancerPolicy = "AmazonECSInfrastructureRolePolicyForLoadBalancers"

var defaultSmokeStages = []string{"POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT"}

// verifyChecks is the pure verdict over what was read.
func verifyChecks(f verifyFacts) []Check {
	var out []Check
	add := func(id, subject, status, msg, fix string) {
		out = append(out, Check{ID: id, Subject: subject, Status: status, Message: msg, Fix: fix})
	}
	if f.RoutesErr != "" {
		add("routes.valid", "routes", Fail, f.RoutesErr, "fix the document and run `greenlight routes put FILE` (check it first with `greenlight routes validate FILE`)")
		return out
	}
	add("routes.valid", "routes", Pass, fmt.Sprintf("the routes document parses and validates (%s)", plural(len(f.Services), "service", "services")), "")

	for _, s := range f.Services {
		out = append(out, serviceChecks(s)...)
	}

	var repos []string
	for r := range f.Repos {
		repos = append(repos, r)
	}
	sort.Strings(repos)
	for _, repo := range repos {
		subj := "repository " + repo
		if f.Repos[repo] {
			add("ecr.repository", subj, Pass, "the ECR repository exists", "")
		} else {
			add("ecr.repository", subj, Fail, "the ECR repository does not exist", fmt.Sprintf("create it (aws ecr create-repository --repository-name %s) or correct the route's repository", repo))
		}
		out = append(out, ruleCheck(f, repo))
	}
	return out
}

func serviceChecks(s serviceFacts) []Check {
	var out []Check
	subj := s.Key
	add := func(id, status, msg, fix string) {
		out = append(out, Check{ID: id, Subject: subj, Status: status, Message: msg, Fix: fix})
	}
	if s.ReadErr != "" {
		add("service.exists", Fail, "could not read the service: "+s.ReadErr, "check the region and that the caller may call ecs:DescribeServices")
		return out
	}
	if s.Missing {
		add("service.exists", Fail, "the ECS service does not exist (or is INACTIVE)", fmt.Sprintf("create it, or correct the target in route %s", s.Route))
		return out
	}
	add("service.exists", Pass, "the ECS service exists ("+orDash(s.Status)+")", "")

	ctl := s.Controller
	if ctl == "" {
		ctl = "ECS"
	}
	switch {
	case ctl != "ECS":
		add("service.blue-green", Fail, fmt.Sprintf("the deployment controller is %s; native blue/green needs ECS", ctl), "recreate or update the service with DeploymentController: {Type: ECS}")
	case s.Strategy == "BLUE_GREEN" || s.Strategy == "LINEAR" || s.Strategy == "CANARY":
		add("service.blue-green", Pass, "deployment strategy "+s.Strategy, "")
	default:
		add("service.blue-green", Fail, fmt.Sprintf("deployment strategy is %s, not BLUE_GREEN", orDash(s.Strategy)), "set DeploymentConfiguration.Strategy: BLUE_GREEN and BakeTimeInMinutes on the service")
	}

	if len(s.LBs) == 0 {
		add("lb.advanced", Fail, "the service has no load balancer", "attach the ALB target group with LoadBalancers[].AdvancedConfiguration (alternate target group, production and test listener rules, role)")
		return out
	}
	found := false
	for _, lb := range s.LBs {
		found = found || lb.Container == s.Container
	}
	if s.Container != "" && !found {
		add("service.container", Warn, fmt.Sprintf("route container %q is not the load-balanced container", s.Container), "check the route's targets[].container: it must be the container that runs the image")
	}
	for _, lb := range s.LBs {
		if !lb.Advanced {
			add("lb.advanced", Fail, "load balancer entry for "+lb.Container+" has no advancedConfiguration", "add AdvancedConfiguration {AlternateTargetGroupArn, ProductionListenerRule, TestListenerRule, RoleArn} to every LoadBalancers entry")
			continue
		}
		out = append(out, lbChecks(s, lb, subj)...)
	}

	out = append(out, hookChecks(s, subj)...)
	out = append(out, alarmChecks(s, subj)...)
	return out
}

func lbChecks(s serviceFacts, lb lbFact, subj string) []Check {
	var out []Check
	add := func(id, status, msg, fix string) {
		out = append(out, Check{ID: id, Subject: subj, Status: status, Message: msg, Fix: fix})
	}
	for _, tg := range []string{lb.TG, lb.AltTG} {
		if tg == "" {
			add("lb.target-groups", Fail, "alternateTargetGroupArn is empty", "set AdvancedConfiguration.AlternateTargetGroupArn to a second target group on the same port and VPC")
			continue
		}
		if s.TargetGroups[tg] == nil {
			add("lb.target-groups", Fail, "target group "+lastPart2(tg)+" does not exist", "create it or correct the service's load balancer configuration")
		}
	}
	if lb.TG != "" && lb.AltTG != "" && s.TargetGroups[lb.TG] != nil && s.TargetGroups[lb.AltTG] != nil {
		add("lb.target-groups", Pass, "both target groups exist: "+lastPart2(lb.TG)+", "+lastPart2(lb.AltTG), "")
	}
	prod := s.ListenerRules[lb.ProdRule]
	var test *ruleForward
	switch {
	case lb.ProdRule == "":
		add("lb.rules", Fail, "no production listener rule", "set AdvancedConfiguration.ProductionListenerRule to the listener rule ARN that forwards production traffic")
		return out
	case prod == nil:
		add("lb.rules", Fail, "production listener rule "+lastPart2(lb.ProdRule)+" does not exist", "declare an AWS::ElasticLoadBalancingV2::ListenerRule and use its ARN")
		return out
	}
	if lb.TestRule == "" {
		add("lb.test-rule", Warn, "no test listener rule: POST_TEST_TRAFFIC_SHIFT smoke tests through the test listener cannot run", "add a test listener rule (a second listener or a header rule) and set AdvancedConfiguration.TestListenerRule")
	} else if lb.TestRule == lb.ProdRule {
		add("lb.test-rule", Fail, "the test listener rule is the production rule", "production and test must be different rules")
	} else if test = s.ListenerRules[lb.TestRule]; test == nil {
		add("lb.test-rule", Fail, "test listener rule "+lastPart2(lb.TestRule)+" does not exist", "declare it or correct AdvancedConfiguration.TestListenerRule")
	}
	in := func(tg string) bool {
		if _, ok := prod.Weights[tg]; ok {
			return true
		}
		if test != nil {
			if _, ok := test.Weights[tg]; ok {
				return true
			}
		}
		return false
	}
	var missing []string
	for _, tg := range []string{lb.TG, lb.AltTG} {
		if tg != "" && !in(tg) {
			missing = append(missing, lastPart2(tg))
		}
	}
	if len(missing) > 0 {
		add("lb.rules", Fail, "target group "+strings.Join(missing, " and ")+" is in neither the production nor the test listener rule (ECS: \"Both targetGroup and alternateTargetGroup must be associated with the productionListenerRule or testListenerRule\")",
			"forward the production rule (and the test rule) to both target groups with weights 100 and 0")
	} else {
		add("lb.rules", Pass, "both target groups sit in the production/test listener rules", "")
	}
	live := 0
	for _, w := range prod.Weights {
		if w > 0 {
			live++
		}
	}
	if live != 1 {
		add("lb.weights", Warn, fmt.Sprintf("the production rule sends traffic to %d target groups; before a deployment starts exactly one must have a non-zero weight", live), "leave the weights to ECS; if no deployment is running, set them to 100/0")
	}
	if lb.Role == "" {
		add("role.load-balancer", Fail, "no load-balancer role (advancedConfiguration.roleArn)", "create a role trusted by ecs.amazonaws.com with "+LoadBalancerPolicy+" attached and set AdvancedConfiguration.RoleArn")
	} else {
		out = append(out, roleCheck(s, "role.load-balancer", subj, lb.Role, true))
	}
	return out
}

func roleCheck(s serviceFacts, id, subj, arn string, needPolicy bool) Check {
	c := Check{ID: id, Subject: subj}
	r := s.Roles[arn]
	name := lastPart2(arn)
	switch {
	case r == nil:
		c.Status, c.Message, c.Fix = Fail, "role "+name+" does not exist", "create it with a trust policy for ecs.amazonaws.com (sts:AssumeRole), or correct the ARN on the service"
	case !r.TrustsECS:
		c.Status, c.Message, c.Fix = Fail, "role "+name+" does not trust ecs.amazonaws.com (ECS: \"ECS was unable to assume role\")", "add a trust statement: Principal {Service: ecs.amazonaws.com}, Action sts:AssumeRole"
	case needPolicy && !hasPolicy(r.Policies, LoadBalancerPolicy):
		c.Status, c.Message, c.Fix = Fail, "role "+name+" trusts ecs but lacks "+LoadBalancerPolicy, "aws iam attach-role-policy --role-name "+name+" --policy-arn arn:aws:iam::aws:policy/"+LoadBalancerPolicy
	default:
		c.Status, c.Message = Pass, "role "+name+" exists and trusts ecs.amazonaws.com"
		if needPolicy {
			c.Message += " with " + LoadBalancerPolicy
		}
	}
	return c
}

func hasPolicy(arns []string, name string) bool {
	for _, a := range arns {
		// arn:aws:iam::aws:policy/Name, in any partition; a customer policy of the same name
		// does not count.
		if strings.HasSuffix(a, ":iam::aws:policy/"+name) {
			return true
		}
	}
	return false
}

func hookChecks(s serviceFacts, subj string) []Check {
	var out []Check
	add := func(id, status, msg, fix string) {
		out = append(out, Check{ID: id, Subject: subj, Status: status, Message: msg, Fix: fix})
	}
	if len(s.Hooks) == 0 {
		if s.SmokeTests {
			add("hook.configured", Fail, "route "+s.Route+" has smoke tests but the service has no lifecycle hook, so they never run", "add DeploymentConfiguration.LifecycleHooks with greenlight's hook function at POST_SCALE_UP and/or POST_TEST_TRAFFIC_SHIFT")
		} else {
			add("hook.configured", Warn, "no lifecycle hook: deployments are not smoke tested", "add smokeTests to the route and greenlight's hook to the service's LifecycleHooks")
		}
		return out
	}
	want := s.SmokeStages
	if len(want) == 0 {
		want = defaultSmokeStages
	}
	covered := false
	for _, h := range s.Hooks {
		for _, st := range h.Stages {
			for _, w := range want {
				covered = covered || st == w
			}
		}
		fn := s.Functions[h.Function]
		switch {
		case fn == nil:
			add("hook.function", Fail, "hook function "+lastPart2(h.Function)+" does not exist", "deploy the greenlight stack, or correct the hook's HookTargetArn")
		case fn.State != "Active":
			add("hook.function", Fail, fmt.Sprintf("hook function %s is %s, not Active", lastPart2(h.Function), orDash(fn.State)), "check the function in the Lambda console (its last update may have failed)")
		case fn.LastUpdateStatus == "Failed":
			add("hook.function", Fail, "hook function "+lastPart2(h.Function)+": its last update failed", "redeploy the stack")
		default:
			add("hook.function", Pass, "hook function "+lastPart2(h.Function)+" is Active (invocable)", "")
		}
		if h.Role == "" {
			add("role.hook", Fail, "the lifecycle hook has no roleArn", "set LifecycleHooks[].RoleArn to a role trusted by ecs.amazonaws.com that may lambda:InvokeFunction the hook")
		} else {
			c := roleCheck(s, "role.hook", subj, h.Role, false)
			out = append(out, c)
		}
	}
	if s.SmokeTests && !covered {
		add("hook.stages", Warn, "the hook runs at none of the route's smoke-test stages ("+strings.Join(want, ", ")+")", "register the hook at one of those stages, or change smokeTests.stages")
	}
	return out
}

func alarmChecks(s serviceFacts, subj string) []Check {
	var out []Check
	add := func(id, status, msg, fix string) {
		out = append(out, Check{ID: id, Subject: subj, Status: status, Message: msg, Fix: fix})
	}
	if len(s.AlarmNames) == 0 {
		add("alarm.configured", Warn, "route "+s.Route+" names no alarms: a deployment that raises 5xx is not rolled back", "add alarms.names to the route (a 5xx-rate alarm over both target groups)")
		return out
	}
	var tgNames, lbNames []string
	for _, lb := range s.LBs {
		for _, tg := range []string{lb.TG, lb.AltTG} {
			if f := s.TargetGroups[tg]; f != nil {
				tgNames = append(tgNames, f.FullName)
				lbNames = append(lbNames, f.LoadBalancers...)
			}
		}
	}
	for _, name := range s.AlarmNames {
		a := s.Alarms[name]
		if a == nil {
			add("alarm.exists", Fail, "alarm "+name+" does not exist", "create it (a 5xx-rate alarm over both target groups, see docs) or correct the route's alarms.names")
			continue
		}
		hit := func(prefix, v string) bool {
			for _, d := range a.Dimensions {
				if d == prefix+"="+v {
					return true
				}
			}
			return false
		}
		nTG := 0
		for _, tg := range tgNames {
			if hit("TargetGroup", tg) {
				nTG++
			}
		}
		onLB := false
		for _, lb := range lbNames {
			onLB = onLB || hit("LoadBalancer", lb)
		}
		switch {
		case len(tgNames) > 0 && nTG == len(tgNames):
			add("alarm.watches", Pass, "alarm "+name+" watches both of the service's target groups", "")
		case nTG > 0:
			add("alarm.watches", Fail, fmt.Sprintf("alarm %s watches %d of the service's %d target groups; they swap roles every deployment, so the other half goes unwatched", name, nTG, len(tgNames)), "alarm on the 5xx rate over both target groups (metric math, see docs/cli.md)")
		case onLB:
			add("alarm.watches", Warn, "alarm "+name+" watches the whole load balancer, not the service's target groups: other services behind it can trigger rollbacks", "scope it with TargetGroup dimensions for both target groups")
		default:
			add("alarm.watches", Fail, "alarm "+name+" watches neither the service's target groups nor its load balancer", "point its metrics at TargetGroup and LoadBalancer dimensions of this service")
		}
		if s.ECSAlarms == nil || !containsName(s.ECSAlarms.Names, name) || !s.ECSAlarms.Enable || !s.ECSAlarms.Rollback {
			add("alarm.ecs", Warn, "alarm "+name+" is not in the service's deployment alarms with enable and rollback: greenlight still rolls back, but ECS's own instant rollback during bake is off", "add it to DeploymentConfiguration.Alarms {AlarmNames, Enable: true, Rollback: true}")
		}
	}
	return out
}

func containsName(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func ruleCheck(f verifyFacts, repo string) Check {
	c := Check{ID: "events.rule", Subject: "repository " + repo}
	if f.RulesErr != "" {
		c.Status, c.Message, c.Fix = Warn, "could not check the push rule: "+f.RulesErr, "pass --stack or --state-machine-arn so verify can find the rule that starts the state machine"
		return c
	}
	if len(f.Rules) == 0 {
		c.Status, c.Message, c.Fix = Fail, "no EventBridge rule starts the deploy state machine", "deploy the stack (its rule sends ECR pushes to the state machine)"
		return c
	}
	var notes []string
	for _, r := range f.Rules {
		ok, ignored, err := matchesPush(r.Pattern, repo)
		if err != nil {
			notes = append(notes, r.Name+": "+err.Error())
			continue
		}
		if !ok {
			notes = append(notes, r.Name+" does not match pushes to "+repo)
			continue
		}
		if r.State != "ENABLED" {
			notes = append(notes, r.Name+" matches but is "+r.State)
			continue
		}
		c.Status, c.Message = Pass, "rule "+r.Name+" matches ECR pushes to "+repo
		if len(ignored) > 0 {
			c.Message += " (not checked: " + strings.Join(ignored, ", ") + ")"
		}
		return c
	}
	c.Status, c.Message = Fail, "no enabled rule sends pushes to "+repo+" to the state machine: "+strings.Join(notes, "; ")
	c.Fix = "add " + repo + " to the rule's detail.repository-name list (the stack's repository parameter), or enable the rule"
	return c
}

// lastPart2 shortens an ARN to its name part (role/x → x, targetgroup/name/id → name).
func lastPart2(arn string) string {
	if i := strings.Index(arn, ":targetgroup/"); i >= 0 {
		p := strings.Split(arn[i+len(":targetgroup/"):], "/")
		return p[0]
	}
	if i := strings.Index(arn, ":listener-rule/"); i >= 0 {
		return "listener-rule/…/" + lastPart(arn)
	}
	return lastPart(arn)
}
