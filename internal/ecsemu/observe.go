package ecsemu

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"
)

// Event kinds.
const (
	EventStatus = "status" // a service deployment changed status
	EventStage  = "stage"  // a service deployment entered a lifecycle stage
	EventHook   = "hook"   // a lifecycle hook was invoked or answered
	EventTask   = "task"   // a task started, became healthy or stopped
	EventAlarm  = "alarm"  // the emulator set an alarm's state
	EventWeight = "weight" // a listener rule's weights changed
)

// Event is one thing the emulator did, for the rehearsal's live view.
type Event struct {
	Time                 time.Time
	Kind                 string
	Cluster              string
	Service              string
	ServiceDeploymentARN string
	Status               string
	Stage                string
	Message              string
}

// StageRecord is one stage of a deployment's timeline. Rollback marks the stages a
// rollback re-entered. Wall is the time the stage took on this machine; Emulated is the
// same span at AWS speed (Wall / TimeScale). Both are zero while the stage is current.
type StageRecord struct {
	Stage     string
	Rollback  bool
	EnteredAt time.Time
	Wall      time.Duration
	Emulated  time.Duration
}

// StatusRecord is one status a deployment took.
type StatusRecord struct {
	Status string
	At     time.Time
	Stage  string
}

// HookInvocation is one invocation of a lifecycle hook: the exact payload sent and what
// came back.
type HookInvocation struct {
	Stage         string
	HookTargetArn string
	Attempt       int
	Rollback      bool
	At            time.Time
	Payload       json.RawMessage
	Response      json.RawMessage
	// HookStatus is the parsed hookStatus ("" when the response was unusable).
	HookStatus string
	Error      string
}

// PhaseTraffic counts the requests one listener served while a deployment was in one stage
// (Stage "STEADY" and an empty ServiceDeploymentARN: no deployment in progress). Failed
// counts responses with a 5xx status, whether from a target or from the load balancer.
type PhaseTraffic struct {
	ServiceDeploymentARN string
	Stage                string
	Listener             string // "production" or "test"
	// Rollback is set for the stages a rollback re-entered.
	Rollback    bool
	Served      int64
	Failed      int64
	Target5xx   int64
	ELB5xx      int64
	First, Last time.Time
}

// Listener names in PhaseTraffic.
const (
	ListenerProduction = "production"
	ListenerTest       = "test"
	StageSteady        = "STEADY"
)

// DeploymentReport is the emulator's own record of a service deployment (not ECS JSON):
// the timeline with wall-clock and emulated durations, every hook invocation, and the
// traffic each phase served.
type DeploymentReport struct {
	ARN                string
	Cluster, Service   string
	Status             string
	StatusReason       string
	Stage              string
	TargetRevisionARN  string
	SourceRevisionARNs []string
	TargetGroup        string
	RollbackReason     string
	CreatedAt          time.Time
	FinishedAt         time.Time
	// Wall is the deployment's duration on this machine (so far, when not finished);
	// Emulated is the same at AWS speed.
	Wall     time.Duration
	Emulated time.Duration
	Stages   []StageRecord
	Statuses []StatusRecord
	Hooks    []HookInvocation
	Traffic  []PhaseTraffic
	// CircuitBreakerFailures is the failed-task count the circuit breaker saw.
	CircuitBreakerFailures int
	TriggeredAlarms        []string
	AlarmsIgnored          bool
}

// Done reports whether the deployment reached a terminal status.
func (r DeploymentReport) Done() bool { return terminal(r.Status) }

// StageNames lists the stages in the order they were entered.
func (r DeploymentReport) StageNames() []string {
	out := make([]string, 0, len(r.Stages))
	for _, s := range r.Stages {
		out = append(out, s.Stage)
	}
	return out
}

// StatusNames lists the statuses in the order they were taken.
func (r DeploymentReport) StatusNames() []string {
	out := make([]string, 0, len(r.Statuses))
	for _, s := range r.Statuses {
		out = append(out, s.Status)
	}
	return out
}

// emit delivers an event; call it without holding e.mu.
func (e *Emulator) emit(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	if e.opts.OnEvent != nil {
		e.opts.OnEvent(ev)
	}
}

// Report returns the emulator's record of a service deployment.
func (e *Emulator) Report(serviceDeploymentARN string) (DeploymentReport, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := e.deployments[serviceDeploymentARN]
	if d == nil {
		return DeploymentReport{}, fmt.Errorf("ecsemu: no service deployment %s", serviceDeploymentARN)
	}
	return e.reportLocked(d), nil
}

