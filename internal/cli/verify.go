package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	iamtypes "github.com/aws/aws-sdk-go-v2/service/iam/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// VerifyView is the JSON of `verify`.
type VerifyView struct {
	OK     bool    `json:"ok"`
	Passed int     `json:"passed"`
	Failed int     `json:"failed"`
	Warned int     `json:"warned"`
	Checks []Check `json:"checks"`
}

// Verify is `greenlight verify`.
func Verify() *Command {
	var service string
	var strict bool
	return &Command{
		Name:    "verify",
		Summary: "check the install: routes, services, listener rules, roles, hook, alarms, repositories, rule",
		Usage:   "verify [--service CLUSTER/SERVICE] [--strict]",
		Description: `Reads what greenlight depends on and checks it before the first push finds out:
  - the routes document parses and validates;
  - each routed ECS service exists, uses the ECS controller and a BLUE_GREEN (or LINEAR/CANARY)
    strategy, and every load balancer entry has advancedConfiguration;
  - both target groups exist and sit in the production/test listener rules, which differ;
  - the load-balancer role exists, trusts ecs.amazonaws.com and has
    AmazonECSInfrastructureRolePolicyForLoadBalancers; the hook role exists and trusts ecs;
  - the hook function exists and is Active (invocable) and runs at a smoke-test stage;
  - each route alarm exists and watches both of the service's target groups (or at least
    its load balancer), and is one of the service's deployment alarms;
  - each ECR repository exists and the stack's EventBridge rule matches pushes to it.
Each check prints PASS, FAIL or WARN with the fix. Exit 1 if any check FAILs (or WARNs
with --strict).`,
		Examples: []string{
			"greenlight verify",
			"greenlight verify --service prod/web",
			"greenlight verify -o json | jq '.checks[] | select(.status != \"PASS\")'",
		},
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&service, "service", "", "check one routed service only")
			fs.BoolVar(&strict, "strict", false, "warnings fail too (exit 1)")
		},
		Run: func(ctx context.Context, e *Env, _ []string) error {
			c, err := e.Clients(ctx)
			if err != nil {
				return err
			}
			f := verifyFacts{Repos: map[string]bool{}}
			doc, err := e.Routes(ctx)
			if err != nil {
				var ce *Error
				if !errors.As(err, &ce) || (ce.Code != ExitFailed && ce.Code != ExitNotFound) {
					return err
				}
				f.RoutesErr = err.Error()
			}
			if doc != nil {
				targets := allTargets(doc)
				if service != "" {
					t, err := resolveService(doc, service)
					if err != nil {
						return err
					}
					if t.Route == nil {
						return NotFoundf("no route targets %s", t.Key())
					}
					targets = []target{t}
				}
				repos := map[string]bool{}
				for _, t := range targets {
					sf, err := readServiceFacts(ctx, c, t)
					if err != nil {
						return err
					}
					f.Services = append(f.Services, sf)
					repos[t.Route.Repository] = true
				}
				for repo := range repos {
					exists, err := repoExists(ctx, c.ECR, repo)
					if err != nil {
						return err
					}
					f.Repos[repo] = exists
				}
				if sm, err := e.StateMachineARN(ctx); err != nil {
					f.RulesErr = "the state machine is unknown (" + err.Error() + ")"
				} else {
					f.StateMachine = sm
					f.Rules, err = readRules(ctx, c.Events, sm)
					if err != nil {
						f.RulesErr = err.Error()
					}
				}
			}
			checks := verifyChecks(f)
			view := VerifyView{Checks: checks}
			for _, ch := range checks {
				switch ch.Status {
				case Pass:
					view.Passed++
				case Fail:
					view.Failed++
				case Warn:
					view.Warned++
				}
			}
			view.OK = view.Failed == 0 && (!strict || view.Warned == 0)
			if err := e.Emit(view, func(w io.Writer) { e.printVerify(w, view) }); err != nil {
				return err
			}
			if !view.OK {
				return silent{ExitFailed}
			}
			return nil
		},
	}
}

