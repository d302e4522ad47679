package ecsemu

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu/alb"
)

// lbFullName derives the LoadBalancer dimension (app/<name>/<id>) from a listener-rule ARN
// (…:listener-rule/app/<name>/<lb id>/<listener id>/<rule id>) or a listener ARN.
func lbFullName(ruleOrListener string) string {
	for _, marker := range []string{":listener-rule/", ":listener/"} {
		if i := strings.Index(ruleOrListener, marker); i >= 0 {
			parts := strings.Split(ruleOrListener[i+len(marker):], "/")
			if len(parts) >= 3 {
				return strings.Join(parts[:3], "/")
			}
		}
	}
	return ""
}

// tgFullName derives the TargetGroup dimension (targetgroup/<name>/<id>) from its ARN.
func tgFullName(arn string) string {
	if i := strings.Index(arn, ":targetgroup/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

type tgSettings struct {
	hc    alb.HealthCheck
	drain time.Duration
}

// targetGroupSettings returns a target group's health check (scaled) and deregistration
// delay: from Options.TargetGroups, else from ELBv2 (moto), else the ALB defaults.
func (e *Emulator) targetGroupSettings(ctx context.Context, arn string) (tgSettings, error) {
	cfg, ok := e.opts.TargetGroups[arn]
	if !ok && e.elb != nil {
		out, err := e.elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{TargetGroupArns: []string{arn}})
		if err == nil && len(out.TargetGroups) == 1 {
			tg := out.TargetGroups[0]
			cfg = TargetGroupConfig{
				HealthCheckPath:            aws.ToString(tg.HealthCheckPath),
				HealthCheckIntervalSeconds: int(aws.ToInt32(tg.HealthCheckIntervalSeconds)),
				HealthCheckTimeoutSeconds:  int(aws.ToInt32(tg.HealthCheckTimeoutSeconds)),
				HealthyThresholdCount:      int(aws.ToInt32(tg.HealthyThresholdCount)),
				UnhealthyThresholdCount:    int(aws.ToInt32(tg.UnhealthyThresholdCount)),
			}
			if tg.Matcher != nil {
				cfg.Matcher = aws.ToString(tg.Matcher.HttpCode)
			}
		} else if err != nil {
			e.log.Debug("ecs emulator: target group not in ELBv2; using ALB defaults", "target_group", arn, "error", err)
		}
	}
	interval := time.Duration(cfg.HealthCheckIntervalSeconds) * time.Second
	if interval <= 0 {
		interval = alb.DefaultInterval
	}
	timeout := time.Duration(cfg.HealthCheckTimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = alb.DefaultTimeout
	}
	hc := alb.HealthCheck{
		Path:               cfg.HealthCheckPath,
		Interval:           e.scale(interval),
		Timeout:            e.scale(timeout),
		HealthyThreshold:   cfg.HealthyThresholdCount,
		UnhealthyThreshold: cfg.UnhealthyThresholdCount,
		Matcher:            cfg.Matcher,
	}
	// A timeout is tolerance, not time passing: a loaded machine must not fail healthy
	// targets, so it is never compressed below half a second.
	if hc.Timeout < 500*time.Millisecond {
		hc.Timeout = 500 * time.Millisecond
	}
	drain := time.Duration(cfg.DeregistrationDelaySeconds) * time.Second
	if drain <= 0 {
		drain = 300 * time.Second
	}
	hc = hc.WithDefaults()
	if err := hc.Validate(); err != nil {
		return tgSettings{}, err
	}
	return tgSettings{hc: hc, drain: e.scale(drain)}, nil
}

// ruleWeights reads a listener rule's forward weights from ELBv2; ok is false when the
// rule is unknown there.
func (e *Emulator) ruleWeights(ctx context.Context, rule string) (map[string]int, bool) {
	if e.elb == nil || rule == "" {
		return nil, false
	}
	out, err := e.elb.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{rule}})
	if err != nil || len(out.Rules) != 1 {
		return nil, false
	}
	w := map[string]int{}
	for _, a := range out.Rules[0].Actions {
		if a.Type != elbtypes.ActionTypeEnumForward {
			continue
		}
		if a.ForwardConfig != nil && len(a.ForwardConfig.TargetGroups) > 0 {
			for _, tg := range a.ForwardConfig.TargetGroups {
				w[aws.ToString(tg.TargetGroupArn)] = int(aws.ToInt32(tg.Weight))
			}
		} else if a.TargetGroupArn != nil {
			w[*a.TargetGroupArn] = 100
		}
	}
	return w, len(w) > 0
}

