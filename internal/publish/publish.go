package publish

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	ebtypes "github.com/aws/aws-sdk-go-v2/service/eventbridge/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	snstypes "github.com/aws/aws-sdk-go-v2/service/sns/types"

	"github.com/greenlight-deploy/greenlight/internal/explain"
	"github.com/greenlight-deploy/greenlight/internal/metrics"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// Finalize actions (the state machine's names, from package workflow).
const (
	ActionFinal     = workflow.ActionFinal
	ActionRegressed = workflow.ActionRegressed
)

// The EventBridge event greenlight puts for every result.
const (
	EventSource     = "greenlight"
	EventDetailType = "Greenlight Deployment Result"
)

// Environment variables finalize reads (set by template.yaml).
const (
	ResultTopicEnv = "RESULT_TOPIC_ARN"
	EventBusEnv    = "EVENT_BUS_NAME"
)

// maxStoppedTasks bounds the stopped-task evidence.
const maxStoppedTasks = 10

// maxMessage is kept under SNS's and EventBridge's 256 KB limits.
const maxMessage = 240 * 1024

type tasksECS interface {
	ListTasks(ctx context.Context, in *ecs.ListTasksInput, optFns ...func(*ecs.Options)) (*ecs.ListTasksOutput, error)
	DescribeTasks(ctx context.Context, in *ecs.DescribeTasksInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error)
}

type snsAPI interface {
	Publish(ctx context.Context, in *sns.PublishInput, optFns ...func(*sns.Options)) (*sns.PublishOutput, error)
}

type eventsAPI interface {
	PutEvents(ctx context.Context, in *eventbridge.PutEventsInput, optFns ...func(*eventbridge.Options)) (*eventbridge.PutEventsOutput, error)
}

type publishLedger interface {
	SmokeEvidence(ctx context.Context, serviceDeploymentARN string) ([]result.CheckEvidence, error)
	PutResult(ctx context.Context, r result.Result) error
}

// Publisher is the finalize step.
type Publisher struct {
	ECS      tasksECS
	Ledger   publishLedger
	SNS      snsAPI
	Events   eventsAPI
	TopicARN string
	BusName  string
	Now      func() time.Time
	Log      *slog.Logger
	// Metrics, when set, receives the result's embedded-metric-format lines after it is
	// published (the finalize function passes stdout; CloudWatch Logs makes them metrics).
	Metrics io.Writer
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Publisher) log() *slog.Logger {
	if p.Log != nil {
		return p.Log
	}
	return slog.Default()
}

// Handle runs Call.Action final or regressed and returns the job with Result set.
func (p *Publisher) Handle(ctx context.Context, c workflow.Call) (workflow.Job, error) {
	j := c.Job
	switch c.Action {
	case ActionFinal, "":
		ev := p.gather(ctx, j)
		r := Assemble(j, ev, p.now().UTC())
		if err := p.Publish(ctx, r); err != nil {
			return j, err
		}
		j.Result = &r
		return j, nil
	case ActionRegressed:
		if j.Result == nil || j.Result.Outcome != result.Regressed {
			return j, workflow.Inputf("finalize regressed: job %s carries no REGRESSED result (the watch step sets job.result)", j.ID)
		}
		r := *j.Result
		if r.Version == 0 {
			r.Version = result.Version
		}
		if err := p.Publish(ctx, r); err != nil {
			return j, err
		}
		j.Result = &r
		return j, nil
	}
	return j, workflow.Inputf("finalize: action %q: want %q or %q", c.Action, ActionFinal, ActionRegressed)
}

// gather collects evidence; what cannot be read is logged and left out (the result is still
// published).
func (p *Publisher) gather(ctx context.Context, j workflow.Job) explain.Evidence {
	var ev explain.Evidence
	d := j.Deployment
	if d == nil || d.ServiceDeploymentARN == "" {
		return ev
	}
	log := p.log().With("cluster", j.Target.Cluster, "service", j.Target.Service, "job_id", j.ID, "service_deployment_arn", d.ServiceDeploymentARN)
	checks, err := p.Ledger.SmokeEvidence(ctx, d.ServiceDeploymentARN)
	if err != nil {
		log.WarnContext(ctx, "could not read smoke evidence", "error", err)
	}
	ev.SmokeChecks = checks
	if explain.Outcome(j) != result.Succeeded && d.TaskDefinitionARN != "" {
		tasks, err := p.stoppedTasks(ctx, j.Target.Cluster, j.Target.Service, d.TaskDefinitionARN)
		if err != nil {
			log.WarnContext(ctx, "could not read stopped tasks", "error", err)
		}
		ev.StoppedTasks = tasks
	}
	return ev
}