func (e *Env) printVerify(w io.Writer, v VerifyView) {
	subject := ""
	for _, ch := range v.Checks {
		if ch.Subject != subject {
			subject = ch.Subject
			fmt.Fprintln(w, e.Paint(Bold, subject))
		}
		fmt.Fprintf(w, "  %s  %s\n", e.Paint(OutcomeStyle(ch.Status), fmt.Sprintf("%-4s", ch.Status)), ch.Message)
		if ch.Status != Pass && ch.Fix != "" {
			fmt.Fprintf(w, "        %s %s\n", e.Paint(Dim, "fix:"), ch.Fix)
		}
	}
	verdict := e.Paint(Green, "OK")
	if !v.OK {
		verdict = e.Paint(Red, "NOT OK")
	}
	fmt.Fprintf(w, "\n%s: %d passed, %d failed, %s\n", verdict, v.Passed, v.Failed, plural(v.Warned, "warning", "warnings"))
}

// readServiceFacts reads one service and everything its blue/green wiring names.
func readServiceFacts(ctx context.Context, c *Clients, t target) (serviceFacts, error) {
	sf := serviceFacts{
		Key: t.Key(), Route: t.Route.Name, Container: t.Container,
		ListenerRules: map[string]*ruleForward{}, TargetGroups: map[string]*tgFact{}, Roles: map[string]*roleFact{},
		Functions: map[string]*fnFact{}, Alarms: map[string]*alarmFact{},
	}
	if st := t.Route.SmokeTests; st != nil {
		sf.SmokeTests, sf.SmokeStages = true, st.Stages
	}
	if a := t.Route.Alarms; a != nil {
		sf.AlarmNames = a.Names
	}
	out, err := c.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(t.Cluster), Services: []string{t.Service}})
	if err != nil {
		if code := apiCode(err); code == "ClusterNotFoundException" {
			sf.Missing = true
			return sf, nil
		}
		return sf, AWSError("describe service "+t.Key()+" (ecs:DescribeServices)", err)
	}
	if len(out.Services) == 0 || aws.ToString(out.Services[0].Status) == "INACTIVE" {
		sf.Missing = true
		return sf, nil
	}
	svc := out.Services[0]
	sf.Status = aws.ToString(svc.Status)
	if svc.DeploymentController != nil {
		sf.Controller = string(svc.DeploymentController.Type)
	}
	if dc := svc.DeploymentConfiguration; dc != nil {
		sf.Strategy = string(dc.Strategy)
		for _, h := range dc.LifecycleHooks {
			hf := hookFact{Function: aws.ToString(h.HookTargetArn), Role: aws.ToString(h.RoleArn)}
			for _, st := range h.LifecycleStages {
				hf.Stages = append(hf.Stages, string(st))
			}
			sf.Hooks = append(sf.Hooks, hf)
		}
		if dc.Alarms != nil {
			sf.ECSAlarms = &ecsAlarmFact{Names: dc.Alarms.AlarmNames, Enable: dc.Alarms.Enable, Rollback: dc.Alarms.Rollback}
		}
	}
	for _, lb := range svc.LoadBalancers {
		f := lbFact{Container: aws.ToString(lb.ContainerName), TG: aws.ToString(lb.TargetGroupArn)}
		if ac := lb.AdvancedConfiguration; ac != nil {
			f.Advanced = true
			f.AltTG, f.ProdRule, f.TestRule, f.Role = aws.ToString(ac.AlternateTargetGroupArn), aws.ToString(ac.ProductionListenerRule), aws.ToString(ac.TestListenerRule), aws.ToString(ac.RoleArn)
		}
		sf.LBs = append(sf.LBs, f)
	}
	for _, lb := range sf.LBs {
		for _, tg := range []string{lb.TG, lb.AltTG} {
			if tg != "" {
				if _, done := sf.TargetGroups[tg]; !done {
					f, err := readTargetGroup(ctx, c.ELB, tg)
					if err != nil {
						return sf, err
					}
					sf.TargetGroups[tg] = f
				}
			}
		}
		for _, r := range []string{lb.ProdRule, lb.TestRule} {
			if r != "" {
				if _, done := sf.ListenerRules[r]; !done {
					f, err := readRule(ctx, c.ELB, r)
					if err != nil {
						return sf, err
					}
					sf.ListenerRules[r] = f
				}
			}
		}
		if lb.Role != "" {
			if err := readRole(ctx, c.IAM, lb.Role, sf.Roles); err != nil {
				return sf, err
			}
		}
	}
	for _, h := range sf.Hooks {
		if h.Role != "" {
			if err := readRole(ctx, c.IAM, h.Role, sf.Roles); err != nil {
				return sf, err
			}
		}
		if h.Function != "" {
			fo, err := c.Lambda.GetFunction(ctx, &lambda.GetFunctionInput{FunctionName: aws.String(h.Function)})
			var nf *lambdatypes.ResourceNotFoundException
			switch {
			case errors.As(err, &nf):
				sf.Functions[h.Function] = nil
			case err != nil:
				return sf, AWSError("read hook function (lambda:GetFunction)", err)
			default:
				ff := &fnFact{}
				if fo.Configuration != nil {
					ff.State, ff.LastUpdateStatus = string(fo.Configuration.State), string(fo.Configuration.LastUpdateStatus)
				}
				sf.Functions[h.Function] = ff
			}
		}
	}
	if len(sf.AlarmNames) > 0 {
		ao, err := c.CloudWatch.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: sf.AlarmNames})
		if err != nil {
			return sf, AWSError("read alarms (cloudwatch:DescribeAlarms)", err)
		}
		for _, n := range sf.AlarmNames {
			sf.Alarms[n] = nil
		}
		for _, a := range ao.MetricAlarms {
			sf.Alarms[aws.ToString(a.AlarmName)] = &alarmFact{Dimensions: alarmDimensions(a)}
		}
		for _, a := range ao.CompositeAlarms {
			sf.Alarms[aws.ToString(a.AlarmName)] = &alarmFact{}
		}
	}
	return sf, nil
}

