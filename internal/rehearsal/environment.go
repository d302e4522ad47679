package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
	"github.com/greenlight-deploy/greenlight/internal/samtemplate"
)

// envOut is the demo environment as created in moto.
type envOut struct {
	b            *builder
	tgs          map[string]ecsemu.TargetGroupConfig
	prodRule     string
	testRule     string
	minRequests  int
	containerEnv string
}

const (
	networkReason = "network: moto's default VPC, subnets and security group stand in; tasks, load balancer and Lambdas share the loopback network"
	scalingReason = "auto scaling: not emulated; the service keeps its desired count"
	ciReason      = "CI push role: the rehearsal pushes the images itself"
)

// environmentParameters are environment/template.yaml's parameters for a scenario.
func (l *local) environmentParameters(sc Scenario, smokeFunction, image string) map[string]any {
	p := map[string]any{
		"ProjectName":          projectName,
		"ImageUri":             image,
		"SmokeTestFunctionArn": smokeFunction,
		"ContainerPort":        strconv.Itoa(l.containerPort),
		"ContainerName":        l.o.container,
		"HealthCheckPath":      l.o.HealthPath,
	}
	for k, v := range sc.Environment {
		p[k] = v
	}
	return p
}

// createEnvironment creates the demo environment's resources in moto from
// environment/template.yaml: first without an image (the repository, load balancer, target
// groups, listener rules, alarm, roles), as environment/deploy.sh does before the first
// push; finish adds the task definition once blue is pushed. The ECS service itself is
// created through the emulator by the caller.
func (l *local) createEnvironment(ctx context.Context, sc Scenario, smokeFunction string) (*envOut, error) {
	net, err := l.c.raw.defaultNetwork(ctx)
	if err != nil {
		return nil, err
	}
	out := &envOut{tgs: map[string]ecsemu.TargetGroupConfig{}}
	b := &builder{
		file:   "environment/template.yaml",
		log:    l.log,
		t:      l.env,
		params: l.environmentParameters(sc, smokeFunction, ""),
		pseudo: samtemplate.DefaultPseudo(account, region, envStack),
		later:  map[string]bool{"Service": true},
	}
	subnet := func(id string) physical {
		i := 0
		if strings.HasSuffix(id, "2") {
			i = 1
		}
		return physical{Ref: net.subnets[i], Atts: map[string]any{"SubnetId": net.subnets[i]}}
	}
	b.skip = map[string]notNeeded{
		"AWS::EC2::VPC":    {networkReason, func(string) physical { return physical{Ref: net.vpc, Atts: map[string]any{"VpcId": net.vpc}} }},
		"AWS::EC2::Subnet": {networkReason, subnet},
		"AWS::EC2::SecurityGroup": {networkReason, func(string) physical {
			return physical{Ref: net.securityGroups[0], Atts: map[string]any{"GroupId": net.securityGroups[0]}}
		}},
		"AWS::EC2::InternetGateway":                   {networkReason, nil},
		"AWS::EC2::VPCGatewayAttachment":              {networkReason, nil},
		"AWS::EC2::RouteTable":                        {networkReason, nil},
		"AWS::EC2::Route":                             {networkReason, nil},
		"AWS::EC2::SubnetRouteTableAssociation":       {networkReason, nil},
		"AWS::EC2::EIP":                               {networkReason, nil},
		"AWS::EC2::NatGateway":                        {networkReason, nil},
		"AWS::EC2::VPCEndpoint":                       {networkReason, nil},
		"AWS::ApplicationAutoScaling::ScalableTarget": {scalingReason, nil},
		"AWS::ApplicationAutoScaling::ScalingPolicy":  {scalingReason, nil},
		"AWS::IAM::ManagedPolicy":                     {ciReason, nil},
		"AWS::IAM::OIDCProvider":                      {ciReason, nil},
	}
	c := l.c
	b.creators = map[string]creator{
		"AWS::IAM::Role":      l.createRole(envStack),
		"AWS::Logs::LogGroup": l.createLogGroup(envStack),
		"AWS::ECR::Repository": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			name := str(p["RepositoryName"])
			in := &ecr.CreateRepositoryInput{RepositoryName: aws.String(name), ImageTagMutability: ecrtypes.ImageTagMutability(str(p["ImageTagMutability"]))}
			if sc, ok := p["ImageScanningConfiguration"].(map[string]any); ok {
				in.ImageScanningConfiguration = &ecrtypes.ImageScanningConfiguration{ScanOnPush: sc["ScanOnPush"] == true}
			}
			r, err := c.ecr.CreateRepository(ctx, in)
			if err != nil {
				return physical{}, err
			}
			if lp, ok := p["LifecyclePolicy"].(map[string]any); ok && str(lp["LifecyclePolicyText"]) != "" {
				if _, err := c.ecr.PutLifecyclePolicy(ctx, &ecr.PutLifecyclePolicyInput{RepositoryName: aws.String(name), LifecyclePolicyText: aws.String(str(lp["LifecyclePolicyText"]))}); err != nil {
					return physical{}, err
				}
			}
			return physical{Ref: name, Atts: map[string]any{"Arn": aws.ToString(r.Repository.RepositoryArn), "RepositoryUri": aws.ToString(r.Repository.RepositoryUri)}}, nil
		},
		"AWS::ECS::Cluster": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			var in ecs.CreateClusterInput
			if err := decode(p, &in); err != nil {
				return physical{}, err
			}
			cl, err := c.ecs.CreateCluster(ctx, &in)
			if err != nil {
				return physical{}, err
			}
			return physical{Ref: aws.ToString(in.ClusterName), Atts: map[string]any{"Arn": aws.ToString(cl.Cluster.ClusterArn)}}, nil
		},
		"AWS::ElasticLoadBalancingV2::LoadBalancer": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			var in elbv2.CreateLoadBalancerInput
			if err := decode(p, &in); err != nil {
				return physical{}, err
			}
			lb, err := c.elb.CreateLoadBalancer(ctx, &in)
			if err != nil {
				return physical{}, err
			}
			x := lb.LoadBalancers[0]
			arn := aws.ToString(x.LoadBalancerArn)
			return physical{Ref: arn, Atts: map[string]any{"DNSName": aws.ToString(x.DNSName), "LoadBalancerName": aws.ToString(x.LoadBalancerName),
				"LoadBalancerFullName": afterMarker(arn, ":loadbalancer/"), "CanonicalHostedZoneID": aws.ToString(x.CanonicalHostedZoneId)}}, nil
		},
		"AWS::ElasticLoadBalancingV2::TargetGroup": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			var in elbv2.CreateTargetGroupInput
			if err := decode(p, &in); err != nil {
				return physical{}, err
			}
			tg, err := createTargetGroup(ctx, c.elb, &in)
			if err != nil {
				return physical{}, err
			}
			arn := aws.ToString(tg.TargetGroupArn)
			cfg := ecsemu.TargetGroupConfig{
				HealthCheckPath: str(p["HealthCheckPath"]), HealthCheckIntervalSeconds: num(p["HealthCheckIntervalSeconds"]),
				HealthCheckTimeoutSeconds: num(p["HealthCheckTimeoutSeconds"]), HealthyThresholdCount: num(p["HealthyThresholdCount"]),
				UnhealthyThresholdCount: num(p["UnhealthyThresholdCount"]),
			}
			if m, ok := p["Matcher"].(map[string]any); ok {
				cfg.Matcher = str(m["HttpCode"])
			}
			var attrs []elbtypes.TargetGroupAttribute
			as, _ := p["TargetGroupAttributes"].([]any)
			for _, a := range as {
				am, _ := a.(map[string]any)
				attrs = append(attrs, elbtypes.TargetGroupAttribute{Key: aws.String(str(am["Key"])), Value: aws.String(str(am["Value"]))})
				if str(am["Key"]) == "deregistration_delay.timeout_seconds" {
					cfg.DeregistrationDelaySeconds = num(am["Value"])
				}
			}
			if len(attrs) > 0 {
				if _, err := c.elb.ModifyTargetGroupAttributes(ctx, &elbv2.ModifyTargetGroupAttributesInput{TargetGroupArn: aws.String(arn), Attributes: attrs}); err != nil {
					return physical{}, err
				}
			}
			// The emulator's health checks and draining follow the template, as the ALB would.
			b.mu.Lock()
			out.tgs[arn] = cfg
			b.mu.Unlock()
			return physical{Ref: arn, Atts: map[string]any{"TargetGroupFullName": arn[strings.LastIndex(arn, ":")+1:], "TargetGroupName": aws.ToString(tg.TargetGroupName)}}, nil
		},
		"AWS::ElasticLoadBalancingV2::Listener": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			var in elbv2.CreateListenerInput
			if err := decode(p, &in); err != nil {
				return physical{}, err
			}
			li, err := c.elb.CreateListener(ctx, &in)
			if err != nil {
				return physical{}, err
			}
			arn := aws.ToString(li.Listeners[0].ListenerArn)
			return physical{Ref: arn, Atts: map[string]any{"ListenerArn": arn}}, nil
		},
		"AWS::ElasticLoadBalancingV2::ListenerRule": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			var in elbv2.CreateRuleInput
			if err := decode(p, &in); err != nil {
				return physical{}, err
			}
			r, err := c.elb.CreateRule(ctx, &in)
			if err != nil {
				return physical{}, err
			}
			arn := aws.ToString(r.Rules[0].RuleArn)
			return physical{Ref: arn, Atts: map[string]any{"RuleArn": arn}}, nil
		},
		"AWS::CloudWatch::Alarm": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			var in cloudwatch.PutMetricAlarmInput
			if err := decode(p, &in); err != nil {
				return physical{}, err
			}
			if _, err := c.cw.PutMetricAlarm(ctx, &in); err != nil {
				return physical{}, err
			}
			name := aws.ToString(in.AlarmName)
			return physical{Ref: name, Atts: map[string]any{"Arn": "arn:aws:cloudwatch:" + region + ":" + account + ":alarm:" + name}}, nil
		},
		"AWS::ECS::TaskDefinition": func(ctx context.Context, id string, p map[string]any) (physical, error) {
			var in ecs.RegisterTaskDefinitionInput
			if err := decode(p, &in); err != nil {
				return physical{}, err
			}
			td, err := c.ecs.RegisterTaskDefinition(ctx, &in)
			if err != nil {
				return physical{}, err
			}
			return physical{Ref: aws.ToString(td.TaskDefinition.TaskDefinitionArn)}, nil
		},
	}
	if err := b.build(ctx); err != nil {
		return nil, err
	}
	out.b = b
	out.prodRule = str(b.made["ProductionRule"].Ref)
	out.testRule = str(b.made["TestRule"].Ref)
	if out.prodRule == "" || out.testRule == "" {
		return nil, fmt.Errorf("environment/template.yaml: the rehearsal needs ProductionRule and TestRule")
	}
	out.minRequests = num(b.params["FiveXxMinRequests"])
	if out.minRequests == 0 {
		if p, ok := l.env.Parameters["FiveXxMinRequests"]; ok {
			out.minRequests = num(p.Default)
		}
	}
	return out, nil
}

