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

// Task-definition tags greenlight writes on every revision it registers.
const (
	TagDigest    = "greenlight:digest"
	TagTag       = "greenlight:tag"
	TagSource    = "greenlight:source"
	TagEventID   = "greenlight:event-id"
	TagExecution = "greenlight:execution"
)

// activeStatuses are the ECS service-deployment statuses of a deployment still running.
var activeStatuses = []ecstypes.ServiceDeploymentStatus{
	ecstypes.ServiceDeploymentStatusPending, ecstypes.ServiceDeploymentStatusInProgress,
	ecstypes.ServiceDeploymentStatusRollbackRequested, ecstypes.ServiceDeploymentStatusRollbackInProgress,
	ecstypes.ServiceDeploymentStatusStopRequested,
}

// findWindow is how far before the UpdateService call the fallback search for the new
// service deployment looks (clock skew between Lambda and ECS).
const findWindow = 10 * time.Second

// startECS is the part of the ECS client start uses.
type startECS interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
	RegisterTaskDefinition(ctx context.Context, in *ecs.RegisterTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.RegisterTaskDefinitionOutput, error)
	UpdateService(ctx context.Context, in *ecs.UpdateServiceInput, optFns ...func(*ecs.Options)) (*ecs.UpdateServiceOutput, error)
	ListServiceDeployments(ctx context.Context, in *ecs.ListServiceDeploymentsInput, optFns ...func(*ecs.Options)) (*ecs.ListServiceDeploymentsOutput, error)
	DescribeServiceDeployments(ctx context.Context, in *ecs.DescribeServiceDeploymentsInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error)
	DescribeServiceRevisions(ctx context.Context, in *ecs.DescribeServiceRevisionsInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServiceRevisionsOutput, error)
}

// startLedger is the part of the ledger start uses.
type startLedger interface {
	History(ctx context.Context, key string, limit int) ([]result.Result, error)
	RenewLock(ctx context.Context, key, jobID string, until time.Time) error
}

// Starter starts the ECS deployment for a job that holds its service's lock.
type Starter struct {
	ECS    startECS
	Ledger startLedger
	Scale  workflow.TimeScale
	Poll   PollBounds
	Now    func() time.Time
	Log    *slog.Logger
}

func (s *Starter) now() time.Time { return clock(s.Now) }

func (s *Starter) log() *slog.Logger { return logger(s.Log) }