func alarmDimensions(a cwtypes.MetricAlarm) []string {
	var out []string
	for _, d := range a.Dimensions {
		out = append(out, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
	}
	for _, q := range a.Metrics {
		if q.MetricStat != nil && q.MetricStat.Metric != nil {
			for _, d := range q.MetricStat.Metric.Dimensions {
				out = append(out, aws.ToString(d.Name)+"="+aws.ToString(d.Value))
			}
		}
	}
	return out
}

func readTargetGroup(ctx context.Context, c ELBAPI, arn string) (*tgFact, error) {
	out, err := c.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
	if err != nil {
		if apiCode(err) == "TargetGroupNotFound" {
			return nil, nil
		}
		return nil, AWSError("read target group (elasticloadbalancing:DescribeTargetGroups)", err)
	}
	if len(out.TargetGroups) == 0 {
		return nil, nil
	}
	tg := out.TargetGroups[0]
	f := &tgFact{FullName: arnSuffix(aws.ToString(tg.TargetGroupArn), ":")}
	for _, lb := range tg.LoadBalancerArns {
		f.LoadBalancers = append(f.LoadBalancers, arnSuffix(lb, ":loadbalancer/"))
	}
	return f, nil
}

// arnSuffix returns what follows sep in arn (the CloudWatch dimension form of an ELB ARN).
func arnSuffix(arn, sep string) string {
	if sep == ":" {
		if i := strings.LastIndex(arn, ":"); i >= 0 {
			return arn[i+1:]
		}
		return arn
	}
	if i := strings.Index(arn, sep); i >= 0 {
		return arn[i+len(sep):]
	}
	return arn
}

func readRule(ctx context.Context, c ELBAPI, arn string) (*ruleForward, error) {
	out, err := c.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{arn}})
	if err != nil {
		if apiCode(err) == "RuleNotFound" {
			return nil, nil
		}
		return nil, AWSError("read listener rule (elasticloadbalancing:DescribeRules)", err)
	}
	if len(out.Rules) == 0 {
		return nil, nil
	}
	f := &ruleForward{Weights: map[string]int32{}}
	for _, a := range out.Rules[0].Actions {
		if a.TargetGroupArn != nil {
			if _, ok := f.Weights[*a.TargetGroupArn]; !ok {
				f.Weights[*a.TargetGroupArn] = 1
			}
		}
		if a.ForwardConfig != nil {
			for _, tg := range a.ForwardConfig.TargetGroups {
				f.Weights[aws.ToString(tg.TargetGroupArn)] = aws.ToInt32(tg.Weight)
			}
		}
	}
	return f, nil
}

