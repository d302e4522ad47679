package deploy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// checkECS is the part of the ECS client check uses.
type checkECS interface {
	DescribeServiceDeployments(ctx context.Context, in *ecs.DescribeServiceDeploymentsInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error)
	StopServiceDeployment(ctx context.Context, in *ecs.StopServiceDeploymentInput, optFns ...func(*ecs.Options)) (*ecs.StopServiceDeploymentOutput, error)
}

// checkLedger is the part of the ledger check uses.
type checkLedger interface {
	RenewLock(ctx context.Context, key, jobID string, until time.Time) error
	ClaimStop(ctx context.Context, serviceDeploymentARN, by string) (bool, error)
	UnclaimStop(ctx context.Context, serviceDeploymentARN string) error
}

// Checker makes one observation of a job's ECS service deployment.
type Checker struct {
	ECS    checkECS
	Ledger checkLedger
	Scale  workflow.TimeScale
	Poll   PollBounds
	Now    func() time.Time
	Log    *slog.Logger
}

func (c *Checker) now() time.Time { return clock(c.Now) }

func (c *Checker) log() *slog.Logger { return logger(c.Log) }

// Check reads the service deployment once: status, stage timeline, rollback and alarm
// details; renews the lock lease; ends the wait at a terminal status or past the route's
// deadline (asking ECS to roll back once); and sets the next adaptive wait.
func (c *Checker) Check(ctx context.Context, j workflow.Job) (workflow.Job, error) {
	d := j.Deployment
	if d == nil || d.ServiceDeploymentARN == "" {
		return j, workflow.Inputf("check: job %s has no service deployment to follow", j.ID)
	}
	if d.Done {
		return j, nil
	}
	log := c.log().With("cluster", j.Target.Cluster, "service", j.Target.Service, "job_id", j.ID, "service_deployment_arn", d.ServiceDeploymentARN)
	out, err := c.ECS.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{d.ServiceDeploymentARN}})
	if err != nil {
		return j, awsErr("describe service deployment", err)
	}
	if len(out.ServiceDeployments) == 0 {
		reason := "no such deployment"
		if len(out.Failures) > 0 {
			reason = aws.ToString(out.Failures[0].Reason)
		}
		return j, fmt.Errorf("describe service deployment %s: %s", d.ServiceDeploymentARN, reason)
	}
	now := c.now().UTC()
	Observe(d, &out.ServiceDeployments[0], now)
	d.Polls++

	if err := c.Ledger.RenewLock(ctx, j.Target.Key(), j.ID, now.Add(Lease(c.Scale))); err != nil {
		if errors.Is(err, ledger.ErrLockLost) {
			log.WarnContext(ctx, "lock lease lost while following the deployment; another push may start a deployment over this one")
			d.Warnings = appendOnce(d.Warnings, "greenlight's lock on the service ran out during this deployment (it was not renewed in time)")
		} else {
			return j, workflow.Transient(err)
		}
	}

	if Terminal(d.Status) {
		d.Done = true
		log.InfoContext(ctx, "deployment finished", "status", d.Status, "stage", d.Stage, "polls", d.Polls)
		return j, nil
	}
	if !d.DeadlineAt.IsZero() && now.After(d.DeadlineAt) {
		if err := c.stopForDeadline(ctx, j, log); err != nil {
			return j, err
		}
		d.DeadlineExceeded, d.Done = true, true
		return j, nil
	}
	var inStage time.Duration
	if n := len(d.Stages); n > 0 {
		inStage = now.Sub(d.Stages[n-1].EnteredAt)
	}
	j.Wait = AdaptiveWait(d.Status, d.Stage, inStage, c.Scale, c.Poll)
	log.InfoContext(ctx, "deployment in progress", "status", d.Status, "stage", d.Stage, "wait_seconds", j.Wait)
	return j, nil
}

func (c *Checker) stopForDeadline(ctx context.Context, j workflow.Job, log *slog.Logger) error {
	d := j.Deployment
	switch d.Status {
	case "ROLLBACK_REQUESTED", "ROLLBACK_IN_PROGRESS", "STOP_REQUESTED":
		return nil // already on its way back
	}
	ok, err := c.Ledger.ClaimStop(ctx, d.ServiceDeploymentARN, j.ID+" deadline")
	if err != nil {
		return workflow.Transient(err)
	}
	if !ok {
		return nil // asked before
	}
	_, err = c.ECS.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{
		ServiceDeploymentArn: aws.String(d.ServiceDeploymentARN), StopType: ecstypes.StopServiceDeploymentStopTypeRollback,
	})
	if err != nil {
		_ = c.Ledger.UnclaimStop(ctx, d.ServiceDeploymentARN)
		return awsErr("stop service deployment (deadline)", err)
	}
	log.WarnContext(ctx, "deadline passed; asked ECS to roll back", "stage", d.Stage, "status", d.Status)
	return nil
}

// Observe copies what a DescribeServiceDeployments record says into the job's deployment
// state and extends the stage timeline (a stage enters when first seen; the previous one
// closes then).
func Observe(d *workflow.DeploymentState, sd *ecstypes.ServiceDeployment, now time.Time) {
	d.Status = string(sd.Status)
	d.StatusReason = aws.ToString(sd.StatusReason)
	stage := string(sd.LifecycleStage)
	if stage != "" && (len(d.Stages) == 0 || d.Stages[len(d.Stages)-1].Name != stage) {
		if n := len(d.Stages); n > 0 {
			d.Stages[n-1].Seconds = now.Sub(d.Stages[n-1].EnteredAt).Seconds()
		}
		d.Stages = append(d.Stages, result.Stage{Name: stage, EnteredAt: now})
	}
	if stage != "" {
		d.Stage = stage
	}
	if t := sd.TargetServiceRevision; t != nil {
		d.TargetRevisionARN = aws.ToString(t.Arn)
		// A rollback puts the weight back to 0: keep the most production green had.
		if w := t.RequestedProductionTrafficWeight; w != nil && (d.ProductionPercent == nil || *w > *d.ProductionPercent) {
			d.ProductionPercent = aws.Float64(*w)
		}
	}
	d.SourceRevisionARNs = d.SourceRevisionARNs[:0]
	for _, s := range sd.SourceServiceRevisions {
		d.SourceRevisionARNs = append(d.SourceRevisionARNs, aws.ToString(s.Arn))
	}
	if sd.Rollback != nil {
		d.RollbackReason = aws.ToString(sd.Rollback.Reason)
	}
	if a := sd.Alarms; a != nil {
		d.AlarmStatus = string(a.Status)
		d.TriggeredAlarms = append([]string(nil), a.TriggeredAlarmNames...)
	}
	if cb := sd.DeploymentCircuitBreaker; cb != nil {
		d.CircuitBreaker = &result.CircuitBreaker{Status: string(cb.Status), FailureCount: cb.FailureCount, Threshold: cb.Threshold}
	}
	if len(sd.LifecycleHookDetails) > 0 {
		d.Hooks = d.Hooks[:0]
		for _, h := range sd.LifecycleHookDetails {
			d.Hooks = append(d.Hooks, result.HookExecution{TargetARN: aws.ToString(h.TargetArn), Status: string(h.Status)})
		}
	}
}