func (p *Publisher) stoppedTasks(ctx context.Context, cluster, service, taskDef string) ([]result.StoppedTask, error) {
	list, err := p.ECS.ListTasks(ctx, &ecs.ListTasksInput{
		Cluster: aws.String(cluster), ServiceName: aws.String(service), DesiredStatus: ecstypes.DesiredStatusStopped,
	})
	if err != nil {
		return nil, fmt.Errorf("list stopped tasks of %s/%s: %w", cluster, service, err)
	}
	if len(list.TaskArns) == 0 {
		return nil, nil
	}
	arns := list.TaskArns
	if len(arns) > 100 {
		arns = arns[:100]
	}
	out, err := p.ECS.DescribeTasks(ctx, &ecs.DescribeTasksInput{Cluster: aws.String(cluster), Tasks: arns})
	if err != nil {
		return nil, fmt.Errorf("describe stopped tasks of %s/%s: %w", cluster, service, err)
	}
	return StoppedGreen(out.Tasks, taskDef, maxStoppedTasks), nil
}

// StoppedGreen keeps the tasks of the green task definition, at most max.
func StoppedGreen(tasks []ecstypes.Task, taskDef string, max int) []result.StoppedTask {
	var out []result.StoppedTask
	for _, t := range tasks {
		if aws.ToString(t.TaskDefinitionArn) != taskDef {
			continue
		}
		st := result.StoppedTask{
			TaskARN: aws.ToString(t.TaskArn), StoppedReason: aws.ToString(t.StoppedReason),
			StopCode: string(t.StopCode), StoppedAt: aws.ToTime(t.StoppedAt),
		}
		for _, c := range t.Containers {
			st.Containers = append(st.Containers, result.ContainerExit{Name: aws.ToString(c.Name), ExitCode: c.ExitCode, Reason: aws.ToString(c.Reason)})
		}
		out = append(out, st)
		if len(out) == max {
			break
		}
	}
	return out
}

// Assemble builds the result of a finished job.
func Assemble(j workflow.Job, ev explain.Evidence, now time.Time) result.Result {
	r := result.Result{
		Version:      result.Version,
		ID:           j.ID,
		Outcome:      explain.Outcome(j),
		Route:        j.Route.Name,
		Environment:  j.Route.Environment,
		Account:      j.Account,
		Region:       j.Region,
		Cluster:      j.Target.Cluster,
		Service:      j.Target.Service,
		Container:    j.Target.Container,
		Image:        j.Image,
		ExecutionARN: j.ExecutionARN,
		Trigger:      j.Trigger,
		StartedAt:    j.StartedAt,
		FinishedAt:   now,
		Reason:       explain.Reason(j, ev),
	}
	if r.StartedAt.IsZero() {
		r.StartedAt = now
	}
	r.DurationSeconds = r.FinishedAt.Sub(r.StartedAt).Seconds()
	if j.Note != "" {
		r.Warnings = append(r.Warnings, j.Note)
	}
	if pf := j.Preflight; pf != nil {
		r.Warnings = append(r.Warnings, pf.Warnings...)
	}
	if d := j.Deployment; d != nil {
		r.Strategy = d.Strategy
		r.PreviousImage = d.PreviousImage
		r.TaskDefinitionARN = d.TaskDefinitionARN
		r.PreviousTaskDefinitionARN = d.PreviousTaskDefinitionARN
		r.ServiceDeploymentARN = d.ServiceDeploymentARN
		r.StageReached = d.Stage
		r.ProductionPercent = d.ProductionPercent
		r.ECSStatus = d.Status
		r.ECSStatusReason = d.StatusReason
		r.Warnings = append(r.Warnings, d.Warnings...)
		r.Stages = closeStages(d.Stages, now)
	}
	r.Links = Links(j)
	fit(&r)
	return r
}

func closeStages(in []result.Stage, now time.Time) []result.Stage {
	if len(in) == 0 {
		return nil
	}
	out := append([]result.Stage(nil), in...)
	if last := &out[len(out)-1]; last.Seconds == 0 {
		last.Seconds = now.Sub(last.EnteredAt).Seconds()
	}
	return out
}

// Links are the console pages for the job. The ECS console's service-deployment page URL
// is [UNCONFIRMED]; the service and execution pages follow the consoles' current layout.
func Links(j workflow.Job) result.Links {
	var l result.Links
	region := j.Region
	if region == "" {
		return l
	}
	host := "https://" + region + ".console.aws.amazon.com"
	if j.ExecutionARN != "" {
		l.Execution = host + "/states/home?region=" + region + "#/v2/executions/details/" + j.ExecutionARN
	}
	if j.Target.Cluster != "" && j.Target.Service != "" {
		svc := host + "/ecs/v2/clusters/" + url.PathEscape(j.Target.Cluster) + "/services/" + url.PathEscape(j.Target.Service)
		l.Service = svc + "/health?region=" + region
		if d := j.Deployment; d != nil && d.ServiceDeploymentARN != "" {
			id := d.ServiceDeploymentARN[strings.LastIndex(d.ServiceDeploymentARN, "/")+1:]
			l.ServiceDeployment = svc + "/deployments/" + url.PathEscape(id) + "?region=" + region
		}
	}
	return l
}