func readRole(ctx context.Context, c IAMAPI, arn string, into map[string]*roleFact) error {
	if _, done := into[arn]; done {
		return nil
	}
	name := lastPart(arn)
	out, err := c.GetRole(ctx, &iam.GetRoleInput{RoleName: aws.String(name)})
	if err != nil {
		var nf *iamtypes.NoSuchEntityException
		if errors.As(err, &nf) {
			into[arn] = nil
			return nil
		}
		return AWSError("read role "+name+" (iam:GetRole)", err)
	}
	f := &roleFact{TrustsECS: trustsService(aws.ToString(out.Role.AssumeRolePolicyDocument), "ecs.amazonaws.com")}
	pol, err := c.ListAttachedRolePolicies(ctx, &iam.ListAttachedRolePoliciesInput{RoleName: aws.String(name)})
	if err != nil {
		return AWSError("list policies of role "+name+" (iam:ListAttachedRolePolicies)", err)
	}
	for _, p := range pol.AttachedPolicies {
		f.Policies = append(f.Policies, aws.ToString(p.PolicyArn))
	}
	into[arn] = f
	return nil
}

// trustsService reports whether a trust policy (URL-encoded, as IAM returns it) lets service
// assume the role.
func trustsService(doc, service string) bool {
	if d, err := url.QueryUnescape(doc); err == nil {
		doc = d
	}
	var p struct {
		Statement any `json:"Statement"`
	}
	if err := jsonUnmarshal(doc, &p); err != nil {
		return false
	}
	stmts, ok := p.Statement.([]any)
	if !ok {
		stmts = []any{p.Statement}
	}
	for _, s := range stmts {
		m, _ := s.(map[string]any)
		if m == nil || m["Effect"] != "Allow" || !mentions(m["Action"], "sts:AssumeRole") {
			continue
		}
		pr, _ := m["Principal"].(map[string]any)
		if pr != nil && mentions(pr["Service"], service) {
			return true
		}
	}
	return false
}

func mentions(v any, want string) bool {
	switch x := v.(type) {
	case string:
		return x == want || x == "*"
	case []any:
		for _, e := range x {
			if mentions(e, want) {
				return true
			}
		}
	}
	return false
}

func repoExists(ctx context.Context, c ECRAPI, repo string) (bool, error) {
	_, err := c.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{repo}})
	var nf *ecrtypes.RepositoryNotFoundException
	switch {
	case errors.As(err, &nf):
		return false, nil
	case err != nil:
		return false, AWSError("read repository "+repo+" (ecr:DescribeRepositories)", err)
	}
	return true, nil
}

func readRules(ctx context.Context, c EventsAPI, stateMachine string) ([]ruleFact, error) {
	var names []string
	var token *string
	for {
		out, err := c.ListRuleNamesByTarget(ctx, &eventbridge.ListRuleNamesByTargetInput{TargetArn: aws.String(stateMachine), NextToken: token})
		if err != nil {
			return nil, fmt.Errorf("events:ListRuleNamesByTarget: %v", err)
		}
		names = append(names, out.RuleNames...)
		if out.NextToken == nil {
			break
		}
		token = out.NextToken
	}
	var rules []ruleFact
	for _, n := range names {
		r, err := c.DescribeRule(ctx, &eventbridge.DescribeRuleInput{Name: aws.String(n)})
		if err != nil {
			return nil, fmt.Errorf("events:DescribeRule %s: %v", n, err)
		}
		if aws.ToString(r.EventPattern) == "" {
			continue // a schedule (the reconciler), not the push rule
		}
		rules = append(rules, ruleFact{Name: n, State: string(r.State), Pattern: aws.ToString(r.EventPattern)})
	}
	return rules, nil
}
