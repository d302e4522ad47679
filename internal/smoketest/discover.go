package smoketest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/smithy-go"
)

// ecsAPI is the part of the ECS client the hook uses; *ecs.Client satisfies it.
type ecsAPI interface {
	DescribeServiceRevisions(ctx context.Context, in *ecs.DescribeServiceRevisionsInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServiceRevisionsOutput, error)
	DescribeServiceDeployments(ctx context.Context, in *ecs.DescribeServiceDeploymentsInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error)
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, optFns ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
}

// permanentError marks a failure that waiting will not fix (access denied, a resource that
// does not exist, a configuration that cannot work): the hook fails at once. Every other
// error is retried within the route's patience.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

func permanent(format string, args ...any) error {
	return permanentError{fmt.Errorf(format, args...)}
}

func isPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// awsError wraps an AWS call's error with what was being done, marking client-side faults
// (access denied, validation, not found) permanent and throttling, server faults and
// network errors transient.
func awsError(op string, err error) error {
	wrapped := fmt.Errorf("%s: %w", op, err)
	var ae smithy.APIError
	if !errors.As(err, &ae) {
		return wrapped
	}
	code := ae.ErrorCode()
	switch {
	case strings.Contains(code, "Throttl"), strings.Contains(code, "TooManyRequests"),
		strings.Contains(code, "RequestLimitExceeded"), code == "ServerException",
		code == "ServiceUnavailable", code == "InternalFailure", code == "InternalError":
		return wrapped
	case ae.ErrorFault() == smithy.FaultServer:
		return wrapped
	}
	if strings.Contains(code, "AccessDenied") || code == "UnauthorizedOperation" {
		return permanentError{fmt.Errorf("%w (grant the smoke-test function's role this action)", wrapped)}
	}
	return permanentError{wrapped}
}

// revision is what the hook needs from the green service revision.
type revision struct {
	arn            string
	taskDefinition string
	// lb is the load balancer entry for the probed container.
	lb ecstypes.LoadBalancer
	// targetGroup is green's resolved target group (informational).
	targetGroup string
}

// describeRevision reads the green revision and picks the load balancer entry for container
// (the route's container; "" takes the only or first entry).
func describeRevision(ctx context.Context, api ecsAPI, arn, container string) (revision, error) {
	out, err := api.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{arn}})
	if err != nil {
		return revision{}, awsError("describe service revision "+arn, err)
	}
	var sr *ecstypes.ServiceRevision
	for i := range out.ServiceRevisions {
		if aws.ToString(out.ServiceRevisions[i].ServiceRevisionArn) == arn {
			sr = &out.ServiceRevisions[i]
		}
	}
	if sr == nil {
		return revision{}, permanent("service revision %s not found%s", arn, failureText(out.Failures))
	}
	r := revision{arn: arn, taskDefinition: aws.ToString(sr.TaskDefinition)}
	if r.taskDefinition == "" {
		return revision{}, permanent("service revision %s has no task definition", arn)
	}
	idx := -1
	for i, lb := range sr.LoadBalancers {
		if container != "" && aws.ToString(lb.ContainerName) == container {
			idx = i
			break
		}
	}
	if idx < 0 && len(sr.LoadBalancers) > 0 {
		idx = 0
	}
	if idx >= 0 {
		r.lb = sr.LoadBalancers[idx]
		if sr.ResolvedConfiguration != nil && idx < len(sr.ResolvedConfiguration.LoadBalancers) {
			r.targetGroup = aws.ToString(sr.ResolvedConfiguration.LoadBalancers[idx].TargetGroupArn)
		}
	}
	return r, nil
}

// deployment is what the hook needs from the service deployment.
type deployment struct {
	expected        int  // green's requested task count
	firstDeployment bool // no source (blue) revision
}

// describeDeployment reads the service deployment and checks it belongs to the service and
// targets the revision the event names.
func describeDeployment(ctx context.Context, api ecsAPI, ev HookEvent) (deployment, error) {
	out, err := api.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{ev.ResourceArn}})
	if err != nil {
		return deployment{}, awsError("describe service deployment "+ev.ResourceArn, err)
	}
	var sd *ecstypes.ServiceDeployment
	for i := range out.ServiceDeployments {
		if aws.ToString(out.ServiceDeployments[i].ServiceDeploymentArn) == ev.ResourceArn {
			sd = &out.ServiceDeployments[i]
		}
	}
	if sd == nil {
		return deployment{}, permanent("service deployment %s not found%s", ev.ResourceArn, failureText(out.Failures))
	}
	if s := aws.ToString(sd.ServiceArn); s != "" && !sameService(s, ev.ExecutionDetails.ServiceArn) {
		return deployment{}, permanent("service deployment %s belongs to %s, not %s", ev.ResourceArn, s, ev.ExecutionDetails.ServiceArn)
	}
	if sd.TargetServiceRevision == nil {
		return deployment{}, permanent("service deployment %s has no target service revision", ev.ResourceArn)
	}
	if a := aws.ToString(sd.TargetServiceRevision.Arn); a != ev.ExecutionDetails.TargetServiceRevisionArn {
		return deployment{}, permanent("service deployment %s targets %s, not %s", ev.ResourceArn, a, ev.ExecutionDetails.TargetServiceRevisionArn)
	}
	return deployment{
		expected:        int(sd.TargetServiceRevision.RequestedTaskCount),
		firstDeployment: len(sd.SourceServiceRevisions) == 0,
	}, nil
}