// Start describes the service, decides whether to deploy, registers the cloned task
// definition, calls UpdateService and finds the service deployment it started. When another
// deployment is active it returns the job with Deployment.WaitingForActive and Wait set, for
// the state machine to call Start again after the wait.
func (s *Starter) Start(ctx context.Context, j workflow.Job) (workflow.Job, error) {
	t := j.Target
	if t.Cluster == "" || t.Service == "" || t.Container == "" {
		return j, workflow.Inputf("start: job %s has no target cluster/service/container", j.ID)
	}
	if j.Image.Digest == "" || j.Image.URI == "" {
		return j, workflow.Inputf("start: job %s has no image digest/URI", j.ID)
	}
	log := s.log().With("cluster", t.Cluster, "service", t.Service, "job_id", j.ID)
	now := s.now().UTC()
	if err := s.Ledger.RenewLock(ctx, t.Key(), j.ID, now.Add(Lease(s.Scale))); err != nil {
		if errors.Is(err, ledger.ErrLockLost) {
			return j, workflow.Transient(fmt.Errorf("start: the lock on %s is no longer held by job %s (its lease ran out); retrying", t.Key(), j.ID))
		}
		return j, workflow.Transient(err)
	}
	svc, err := s.describeService(ctx, t.Cluster, t.Service)
	if err != nil {
		return j, err
	}
	if j.Deployment == nil {
		j.Deployment = &workflow.DeploymentState{}
	}
	d := j.Deployment
	d.ServiceARN = aws.ToString(svc.ServiceArn)
	if c := svc.DeploymentController; c != nil && c.Type != ecstypes.DeploymentControllerTypeEcs {
		return j, workflow.Configf("service %s uses the %s deployment controller: greenlight deploys services with the ECS controller (native blue/green); set deploymentController to ECS",
			t.Key(), c.Type)
	}
	strategy := ecstypes.DeploymentStrategyRolling
	if dc := svc.DeploymentConfiguration; dc != nil && dc.Strategy != "" {
		strategy = dc.Strategy
	}
	d.Strategy = string(strategy)

	current := aws.ToString(svc.TaskDefinition)
	td, tags, err := s.describeTaskDefinition(ctx, current)
	if err != nil {
		return j, err
	}
	curImage, ok := ContainerImage(td, t.Container)
	if !ok {
		names := containerNames(td)
		return j, workflow.Configf("%s", (&ErrContainerNotFound{Container: t.Container, TaskDefinition: current, Existing: names}).Error())
	}

	// Ours already? A retried start after UpdateService: the current revision is the one this
	// execution registered. Go on to find its service deployment.
	if PinsDigest(curImage, j.Image.Repository, j.Image.Digest) && tags[TagExecution] == j.ExecutionARN {
		log.InfoContext(ctx, "service already updated by this execution; finding its deployment", "task_definition_arn", current)
		if d.TaskDefinitionARN == "" {
			d.TaskDefinitionARN = current
		}
		return s.findAndFill(ctx, j, svc, svc.DeploymentConfiguration, current, aws.ToTime(td.RegisteredAt))
	}
	if PinsDigest(curImage, j.Image.Repository, j.Image.Digest) {
		d.Skipped = &result.Reason{
			Kind:    result.KindAlreadyRunning,
			Summary: fmt.Sprintf("%s already runs %s@%s in container %s (task definition %s)", t.Key(), j.Image.Repository, j.Image.ShortDigest(), t.Container, current),
		}
		d.PreviousTaskDefinitionARN = current
		log.InfoContext(ctx, "already running", "task_definition_arn", current)
		return j, nil
	}

	// Another deployment (not ours: we hold the lock) is still active: wait for it.
	active, err := s.activeDeployment(ctx, t.Cluster, t.Service)
	if err != nil {
		return j, err
	}
	if active != "" {
		if d.WaitingForActive == "" || d.DeadlineAt.IsZero() {
			d.DeadlineAt = now.Add(s.Scale.Apply(j.Route.Deadline()))
		}
		if now.After(d.DeadlineAt) {
			return j, workflow.Configf("service deployment %s (not started by greenlight) was still active after %s: finish or stop it, then push again",
				active, j.Route.Deadline())
		}
		d.WaitingForActive = active
		j.Wait = ClampSeconds(s.Scale.Seconds(ActiveWait), s.Poll)
		log.InfoContext(ctx, "waiting for an active deployment", "service_deployment_arn", active, "wait_seconds", j.Wait)
		return j, nil
	}
	d.WaitingForActive = ""

	// Drift: the service no longer runs what greenlight last deployed successfully.
	if hist, err := s.Ledger.History(ctx, t.Key(), 20); err != nil {
		log.WarnContext(ctx, "could not read deployment history for the drift check", "error", err)
	} else if w := DriftWarning(hist, current); w != "" {
		d.Warnings = appendOnce(d.Warnings, w)
	}
	if strategy == ecstypes.DeploymentStrategyRolling {
		d.Warnings = appendOnce(d.Warnings, fmt.Sprintf("service %s uses the ROLLING strategy: deployed without blue/green, lifecycle hooks or bake time; set deploymentConfiguration.strategy to BLUE_GREEN", t.Key()))
	}

	tagList := []ecstypes.Tag{
		{Key: aws.String(TagDigest), Value: aws.String(j.Image.Digest)},
		{Key: aws.String(TagSource), Value: aws.String(j.Trigger.Source)},
		{Key: aws.String(TagExecution), Value: aws.String(j.ExecutionARN)},
	}
	if j.Image.Tag != "" {
		tagList = append(tagList, ecstypes.Tag{Key: aws.String(TagTag), Value: aws.String(j.Image.Tag)})
	}
	if j.Trigger.EventID != "" {
		tagList = append(tagList, ecstypes.Tag{Key: aws.String(TagEventID), Value: aws.String(j.Trigger.EventID)})
	}
	in, err := CloneTaskDefinition(td, t.Container, j.Image.URI, tagList)
	if err != nil {
		return j, workflow.Configf("%v", err)
	}
	reg, err := s.ECS.RegisterTaskDefinition(ctx, in)
	if err != nil {
		return j, awsErr(fmt.Sprintf("register task definition %s", aws.ToString(td.Family)), err)
	}
	newTD := aws.ToString(reg.TaskDefinition.TaskDefinitionArn)
	prevRepo, prevTag, prevDigest := ParseImage(curImage)
	d.PreviousTaskDefinitionARN = current
	d.PreviousImage = &result.Image{Repository: prevRepo, Tag: prevTag, Digest: prevDigest, URI: curImage}
	d.TaskDefinitionARN = newTD
	log.InfoContext(ctx, "registered task definition", "task_definition_arn", newTD, "image", j.Image.URI)

	t0 := s.now().UTC()
	up, err := s.ECS.UpdateService(ctx, &ecs.UpdateServiceInput{
		Cluster: aws.String(t.Cluster), Service: aws.String(t.Service), TaskDefinition: aws.String(newTD),
	})
	if err != nil {
		return j, awsErr("update service "+t.Key(), err)
	}
	log.InfoContext(ctx, "service updated", "task_definition_arn", newTD)
	return s.findAndFill(ctx, j, up.Service, svc.DeploymentConfiguration, newTD, t0)
}

