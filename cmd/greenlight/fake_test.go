package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/cli"
)

// fakeECS stands in for ECS's service-deployment APIs, which moto does not implement (HTTP
// 500), until the ECS emulator lands; every other call goes to moto's ECS.
type fakeECS struct {
	cli.ECSAPI

	mu          sync.Mutex
	deployments []ecstypes.ServiceDeployment
	revisions   map[string]ecstypes.ServiceRevision
	stops       []ecs.StopServiceDeploymentInput
	// afterStop is the status a stopped deployment reports next.
	afterStop ecstypes.ServiceDeploymentStatus
}

const (
	sdepPrefix = "arn:aws:ecs:us-east-1:111122223333:service-deployment/prod/web/"
	revPrefix  = "arn:aws:ecs:us-east-1:111122223333:service-revision/prod/web/"
)

func newFakeECS() *fakeECS {
	return &fakeECS{revisions: map[string]ecstypes.ServiceRevision{}, afterStop: ecstypes.ServiceDeploymentStatusRollbackSuccessful}
}

func (f *fakeECS) ListServiceDeployments(ctx context.Context, in *ecs.ListServiceDeploymentsInput, _ ...func(*ecs.Options)) (*ecs.ListServiceDeploymentsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if aws.ToString(in.Cluster) != "prod" || aws.ToString(in.Service) != "web" {
		return nil, &ecstypes.ServiceNotFoundException{Message: aws.String("Service not found.")}
	}
	out := &ecs.ListServiceDeploymentsOutput{}
	for _, d := range f.deployments {
		out.ServiceDeployments = append(out.ServiceDeployments, ecstypes.ServiceDeploymentBrief{
			ServiceDeploymentArn: d.ServiceDeploymentArn, Status: d.Status, CreatedAt: d.CreatedAt, StartedAt: d.StartedAt,
			TargetServiceRevisionArn: d.TargetServiceRevision.Arn,
		})
	}
	return out, nil
}

func (f *fakeECS) DescribeServiceDeployments(ctx context.Context, in *ecs.DescribeServiceDeploymentsInput, _ ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ecs.DescribeServiceDeploymentsOutput{}
	for _, arn := range in.ServiceDeploymentArns {
		for _, d := range f.deployments {
			if aws.ToString(d.ServiceDeploymentArn) == arn {
				out.ServiceDeployments = append(out.ServiceDeployments, d)
			}
		}
	}
	return out, nil
}

func (f *fakeECS) DescribeServiceRevisions(ctx context.Context, in *ecs.DescribeServiceRevisionsInput, _ ...func(*ecs.Options)) (*ecs.DescribeServiceRevisionsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := &ecs.DescribeServiceRevisionsOutput{}
	for _, arn := range in.ServiceRevisionArns {
		if r, ok := f.revisions[arn]; ok {
			out.ServiceRevisions = append(out.ServiceRevisions, r)
		}
	}
	return out, nil
}

func (f *fakeECS) StopServiceDeployment(ctx context.Context, in *ecs.StopServiceDeploymentInput, _ ...func(*ecs.Options)) (*ecs.StopServiceDeploymentOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.stops = append(f.stops, *in)
	for i, d := range f.deployments {
		if aws.ToString(d.ServiceDeploymentArn) == aws.ToString(in.ServiceDeploymentArn) {
			if !cli.IsActive(string(d.Status)) {
				return nil, &ecstypes.InvalidParameterException{Message: aws.String("the service deployment is not in progress")}
			}
			f.deployments[i].Status = f.afterStop
			f.deployments[i].Rollback = &ecstypes.Rollback{Reason: aws.String("StopServiceDeployment ROLLBACK requested")}
			return &ecs.StopServiceDeploymentOutput{ServiceDeploymentArn: in.ServiceDeploymentArn}, nil
		}
	}
	return nil, &ecstypes.ServiceDeploymentNotFoundException{Message: aws.String("not found")}
}

// set replaces deployment i's fields under the lock (watch steps).
func (f *fakeECS) set(i int, fn func(d *ecstypes.ServiceDeployment)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.deployments[i])
}

func w(p float64) *float64 { return &p }

// blueGreen returns a service deployment of prod/web in the given stage: new revision
// "new" (digest d) replacing "old".
func blueGreen(id string, status ecstypes.ServiceDeploymentStatus, stage ecstypes.ServiceDeploymentLifecycleStage, started time.Time, prodNew float64) ecstypes.ServiceDeployment {
	return ecstypes.ServiceDeployment{
		ServiceDeploymentArn: aws.String(sdepPrefix + id),
		ServiceArn:           aws.String("arn:aws:ecs:us-east-1:111122223333:service/prod/web"),
		Status:               status, LifecycleStage: stage,
		CreatedAt: aws.Time(started), StartedAt: aws.Time(started),
		TargetServiceRevision: &ecstypes.ServiceRevisionSummary{Arn: aws.String(revPrefix + id + "-new"), RequestedTaskCount: 2, RunningTaskCount: 2,
			RequestedProductionTrafficWeight: w(prodNew), RequestedTestTrafficWeight: w(100)},
		SourceServiceRevisions: []ecstypes.ServiceRevisionSummary{{Arn: aws.String(revPrefix + id + "-old"), RequestedTaskCount: 2, RunningTaskCount: 2,
			RequestedProductionTrafficWeight: w(100 - prodNew), RequestedTestTrafficWeight: w(0)}},
		LifecycleHookDetails: []ecstypes.DeploymentLifecycleHookDetail{{TargetArn: aws.String("arn:aws:lambda:us-east-1:111122223333:function:greenlight-smoketest"), Status: "SUCCEEDED"}},
		Alarms:               &ecstypes.ServiceDeploymentAlarms{AlarmNames: []string{"web-5xx-rate"}, Status: "MONITORING"},
	}
}

func (f *fakeECS) addRevision(id, digest string) {
	for _, side := range []string{"new", "old"} {
		arn := revPrefix + id + "-" + side
		img := "111122223333.dkr.ecr.us-east-1.amazonaws.com/web@" + digest
		if side == "old" {
			img = "111122223333.dkr.ecr.us-east-1.amazonaws.com/web@" + digestOf(2)
		}
		f.revisions[arn] = ecstypes.ServiceRevision{ServiceRevisionArn: aws.String(arn),
			TaskDefinition:  aws.String(fmt.Sprintf("arn:aws:ecs:us-east-1:111122223333:task-definition/web:%d", map[string]int{"new": 8, "old": 7}[side])),
			ContainerImages: []ecstypes.ContainerImage{{ContainerName: aws.String("app"), Image: aws.String(img)}}}
	}
}

var _ = strings.TrimSpace