func failureText(fs []ecstypes.Failure) string {
	if len(fs) == 0 {
		return ""
	}
	f := fs[0]
	s := ": " + aws.ToString(f.Reason)
	if d := aws.ToString(f.Detail); d != "" {
		s += " (" + d + ")"
	}
	return s
}

// greenTask is a RUNNING task of the green revision.
type greenTask struct {
	id, arn, ip string
}

// listGreenTasks returns the service's RUNNING tasks of task definition taskDef, sorted by
// IP, and how many of them have no private IPv4 address yet. Only tasks ECS lists for the
// service are ever returned: these are the only addresses the hook probes.
func listGreenTasks(ctx context.Context, api ecsAPI, cluster, service, taskDef, container string) ([]greenTask, int, error) {
	var arns []string
	var next *string
	for {
		out, err := api.ListTasks(ctx, &ecs.ListTasksInput{
			Cluster: aws.String(cluster), ServiceName: aws.String(service),
			DesiredStatus: ecstypes.DesiredStatusRunning, NextToken: next,
		})
		if err != nil {
			return nil, 0, awsError(fmt.Sprintf("list tasks of %s/%s", cluster, service), err)
		}
		arns = append(arns, out.TaskArns...)
		if out.NextToken == nil || *out.NextToken == "" {
			break
		}
		next = out.NextToken
	}
	var tasks []greenTask
	noIP := 0
	for start := 0; start < len(arns); start += 100 {
		batch := arns[start:min(start+100, len(arns))]
		out, err := api.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: batch})
		if err != nil {
			return nil, 0, awsError(fmt.Sprintf("describe tasks of %s/%s", cluster, service), err)
		}
		for _, t := range out.Tasks {
			if aws.ToString(t.TaskDefinitionArn) != taskDef || aws.ToString(t.LastStatus) != "RUNNING" {
				continue
			}
			ip := taskIP(t, container)
			if ip == "" {
				noIP++
				continue
			}
			arn := aws.ToString(t.TaskArn)
			tasks = append(tasks, greenTask{id: taskID(arn), arn: arn, ip: ip})
		}
	}
	sort.Slice(tasks, func(i, j int) bool { return tasks[i].ip < tasks[j].ip })
	return tasks, noIP, nil
}

// taskIP is the task's private IPv4 address: its ENI attachment's privateIPv4Address, else
// the container's (the named one first) network interface.
func taskIP(t ecstypes.Task, container string) string {
	for _, a := range t.Attachments {
		if aws.ToString(a.Type) != "ElasticNetworkInterface" {
			continue
		}
		for _, d := range a.Details {
			if aws.ToString(d.Name) == "privateIPv4Address" && aws.ToString(d.Value) != "" {
				return aws.ToString(d.Value)
			}
		}
	}
	var fallback string
	for _, c := range t.Containers {
		for _, ni := range c.NetworkInterfaces {
			ip := aws.ToString(ni.PrivateIpv4Address)
			if ip == "" {
				continue
			}
			if aws.ToString(c.Name) == container {
				return ip
			}
			if fallback == "" {
				fallback = ip
			}
		}
	}
	return fallback
}

// containerPort finds the port to probe when neither the route nor hookDetails sets one:
// the load balancer entry's containerPort, else the container's first port mapping in the
// task definition.
func containerPort(ctx context.Context, api ecsAPI, rev revision, container string) (int, error) {
	if p := aws.ToInt32(rev.lb.ContainerPort); p > 0 && (container == "" || aws.ToString(rev.lb.ContainerName) == container) {
		return int(p), nil
	}
	out, err := api.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(rev.taskDefinition)})
	if err != nil {
		return 0, awsError("describe task definition "+rev.taskDefinition, err)
	}
	if out.TaskDefinition != nil {
		for _, c := range out.TaskDefinition.ContainerDefinitions {
			if container != "" && aws.ToString(c.Name) != container {
				continue
			}
			for _, pm := range c.PortMappings {
				if p := aws.ToInt32(pm.ContainerPort); p > 0 {
					return int(p), nil
				}
			}
		}
	}
	name := container
	if name == "" {
		name = "any container"
	}
	return 0, permanent("cannot tell which port to probe: the service's load balancer entry and %s in %s have no container port; set smokeTests.port in the route or \"port\" in hookDetails", name, rev.taskDefinition)
}