// findAndFill finds the service deployment for taskDef and fills the job's deployment; dc is
// the service's deployment configuration, whose planned waits the deadline allows for.
func (s *Starter) findAndFill(ctx context.Context, j workflow.Job, svc *ecstypes.Service, dc *ecstypes.DeploymentConfiguration, taskDef string, since time.Time) (workflow.Job, error) {
	d := j.Deployment
	current := ""
	if svc != nil {
		current = aws.ToString(svc.CurrentServiceDeployment)
	}
	arn, err := s.FindDeployment(ctx, j.Target.Cluster, j.Target.Service, current, taskDef, since)
	if err != nil {
		return j, err
	}
	now := s.now().UTC()
	d.ServiceDeploymentARN = arn
	if d.StartedAt.IsZero() {
		d.StartedAt = now
	}
	d.DeadlineAt = d.StartedAt.Add(s.Scale.Apply(j.Route.Deadline() + PlannedWaits(dc)))
	d.Done = false
	j.Wait = ClampSeconds(s.Scale.Seconds(stageWait["PRE_SCALE_UP"]), s.Poll)
	s.log().InfoContext(ctx, "deployment started", "cluster", j.Target.Cluster, "service", j.Target.Service,
		"job_id", j.ID, "service_deployment_arn", arn, "strategy", d.Strategy)
	return j, nil
}

// FindDeployment returns the ARN of the service deployment whose target revision runs
// taskDef. It tries the service's currentServiceDeployment first (verified through its
// target service revision), then lists the service's deployments created since the update.
// Which of the two AWS provides right after UpdateService is [UNCONFIRMED]; both are used.
func (s *Starter) FindDeployment(ctx context.Context, cluster, service, current, taskDef string, since time.Time) (string, error) {
	if current != "" {
		out, err := s.ECS.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{current}})
		if err != nil {
			return "", awsErr("describe service deployment "+current, err)
		}
		for _, sd := range out.ServiceDeployments {
			if sd.TargetServiceRevision == nil {
				continue
			}
			ok, err := s.revisionRuns(ctx, aws.ToString(sd.TargetServiceRevision.Arn), taskDef)
			if err != nil {
				return "", err
			}
			if ok {
				return current, nil
			}
		}
	}
	in := &ecs.ListServiceDeploymentsInput{
		Cluster: aws.String(cluster), Service: aws.String(service),
		CreatedAt: &ecstypes.CreatedAt{After: aws.Time(since.Add(-findWindow))},
	}
	for {
		out, err := s.ECS.ListServiceDeployments(ctx, in)
		if err != nil {
			return "", awsErr("list service deployments of "+cluster+"/"+service, err)
		}
		for _, b := range out.ServiceDeployments {
			ok, err := s.revisionRuns(ctx, aws.ToString(b.TargetServiceRevisionArn), taskDef)
			if err != nil {
				return "", err
			}
			if ok {
				return aws.ToString(b.ServiceDeploymentArn), nil
			}
		}
		if out.NextToken == nil {
			break
		}
		in.NextToken = out.NextToken
	}
	// ECS may not list it yet: retry (start is idempotent for this execution).
	return "", workflow.Transient(fmt.Errorf("no service deployment of %s/%s targets task definition %s yet", cluster, service, taskDef))
}