// setupLoadBalancing creates the service's target groups and the production and test
// listener proxies (reference §1.3), with the rules' current weights.
func (e *Emulator) setupLoadBalancing(ctx context.Context, s *service, lb loadBalancerWire) error {
	ac := lb.AdvancedConfiguration
	s.tgs = [2]string{lb.TargetGroupArn, ac.AlternateTargetGroupArn}
	s.prodRule, s.testRule = ac.ProductionListenerRule, ac.TestListenerRule
	s.containerName = lb.ContainerName
	if lb.ContainerPort != nil {
		s.containerPort = *lb.ContainerPort
	}
	name := lbFullName(s.prodRule)
	if name == "" {
		name = "app/ecsemu-" + s.name + "/" + hexID(16)
	}
	var settings [2]tgSettings
	for i, arn := range s.tgs {
		st, err := e.targetGroupSettings(ctx, arn)
		if err != nil {
			return &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf("target group %s: %v", arn, err)}
		}
		settings[i] = st
	}
	s.drainDelay = settings[0].drain
	prodW, ok := e.ruleWeights(ctx, s.prodRule)
	if !ok {
		prodW = map[string]int{s.tgs[0]: 100, s.tgs[1]: 0}
	}
	testW, ok := e.ruleWeights(ctx, s.testRule)
	if !ok {
		testW = copyWeights(prodW)
	}
	// Reference §1.3: before a deployment the production rule must forward to exactly one
	// target group.
	nonzero := 0
	for _, arn := range s.tgs {
		if prodW[arn] > 0 {
			nonzero++
		}
	}
	if nonzero != 1 {
		return &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf(
			"production listener rule %s must forward to exactly one of the service's target groups with a non-zero weight; it has %v", s.prodRule, prodW)}
	}

	e.mu.Lock()
	bal := e.balancers[name]
	if bal == nil {
		bal = alb.New(alb.Options{
			FullName:  name,
			Logger:    e.log,
			OnRequest: e.onRequest,
			OnHealth: func(c alb.HealthChange) {
				e.onHealth(c.TargetGroup, c.Target, string(c.To))
			},
		})
		e.balancers[name] = bal
	}
	e.mu.Unlock()
	s.balancer = bal
	for i, arn := range s.tgs {
		if _, err := bal.AddTargetGroup(arn, settings[i].hc); err != nil {
			return &apiError{typ: "InvalidParameterException", msg: err.Error()}
		}
	}
	prod, err := bal.AddListener(s.prodRule, e.opts.ListenerAddrs[s.prodRule], prodW)
	if err != nil {
		return err
	}
	s.prod = prod
	if s.testRule != "" {
		test, err := bal.AddListener(s.testRule, e.opts.ListenerAddrs[s.testRule], testW)
		if err != nil {
			return err
		}
		s.test = test
	}
	return nil
}

func copyWeights(w map[string]int) map[string]int {
	out := make(map[string]int, len(w))
	for k, v := range w {
		out[k] = v
	}
	return out
}

// liveTGLocked is the target group the production rule forwards to (the highest weight).
func (e *Emulator) liveTGLocked(s *service) string {
	w := s.prod.Weights()
	best, bestW := s.tgs[0], -1
	for _, arn := range s.tgs {
		if w[arn] > bestW {
			best, bestW = arn, w[arn]
		}
	}
	return best
}

func otherTG(s *service, tg string) string {
	if s.tgs[0] == tg {
		return s.tgs[1]
	}
	return s.tgs[0]
}

// setWeights rewrites a listener rule's weights, as ECS does with ModifyRule, and mirrors
// them into ELBv2 when the rule lives there.
func (e *Emulator) setWeights(s *service, l *alb.Listener, to string) {
	e.splitWeights(s, l, to, 100)
}

// splitWeights points pct percent of the listener rule's traffic at target group to and
// the rest at the service's other target group (LINEAR and CANARY steps).
func (e *Emulator) splitWeights(s *service, l *alb.Listener, to string, pct float64) {
	if l == nil {
		return
	}
	g, b := albWeights(pct)
	w := map[string]int{}
	for _, arn := range s.tgs {
		w[arn] = b
	}
	w[to] = g
	l.SetWeights(w)
	kind := ListenerProduction
	if l == s.test {
		kind = ListenerTest
	}
	e.emit(Event{Kind: EventWeight, Cluster: s.cluster, Service: s.name, Message: fmt.Sprintf("%s rule %s now forwards %g%% to %s", kind, l.Rule, pct, to)})
	if e.elb == nil {
		return
	}
	if _, known := e.ruleWeights(e.ctx, l.Rule); !known {
		return
	}
	var tgs []elbtypes.TargetGroupTuple
	for _, arn := range s.tgs {
		tgs = append(tgs, elbtypes.TargetGroupTuple{TargetGroupArn: aws.String(arn), Weight: aws.Int32(int32(w[arn]))})
	}
	ctx, cancel := context.WithTimeout(e.ctx, 5*time.Second)
	defer cancel()
	if _, err := e.elb.ModifyRule(ctx, &elbv2.ModifyRuleInput{RuleArn: aws.String(l.Rule), Actions: []elbtypes.Action{{
		Type: elbtypes.ActionTypeEnumForward, ForwardConfig: &elbtypes.ForwardActionConfig{TargetGroups: tgs},
	}}}); err != nil {
		e.log.Warn("ecs emulator: could not mirror listener-rule weights into ELBv2", "rule", l.Rule, "error", err)
	}
}

// onRequest attributes a load-balancer request to the phase of the service's deployment.
func (e *Emulator) onRequest(r alb.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.rules[r.Listener]
	if s == nil {
		return
	}
	kind := ListenerProduction
	if r.Listener == s.testRule && r.Listener != s.prodRule {
		kind = ListenerTest
	}
	key := phaseKey{stage: StageSteady, listener: kind}
	if d := e.activeDeploymentLocked(s); d != nil {
		key.deployment, key.stage = d.arn, d.stage
		key.rollback = d.rollbackStarted.IsZero() == false
	}
	p := s.traffic[key]
	if p == nil {
		p = &PhaseTraffic{ServiceDeploymentARN: key.deployment, Stage: key.stage, Listener: kind, Rollback: key.rollback, First: time.Now()}
		s.traffic[key] = p
	}
	p.Served++
	p.Last = time.Now()
	if r.Status >= 500 {
		p.Failed++
		if r.ELBError {
			p.ELB5xx++
		} else {
			p.Target5xx++
		}
	}
}