// finish creates what needs the first image (the task definition) and returns the ECS
// service's properties, resolved, for the emulator.
func (e *envOut) finish(ctx context.Context, image string) (map[string]any, error) {
	e.b.params["ImageUri"] = image
	if err := e.b.build(ctx); err != nil {
		return nil, err
	}
	props, err := e.b.props("Service")
	if err != nil {
		return nil, err
	}
	c, _ := coerce(props).(map[string]any)
	return c, nil
}

func afterMarker(arn, marker string) string {
	if i := strings.Index(arn, marker); i >= 0 {
		return arn[i+len(marker):]
	}
	return arn
}

// createTargetGroup creates a target group as AWS does: a repeated CreateTargetGroup (the
// SDK's retry after an answer lost on the connection) returns the group already made, where
// moto answers DuplicateTargetGroupName.
func createTargetGroup(ctx context.Context, elb *elbv2.Client, in *elbv2.CreateTargetGroupInput) (elbtypes.TargetGroup, error) {
	out, err := elb.CreateTargetGroup(ctx, in)
	var dup *elbtypes.DuplicateTargetGroupNameException
	if errors.As(err, &dup) {
		d, derr := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{aws.ToString(in.Name)}})
		if derr != nil || len(d.TargetGroups) != 1 {
			return elbtypes.TargetGroup{}, fmt.Errorf("%w (and finding it by name: %v)", err, derr)
		}
		return d.TargetGroups[0], nil
	}
	if err != nil {
		return elbtypes.TargetGroup{}, err
	}
	return out.TargetGroups[0], nil
}
