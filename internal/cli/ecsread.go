package cli

import (
	"context"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// activeStatuses are service-deployment statuses that are not terminal.
var activeStatuses = []ecstypes.ServiceDeploymentStatus{
	ecstypes.ServiceDeploymentStatusPending, ecstypes.ServiceDeploymentStatusInProgress,
	ecstypes.ServiceDeploymentStatusStopRequested, ecstypes.ServiceDeploymentStatusRollbackRequested,
	ecstypes.ServiceDeploymentStatusRollbackInProgress,
}

// IsActive reports whether a service-deployment status is not terminal.
func IsActive(s string) bool {
	for _, a := range activeStatuses {
		if string(a) == s {
			return true
		}
	}
	return false
}

// latestDeployment returns the service's newest service deployment (active first, else the
// most recent of any status), or nil when ECS has none.
func latestDeployment(ctx context.Context, c ECSAPI, t target) (*ecstypes.ServiceDeployment, error) {
	list, err := c.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{
		Cluster: aws.String(t.Cluster), Service: aws.String(t.Service), MaxResults: aws.Int32(20),
	})
	if err != nil {
		var snf *ecstypes.ServiceNotFoundException
		var cnf *ecstypes.ClusterNotFoundException
		if errors.As(err, &snf) || errors.As(err, &cnf) {
			return nil, NotFoundf("ECS service %s does not exist", t.Key())
		}
		return nil, AWSError("list service deployments of "+t.Key()+" (ecs:ListServiceDeployments)", err)
	}
	briefs := list.ServiceDeployments
	if len(briefs) == 0 {
		return nil, nil
	}
	sort.SliceStable(briefs, func(i, j int) bool {
		ai, aj := IsActive(string(briefs[i].Status)), IsActive(string(briefs[j].Status))
		if ai != aj {
			return ai
		}
		return aws.ToTime(briefs[i].CreatedAt).After(aws.ToTime(briefs[j].CreatedAt))
	})
	out, err := c.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{aws.ToString(briefs[0].ServiceDeploymentArn)}})
	if err != nil {
		return nil, AWSError("describe service deployment (ecs:DescribeServiceDeployments)", err)
	}
	if len(out.ServiceDeployments) == 0 {
		return nil, nil
	}
	return &out.ServiceDeployments[0], nil
}

// RevisionView is one service revision in a deployment.
type RevisionView struct {
	ARN              string   `json:"arn"`
	TaskDefinition   string   `json:"taskDefinition,omitempty"`
	Images           []string `json:"images,omitempty"`
	RequestedTasks   int32    `json:"requestedTasks"`
	RunningTasks     int32    `json:"runningTasks"`
	PendingTasks     int32    `json:"pendingTasks"`
	ProductionWeight *float64 `json:"productionWeight,omitempty"`
	TestWeight       *float64 `json:"testWeight,omitempty"`
}

// HookView is one lifecycle hook run.
type HookView struct {
	TargetARN string `json:"targetArn,omitempty"`
	Status    string `json:"status"`
	HookID    string `json:"hookId,omitempty"`
}

// DeploymentView is the ECS service deployment as status shows it.
type DeploymentView struct {
	ARN             string         `json:"arn"`
	Status          string         `json:"status"`
	StatusReason    string         `json:"statusReason,omitempty"`
	Stage           string         `json:"stage,omitempty"`
	Active          bool           `json:"active"`
	CreatedAt       *time.Time     `json:"createdAt,omitempty"`
	StartedAt       *time.Time     `json:"startedAt,omitempty"`
	FinishedAt      *time.Time     `json:"finishedAt,omitempty"`
	ElapsedSeconds  float64        `json:"elapsedSeconds"`
	ExpectedSeconds float64        `json:"expectedSeconds,omitempty"`
	ExpectedBasis   string         `json:"expectedBasis,omitempty"`
	Target          *RevisionView  `json:"target,omitempty"`
	Sources         []RevisionView `json:"sources"`
	Hooks           []HookView     `json:"hooks"`
	AlarmStatus     string         `json:"alarmStatus,omitempty"`
	TriggeredAlarms []string       `json:"triggeredAlarms,omitempty"`
	RollbackReason  string         `json:"rollbackReason,omitempty"`
}

