package workflow

import (
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// Request is a deployment asked for by greenlight itself rather than by an ECR push: the CLI
// (`greenlight deploy`, `greenlight rollback`), the reconciler, or a regression rollback.
// It is the execution input {"request": {...}}; an ECR push event is the other input.
type Request struct {
	// Source is SourceCLI, SourceRollback, SourceReconcile or SourceRegressionRollback.
	Source      string `json:"source"`
	RequestedBy string `json:"requestedBy,omitempty"`
	// Route names the route whose settings apply; Cluster and Service pick one of its
	// targets (all of them when empty).
	Route   string `json:"route,omitempty"`
	Cluster string `json:"cluster,omitempty"`
	Service string `json:"service,omitempty"`
	// Image must carry Repository and Digest; Tag is informational.
	Image result.Image `json:"image"`
	// Note is shown in the result ("found by reconciliation", "rollback after REGRESSED").
	Note string `json:"note,omitempty"`
	// FollowUpOf links a regression rollback to the REGRESSED result that caused it.
	FollowUpOf string `json:"followUpOf,omitempty"`
	// PushedAt is when the image was pushed, when the requester knows it (the reconciler
	// reads it from ECR). It becomes Trigger.PushedAt, which orders the service's
	// newest-push-wins queue; zero means the execution's start time.
	PushedAt time.Time `json:"pushedAt,omitzero"`
}

// Trigger sources (result.Trigger.Source). Requests carry every one but SourceECRPush.
const (
	SourceECRPush            = "ecr-push"            // an ECR push event
	SourceCLI                = "cli"                 // greenlight deploy
	SourceRollback           = "rollback"            // greenlight rollback (to the last good or a named revision)
	SourceReconcile          = "reconcile"           // a push whose event never arrived, found by reconciliation
	SourceRegressionRollback = "regression-rollback" // greenlight undoing a REGRESSED deployment
)

// IsRollback reports whether the source deploys an earlier revision on purpose: preflight
// does not block it on the alarm that is (probably) the reason for it.
func IsRollback(source string) bool {
	return source == SourceRollback || source == SourceRegressionRollback
}

// ExecutionInput is what starts the state machine: an ECR push event from EventBridge
// (source aws.ecr) or {"request": Request}.
type ExecutionInput struct {
	// EventBridge envelope fields (ECR push).
	ID         string         `json:"id,omitempty"`
	Source     string         `json:"source,omitempty"`
	DetailType string         `json:"detail-type,omitempty"`
	Account    string         `json:"account,omitempty"`
	Region     string         `json:"region,omitempty"`
	Time       time.Time      `json:"time,omitzero"`
	Detail     *ECRPushDetail `json:"detail,omitempty"`

	Request *Request `json:"request,omitempty"`
}

// ECRPushDetail is the detail of an "ECR Image Action" event.
type ECRPushDetail struct {
	ActionType     string `json:"action-type"`
	Result         string `json:"result"`
	RepositoryName string `json:"repository-name"`
	ImageDigest    string `json:"image-digest"`
	ImageTag       string `json:"image-tag"`
}

// Plan is what the resolve step returns: one Job per target (or one SKIPPED job when
// nothing matches), for the state machine's Map.
type Plan struct {
	Jobs []Job `json:"jobs"`
}

// Job is one target deployment as it moves through the state machine.
type Job struct {
	// ID is the result ID: <execution name>/<cluster>/<service>.
	ID           string `json:"id"`
	ExecutionARN string `json:"executionArn"`

	Trigger result.Trigger `json:"trigger"`
	Image   result.Image   `json:"image"`
	// Registry is <account>.dkr.ecr.<region>.amazonaws.com, where Image lives.
	Registry string `json:"registry,omitempty"`
	Account  string `json:"account,omitempty"`
	Region   string `json:"region,omitempty"`

	Target routes.Target `json:"target"`
	// Route is a snapshot of the route at resolve time, so a routes change mid-deployment
	// cannot change this deployment's rules.
	Route routes.Route `json:"route"`
	Note  string       `json:"note,omitempty"`

	// Skip, when set by resolve, sends the job straight to finalize (SKIPPED, no lock).
	Skip *result.Reason `json:"skip,omitempty"`

	Lock       *LockState       `json:"lock,omitempty"`
	Preflight  *PreflightState  `json:"preflight,omitempty"`
	Deployment *DeploymentState `json:"deployment,omitempty"`
	Watch      *WatchState      `json:"watch,omitempty"`

	// Error is set by a Catch (ResultPath $.error): the state machine's own record of what
	// failed. Finalize turns it into a FAILED result.
	Error *CaughtError `json:"error,omitempty"`
	// FailedStep names the state whose Catch fired.
	FailedStep string `json:"failedStep,omitempty"`

	// Result is set by finalize (and, for REGRESSED, by the post-deploy watch).
	Result *result.Result `json:"result,omitempty"`

	// Wait is how many seconds the next Wait state sleeps (read with SecondsPath).
	Wait int `json:"wait"`
	// StartedAt is when greenlight began work on this job.
	StartedAt time.Time `json:"startedAt"`
}

// CaughtError is the {Error, Cause} object Step Functions puts at a Catch's ResultPath.
type CaughtError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// LockState is the per-service lock and queue as this job sees it.
type LockState struct {
	Acquired bool `json:"acquired"`
	// Superseded is set when a newer push for the same service is waiting: this job ends
	// SUPERSEDED without deploying.
	Superseded   bool         `json:"superseded,omitempty"`
	SupersededBy result.Image `json:"supersededBy,omitempty"`
	// Holder is the execution holding the lock while this job waits.
	Holder      string    `json:"holder,omitempty"`
	WaitingFrom time.Time `json:"waitingFrom,omitempty"`
	ExpiresAt   time.Time `json:"expiresAt,omitempty"`
	// Released is set once release has run, so a retried release is a no-op.
	Released bool `json:"released,omitempty"`
}

// PreflightState is what the alarm preflight found.
type PreflightState struct {
	// Blocked is set when an alarm was already firing and the route says block.
	Blocked bool                   `json:"blocked"`
	Firing  []result.AlarmEvidence `json:"firing,omitempty"`
	// Warnings are carried into the result (route says warn, drift …).
	Warnings []string `json:"warnings,omitempty"`
}

// DeploymentState is the ECS side: what start did and what check has observed.
type DeploymentState struct {
	TaskDefinitionARN         string        `json:"taskDefinitionArn,omitempty"`
	PreviousTaskDefinitionARN string        `json:"previousTaskDefinitionArn,omitempty"`
	PreviousImage             *result.Image `json:"previousImage,omitempty"`
	ServiceARN                string        `json:"serviceArn,omitempty"`
	ServiceDeploymentARN      string        `json:"serviceDeploymentArn,omitempty"`
	Strategy                  string        `json:"strategy,omitempty"`
	// WaitingForActive is set while start waits for a deployment greenlight did not start
	// (for example an ECS rollback) to finish before calling UpdateService.
	WaitingForActive string    `json:"waitingForActive,omitempty"`
	StartedAt        time.Time `json:"startedAt,omitempty"`
	DeadlineAt       time.Time `json:"deadlineAt,omitempty"`

	Status       string         `json:"status,omitempty"` // the ECS ServiceDeploymentStatus
	StatusReason string         `json:"statusReason,omitempty"`
	Stage        string         `json:"stage,omitempty"`
	Stages       []result.Stage `json:"stages,omitempty"`
	// ProductionPercent is the largest share of production ECS gave the new revision in any
	// look (targetServiceRevision.requestedProductionTrafficWeight); nil until reported.
	ProductionPercent *float64 `json:"productionPercent,omitempty"`
	Polls             int      `json:"polls"`
	// Done is set when Status is terminal (or the deadline ended the wait).
	Done bool `json:"done"`
	// DeadlineExceeded is set when the route's deadline passed first.
	DeadlineExceeded bool `json:"deadlineExceeded,omitempty"`
	// What the ECS service deployment record says beyond its status (check copies them on
	// every poll; finalize turns them into evidence).
	TargetRevisionARN  string                 `json:"targetRevisionArn,omitempty"`
	SourceRevisionARNs []string               `json:"sourceRevisionArns,omitempty"`
	RollbackReason     string                 `json:"rollbackReason,omitempty"`
	TriggeredAlarms    []string               `json:"triggeredAlarms,omitempty"`
	AlarmStatus        string                 `json:"alarmStatus,omitempty"`
	CircuitBreaker     *result.CircuitBreaker `json:"circuitBreaker,omitempty"`
	Hooks              []result.HookExecution `json:"hooks,omitempty"`
	// Skipped is set when start found nothing to do (the service already runs the digest).
	Skipped *result.Reason `json:"skipped,omitempty"`
	// Warnings found while starting (drift, rolling strategy …).
	Warnings []string `json:"warnings,omitempty"`
}

// WatchState is what the alarm watch has seen during and after the deployment.
type WatchState struct {
	// RollbackRequested is set once greenlight has called StopServiceDeployment(ROLLBACK).
	RollbackRequested bool                   `json:"rollbackRequested,omitempty"`
	Fired             []result.AlarmEvidence `json:"fired,omitempty"`
	// PostDeployUntil ends the post-deploy watch window.
	PostDeployUntil time.Time `json:"postDeployUntil,omitempty"`
	// PostDeployDone is set when the window ended (or a newer deployment took over).
	PostDeployDone bool `json:"postDeployDone,omitempty"`
	// Regressed is set when an alarm fired in the window.
	Regressed bool `json:"regressed,omitempty"`
	// RollbackRequest, when set after a regression, is the execution input for the
	// rollback deployment (the state machine starts it).
	RollbackRequest *ExecutionInput `json:"rollbackRequest,omitempty"`
}