func (e *Emulator) reportLocked(d *deployment) DeploymentReport {
	r := DeploymentReport{
		ARN: d.arn, Cluster: d.svc.cluster, Service: d.svc.name,
		Status: d.status, StatusReason: d.statusReason, Stage: d.stage,
		TargetRevisionARN: d.target.arn, TargetGroup: d.target.tg,
		CreatedAt: d.createdAt, FinishedAt: d.finishedAt,
		Stages:                 append([]StageRecord(nil), d.stages...),
		Statuses:               append([]StatusRecord(nil), d.statuses...),
		Hooks:                  append([]HookInvocation(nil), d.invocations...),
		CircuitBreakerFailures: d.cbFailures,
		TriggeredAlarms:        append([]string(nil), d.triggeredAlarms...),
		AlarmsIgnored:          d.alarmsIgnored,
	}
	for _, s := range d.sources {
		r.SourceRevisionARNs = append(r.SourceRevisionARNs, s.arn)
	}
	if d.rollback != nil {
		r.RollbackReason = d.rollback.Reason
	}
	end := d.finishedAt
	if end.IsZero() {
		end = time.Now()
	}
	r.Wall = end.Sub(d.createdAt)
	r.Emulated = e.emulated(r.Wall)
	for k, v := range d.svc.traffic {
		if k.deployment == d.arn {
			r.Traffic = append(r.Traffic, *v)
		}
	}
	sortTraffic(r.Traffic)
	return r
}

func sortTraffic(ts []PhaseTraffic) {
	sort.SliceStable(ts, func(i, j int) bool { return ts[i].First.Before(ts[j].First) })
}

// WaitDeployment blocks until the service deployment reaches a terminal status (or ctx
// ends) and returns its report.
func (e *Emulator) WaitDeployment(ctx context.Context, serviceDeploymentARN string) (DeploymentReport, error) {
	e.mu.Lock()
	d := e.deployments[serviceDeploymentARN]
	e.mu.Unlock()
	if d == nil {
		return DeploymentReport{}, fmt.Errorf("ecsemu: no service deployment %s", serviceDeploymentARN)
	}
	select {
	case <-d.done:
	case <-ctx.Done():
		r, _ := e.Report(serviceDeploymentARN)
		return r, fmt.Errorf("ecsemu: service deployment %s still %s in %s: %w", serviceDeploymentARN, r.Status, r.Stage, ctx.Err())
	}
	return e.Report(serviceDeploymentARN)
}

// Traffic returns the per-phase traffic of a service's listeners, oldest phase first.
func (e *Emulator) Traffic(cluster, service string) ([]PhaseTraffic, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.services[svcKey(cluster, service)]
	if s == nil {
		return nil, fmt.Errorf("ecsemu: no service %s in cluster %s", service, cluster)
	}
	out := make([]PhaseTraffic, 0, len(s.traffic))
	for _, v := range s.traffic {
		out = append(out, *v)
	}
	sortTraffic(out)
	return out, nil
}

// Deployments lists a service's deployment reports, oldest first.
func (e *Emulator) Deployments(cluster, service string) ([]DeploymentReport, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.services[svcKey(cluster, service)]
	if s == nil {
		return nil, fmt.Errorf("ecsemu: no service %s in cluster %s", service, cluster)
	}
	out := make([]DeploymentReport, 0, len(s.deployments))
	for _, d := range s.deployments {
		out = append(out, e.reportLocked(d))
	}
	return out, nil
}

// Listeners returns the URLs of a service's production and test listener proxies.
func (e *Emulator) Listeners(cluster, service string) (production, test string, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.services[svcKey(cluster, service)]
	if s == nil {
		return "", "", fmt.Errorf("ecsemu: no service %s in cluster %s", service, cluster)
	}
	if s.prod != nil {
		production = s.prod.URL()
	}
	if s.test != nil {
		test = s.test.URL()
	}
	return production, test, nil
}

// TaskInfo describes one emulated task for the rehearsal.
type TaskInfo struct {
	ARN, RevisionARN, TaskDefinitionARN string
	Address                             string // ip:port
	LastStatus                          string
	Healthy                             bool
	StoppedReason                       string
	ExitCode                            *int
	LogPath                             string
	PID                                 int
}

// Tasks lists a service's tasks (stopped ones included), oldest first.
func (e *Emulator) Tasks(cluster, service string) ([]TaskInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.services[svcKey(cluster, service)]
	if s == nil {
		return nil, fmt.Errorf("ecsemu: no service %s in cluster %s", service, cluster)
	}
	out := make([]TaskInfo, 0, len(s.tasks))
	for _, t := range s.tasks {
		ti := TaskInfo{ARN: t.arn, RevisionARN: t.rev.arn, TaskDefinitionARN: t.rev.td.TaskDefinitionArn,
			Address: fmt.Sprintf("%s:%d", t.ip, t.port), LastStatus: t.lastStatus, Healthy: t.healthy,
			StoppedReason: t.stoppedReason, ExitCode: t.exitCode, LogPath: t.logPath}
		if t.cmd != nil && t.cmd.Process != nil {
			ti.PID = t.cmd.Process.Pid
		}
		out = append(out, ti)
	}
	return out, nil
}

// ServiceTaskDefinition is the task definition the service runs now (DescribeServices'
// taskDefinition): the target of its last successful deployment, or the source again
// after a rollback.
func (e *Emulator) ServiceTaskDefinition(cluster, service string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.services[svcKey(cluster, service)]
	if s == nil {
		return "", fmt.Errorf("ecsemu: no service %s in cluster %s", service, cluster)
	}
	return s.taskDef, nil
}