// fit trims evidence until the message fits in SNS and EventBridge (256 KB).
func fit(r *result.Result) {
	for i := 0; i < 4; i++ {
		b, _ := json.Marshal(r)
		if len(b) <= maxMessage || r.Reason == nil || r.Reason.Evidence == nil {
			return
		}
		e := r.Reason.Evidence
		switch i {
		case 0:
			for k := range e.SmokeChecks {
				e.SmokeChecks[k].BodyExcerpt = ""
			}
		case 1:
			if len(e.SmokeChecks) > 10 {
				e.SmokeChecks = e.SmokeChecks[:10]
			}
			for k := range e.Alarms {
				e.Alarms[k].Datapoints = nil
			}
		default:
			r.Reason.Evidence = nil
			r.Reason.Details = append(r.Reason.Details, "evidence left out: the message would exceed 256 KB")
		}
	}
}

// Attributes are the SNS message attributes subscribers filter on; empty values are left
// out (SNS rejects them).
func Attributes(r result.Result) map[string]snstypes.MessageAttributeValue {
	return SNSAttributes(r.Attributes())
}

// SNSAttributes turns string attributes into SNS message attributes.
func SNSAttributes(in map[string]string) map[string]snstypes.MessageAttributeValue {
	attrs := make(map[string]snstypes.MessageAttributeValue, len(in))
	for k, v := range in {
		attrs[k] = snstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	return attrs
}

// Subject is the short SNS subject: "greenlight: prod/web ROLLED_BACK (web:v1.2.3)".
func Subject(r result.Result) string {
	target := r.Cluster + "/" + r.Service
	if r.Cluster == "" {
		target = r.Image.Repository
	}
	s := fmt.Sprintf("greenlight: %s %s (%s)", target, r.Outcome, r.Image.Repository+":"+r.Image.Tag)
	// SNS subjects: ASCII, no line breaks, at most 100 characters.
	b := make([]rune, 0, len(s))
	for _, c := range s {
		if c < 32 || c > 126 {
			c = '?'
		}
		b = append(b, c)
	}
	if len(b) > 100 {
		b = append(b[:99], '~')
	}
	return string(b)
}

// Publish writes the result to the ledger (when it names a service), the SNS topic and the
// event bus.
func (p *Publisher) Publish(ctx context.Context, r result.Result) error {
	log := p.log().With("cluster", r.Cluster, "service", r.Service, "job_id", r.ID, "outcome", string(r.Outcome))
	body, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode result %s: %w", r.ID, err)
	}
	if r.Cluster != "" && r.Service != "" {
		if err := p.Ledger.PutResult(ctx, r); err != nil {
			return workflow.Transient(err)
		}
	}
	if _, err := p.SNS.Publish(ctx, &sns.PublishInput{
		TopicArn: aws.String(p.TopicARN), Message: aws.String(string(body)), Subject: aws.String(Subject(r)),
		MessageAttributes: Attributes(r),
	}); err != nil {
		return transientIf(fmt.Errorf("publish result %s to %s: %w", r.ID, p.TopicARN, err))
	}
	ev := ebtypes.PutEventsRequestEntry{
		Source: aws.String(EventSource), DetailType: aws.String(EventDetailType), Detail: aws.String(string(body)),
		EventBusName: aws.String(p.BusName),
	}
	if r.ServiceDeploymentARN != "" {
		ev.Resources = []string{r.ServiceDeploymentARN}
	}
	out, err := p.Events.PutEvents(ctx, &eventbridge.PutEventsInput{Entries: []ebtypes.PutEventsRequestEntry{ev}})
	if err != nil {
		return transientIf(fmt.Errorf("put result event %s on bus %s: %w", r.ID, p.BusName, err))
	}
	if out.FailedEntryCount > 0 && len(out.Entries) > 0 {
		e := out.Entries[0]
		return workflow.Transient(fmt.Errorf("put result event %s: %s %s", r.ID, aws.ToString(e.ErrorCode), aws.ToString(e.ErrorMessage)))
	}
	log.InfoContext(ctx, "result published", "stage", r.StageReached, "service_deployment_arn", r.ServiceDeploymentARN)
	if p.Metrics != nil {
		if err := metrics.Write(p.Metrics, r); err != nil {
			log.WarnContext(ctx, "deployment metrics not written", "error", err)
		}
	}
	return nil
}

func transientIf(err error) error {
	if workflow.IsTransient(err) {
		return workflow.Transient(err)
	}
	return err
}