func (s *Starter) revisionRuns(ctx context.Context, revisionARN, taskDef string) (bool, error) {
	if revisionARN == "" {
		return false, nil
	}
	out, err := s.ECS.DescribeServiceRevisions(ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{revisionARN}})
	if err != nil {
		return false, awsErr("describe service revision "+revisionARN, err)
	}
	for _, r := range out.ServiceRevisions {
		if aws.ToString(r.TaskDefinition) == taskDef {
			return true, nil
		}
	}
	return false, nil
}

func (s *Starter) describeService(ctx context.Context, cluster, service string) (*ecstypes.Service, error) {
	out, err := s.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(cluster), Services: []string{service}})
	if err != nil {
		var cnf *ecstypes.ClusterNotFoundException
		if errors.As(err, &cnf) {
			return nil, workflow.Configf("cluster %s not found: check the route target's cluster name (not its ARN) and that greenlight runs in the cluster's region", cluster)
		}
		return nil, awsErr("describe service "+cluster+"/"+service, err)
	}
	for i := range out.Services {
		sv := &out.Services[i]
		if aws.ToString(sv.ServiceName) == service && aws.ToString(sv.Status) != "INACTIVE" {
			return sv, nil
		}
	}
	return nil, workflow.Configf("service %s not found in cluster %s: check the route target's cluster and service names (not ARNs) and the region", service, cluster)
}

func (s *Starter) describeTaskDefinition(ctx context.Context, arn string) (*ecstypes.TaskDefinition, map[string]string, error) {
	if arn == "" {
		return nil, nil, workflow.Configf("the service has no task definition")
	}
	out, err := s.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{
		TaskDefinition: aws.String(arn), Include: []ecstypes.TaskDefinitionField{ecstypes.TaskDefinitionFieldTags},
	})
	if err != nil {
		return nil, nil, awsErr("describe task definition "+arn, err)
	}
	tags := map[string]string{}
	for _, t := range out.Tags {
		tags[aws.ToString(t.Key)] = aws.ToString(t.Value)
	}
	return out.TaskDefinition, tags, nil
}

func (s *Starter) activeDeployment(ctx context.Context, cluster, service string) (string, error) {
	out, err := s.ECS.ListServiceDeployments(ctx, &ecs.ListServiceDeploymentsInput{
		Cluster: aws.String(cluster), Service: aws.String(service), Status: activeStatuses,
	})
	if err != nil {
		return "", awsErr("list active service deployments of "+cluster+"/"+service, err)
	}
	for _, b := range out.ServiceDeployments {
		return aws.ToString(b.ServiceDeploymentArn), nil
	}
	return "", nil
}

// DriftWarning compares the service's current task definition with the newest SUCCEEDED
// record in the (newest-first) history; it returns a warning when they differ.
func DriftWarning(history []result.Result, current string) string {
	for _, r := range history {
		if r.Outcome != result.Succeeded || r.TaskDefinitionARN == "" {
			continue
		}
		if r.TaskDefinitionARN != current {
			return fmt.Sprintf("drift: the service runs %s, but greenlight's last successful deployment (%s) set %s: it was changed outside greenlight",
				current, r.ID, r.TaskDefinitionARN)
		}
		return ""
	}
	return ""
}

func containerNames(td *ecstypes.TaskDefinition) []string {
	var n []string
	for _, c := range td.ContainerDefinitions {
		n = append(n, aws.ToString(c.Name))
	}
	return n
}

func appendOnce(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	return append(list, s)
}

// awsErr wraps an AWS error with what was being done; throttling and 5xx stay transient,
// client errors that mean a bad configuration become greenlight.Config.
func awsErr(what string, err error) error {
	wrapped := fmt.Errorf("%s: %w", what, err)
	if workflow.IsTransient(err) {
		return workflow.Transient(wrapped)
	}
	var ia *ecstypes.InvalidParameterException
	var snf *ecstypes.ServiceNotFoundException
	var sna *ecstypes.ServiceNotActiveException
	var pde *ecstypes.PlatformUnknownException
	if errors.As(err, &ia) || errors.As(err, &snf) || errors.As(err, &sna) || errors.As(err, &pde) {
		return workflow.Configf("%v", wrapped)
	}
	return wrapped
}