func revisionView(s ecstypes.ServiceRevisionSummary) RevisionView {
	return RevisionView{
		ARN: aws.ToString(s.Arn), RequestedTasks: s.RequestedTaskCount, RunningTasks: s.RunningTaskCount,
		PendingTasks: s.PendingTaskCount, ProductionWeight: s.RequestedProductionTrafficWeight, TestWeight: s.RequestedTestTrafficWeight,
	}
}

// deploymentView is the pure translation of an ECS record for display, with elapsed time
// measured to now for an active deployment and to its end otherwise.
func deploymentView(sd ecstypes.ServiceDeployment, now time.Time) DeploymentView {
	v := DeploymentView{
		ARN: aws.ToString(sd.ServiceDeploymentArn), Status: string(sd.Status), StatusReason: aws.ToString(sd.StatusReason),
		Stage: string(sd.LifecycleStage), Active: IsActive(string(sd.Status)),
		CreatedAt: sd.CreatedAt, StartedAt: sd.StartedAt, FinishedAt: sd.FinishedAt,
		Sources: []RevisionView{}, Hooks: []HookView{},
	}
	start := sd.StartedAt
	if start == nil {
		start = sd.CreatedAt
	}
	if start != nil {
		end := now
		if !v.Active {
			switch {
			case sd.FinishedAt != nil:
				end = *sd.FinishedAt
			case sd.StoppedAt != nil:
				end = *sd.StoppedAt
			case sd.UpdatedAt != nil:
				end = *sd.UpdatedAt
			}
		}
		v.ElapsedSeconds = end.Sub(*start).Round(time.Second).Seconds()
	}
	if sd.TargetServiceRevision != nil {
		r := revisionView(*sd.TargetServiceRevision)
		v.Target = &r
	}
	for _, s := range sd.SourceServiceRevisions {
		v.Sources = append(v.Sources, revisionView(s))
	}
	for _, h := range sd.LifecycleHookDetails {
		v.Hooks = append(v.Hooks, HookView{TargetARN: aws.ToString(h.TargetArn), Status: string(h.Status), HookID: aws.ToString(h.HookId)})
	}
	if sd.Alarms != nil {
		v.AlarmStatus = string(sd.Alarms.Status)
		v.TriggeredAlarms = sd.Alarms.TriggeredAlarmNames
	}
	if sd.Rollback != nil {
		v.RollbackReason = aws.ToString(sd.Rollback.Reason)
	}
	return v
}

// fillRevisions adds task definitions and images to the revisions (best effort).
func fillRevisions(ctx context.Context, c ECSAPI, v *DeploymentView) {
	var arns []string
	if v.Target != nil {
		arns = append(arns, v.Target.ARN)
	}
	for _, s := range v.Sources {
		arns = append(arns, s.ARN)
	}
	if len(arns) == 0 {
		return
	}
	out, err := c.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: arns})
	if err != nil {
		return
	}
	by := map[string]ecstypes.ServiceRevision{}
	for _, r := range out.ServiceRevisions {
		by[aws.ToString(r.ServiceRevisionArn)] = r
	}
	fill := func(rv *RevisionView) {
		r, ok := by[rv.ARN]
		if !ok {
			return
		}
		rv.TaskDefinition = aws.ToString(r.TaskDefinition)
		for _, ci := range r.ContainerImages {
			img := aws.ToString(ci.Image)
			if d := aws.ToString(ci.ImageDigest); d != "" && !strings.Contains(img, "@") {
				img += "@" + d
			}
			rv.Images = append(rv.Images, aws.ToString(ci.ContainerName)+"="+img)
		}
	}
	if v.Target != nil {
		fill(v.Target)
	}
	for i := range v.Sources {
		fill(&v.Sources[i])
	}
}
