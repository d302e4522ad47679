package ecsemu

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
)

// The blue/green lifecycle of one service deployment (reference §2.5 for the stages and
// their order, §2.4 and §5.3 for rollback, §3 for statuses, §5.2 for supersession).

// activeDeploymentLocked is the deployment that currently drives the service: the newest
// one that has started and is not terminal (else the newest pending one).
func (e *Emulator) activeDeploymentLocked(s *service) *deployment {
	var pending *deployment
	for i := len(s.deployments) - 1; i >= 0; i-- {
		d := s.deployments[i]
		if terminal(d.status) {
			continue
		}
		if d.status != StatusPending {
			return d
		}
		if pending == nil {
			pending = d
		}
	}
	return pending
}

// liveRevisionLocked is the revision serving production: the newest revision (other than
// exclude) registered in the target group the production rule forwards to, with tasks
// requested or running.
func (e *Emulator) liveRevisionLocked(s *service, exclude *revision) *revision {
	live := e.liveTGLocked(s)
	for i := len(s.revisions) - 1; i >= 0; i-- {
		r := s.revisions[i]
		if r == exclude || r.tg != live {
			continue
		}
		if r.desired > 0 || e.liveTasksLocked(r) > 0 {
			return r
		}
	}
	return nil
}

func (e *Emulator) liveTasksLocked(r *revision) int {
	n := 0
	for _, t := range r.svc.tasks {
		if t.rev == r && t.live() {
			n++
		}
	}
	return n
}

func (e *Emulator) healthyTasksLocked(r *revision) int {
	n := 0
	for _, t := range r.svc.tasks {
		if t.rev == r && t.lastStatus == "RUNNING" && t.desiredStatus == "RUNNING" && t.healthy {
			n++
		}
	}
	return n
}

// startDeploymentLocked launches the deployment's lifecycle goroutine.
func (e *Emulator) startDeploymentLocked(d *deployment) {
	d.ctx, d.cancel = context.WithCancel(e.ctx)
	e.wg.Add(1)
	go e.run(d)
}

// abortLocked stops the deployment's forward progress for a reason (the first reason
// wins). Nothing can abort a deployment that is rolling back, in CLEAN_UP (reference §5.3:
// after bake time a rollback is no longer possible) or finished.
func (e *Emulator) abortLocked(d *deployment, a abort) bool {
	if d.abortReason != nil || terminal(d.status) || !d.rollbackStarted.IsZero() || d.stage == StageCleanUp {
		return false
	}
	d.abortReason = &a
	if d.cancel != nil {
		d.cancel()
	}
	return true
}

func (e *Emulator) run(d *deployment) {
	defer e.wg.Done()
	defer close(d.done)
	if d.prev != nil {
		select {
		case <-d.prev.done:
		case <-e.ctx.Done():
			return
		}
	}
	if e.ctx.Err() != nil {
		return
	}
	e.mu.Lock()
	ab := d.abortReason
	e.mu.Unlock()
	if ab == nil || ab.kind != abortSuperseded {
		e.begin(d)
		for _, st := range e.stagesFor(d) {
			if d.ctx.Err() != nil {
				break
			}
			var a *abort
			switch st {
			case StagePreProductionTrafficShift:
				a = e.productionShift(d)
			case StageProductionTrafficShift:
				// Run with PRE_PRODUCTION_TRAFFIC_SHIFT, once per traffic step.
			default:
				e.enterStage(d, st, false)
				a = e.doStage(d, st)
			}
			if a != nil {
				e.mu.Lock()
				e.abortLocked(d, *a)
				e.mu.Unlock()
			}
		}
	}
	if e.ctx.Err() != nil {
		return // the emulator is closing
	}
	e.mu.Lock()
	ab = d.abortReason
	e.mu.Unlock()
	switch {
	case ab == nil:
		e.succeed(d)
	case ab.kind == abortSuperseded:
		e.finish(d, StatusStopped, ab.reason)
	case ab.rollback:
		e.rollback(d, ab)
	default:
		// Reference §5.3: with rollback false a failure stops the deployment without rolling
		// back; traffic and tasks stay where they are (the next deployment reconciles them).
		e.finish(d, StatusStopped, ab.reason)
	}
}

// begin moves the deployment to IN_PROGRESS and arms its monitors.
func (e *Emulator) begin(d *deployment) {
	e.mu.Lock()
	s := d.svc
	active := 0
	for _, r := range s.revisions {
		if r != d.target && (r.desired > 0 || e.liveTasksLocked(r) > 0) {
			active++
		}
	}
	// Reference §2.5 / §5.2: RECONCILE_SERVICE runs when the deployment starts over an
	// unfinished one or while more than one revision is active.
	d.reconcile = !d.first && ((d.prev != nil && d.prev.status == StatusStopped) || active > 1)
	if !d.reconcile && !d.first {
		if src := e.liveRevisionLocked(s, d.target); src != nil {
			d.sources = []*revision{src}
		}
	}
	d.startedAt = time.Now()
	cfg := d.cfg
	if a := cfg.Alarms; a != nil && a.Enable && len(a.AlarmNames) > 0 {
		d.alarmNames = append([]string(nil), a.AlarmNames...)
		d.alarmStatus = "MONITORING"
	} else if a != nil && len(a.AlarmNames) > 0 {
		d.alarmNames = append([]string(nil), a.AlarmNames...)
		d.alarmStatus = "DISABLED"
	}
	d.cbStatus = "DISABLED"
	if cb := cfg.DeploymentCircuitBreaker; cb != nil && cb.Enable && !e.opts.Choices.NoCircuitBreakerInBlueGreen {
		d.cbEnabled, d.cbRollback = true, cb.Rollback
		d.cbStatus = "MONITORING"
		d.cbThreshold = cbThreshold(cb, s.desired)
	}
	e.setStatusLocked(d, StatusInProgress, "")
	names, monitor := d.alarmNames, d.alarmStatus == "MONITORING" && e.cw != nil
	e.mu.Unlock()
	e.emitStatus(d, StatusInProgress)

	if !monitor {
		return
	}
	// Reference §5.3: an alarm already in ALARM when the deployment starts makes ECS ignore
	// the alarms for the whole deployment.
	if firing, err := e.alarmsInAlarm(d.ctx, names); err == nil && len(firing) > 0 {
		e.mu.Lock()
		d.alarmsIgnored = true
		d.alarmStatus = "DISABLED"
		e.mu.Unlock()
		e.log.Warn("ecs emulator: deployment alarm already in ALARM at start; ECS ignores alarms for this deployment",
			"service_deployment_arn", d.arn, "alarms", strings.Join(firing, ","))
		e.emit(Event{Kind: EventAlarm, Cluster: s.cluster, Service: s.name, ServiceDeploymentARN: d.arn,
			Message: "alarm(s) " + strings.Join(firing, ", ") + " already in ALARM at start: alarms are ignored for this deployment"})
		return
	} else if err != nil {
		e.log.Warn("ecs emulator: could not read deployment alarms at start", "service_deployment_arn", d.arn, "error", err)
	}
	e.wg.Add(1)
	go e.monitorAlarms(d, names)
}

// cbThreshold is the circuit breaker's failed-task threshold: BOUNDED_PERCENT 50 by
// default, i.e. half the desired count clamped to [3, 200] (the ECS circuit-breaker doc).
func cbThreshold(cb *circuitBreakerConfig, desired int) int {
	typ, val := "BOUNDED_PERCENT", 50
	if tc := cb.ThresholdConfiguration; tc != nil {
		if tc.Type != "" {
			typ = tc.Type
		}
		if tc.Value != nil {
			val = *tc.Value
		}
	}
	pct := int(math.Ceil(float64(desired) * float64(val) / 100))
	switch typ {
	case "COUNT":
		return max(val, 1)
	case "UNBOUNDED_PERCENT":
		return max(pct, 1)
	}
	return min(max(pct, 3), 200)
}

func (e *Emulator) stagesFor(d *deployment) []string {
	if d.first && e.opts.Choices.FirstDeployment == FirstDeploymentDirect {
		return []string{StageScaleUp}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if d.reconcile {
		return slices.Clone(stageOrder)
	}
	return slices.Clone(stageOrder[1:])
}

func (e *Emulator) enterStage(d *deployment, stage string, rollback bool) {
	now := time.Now()
	e.mu.Lock()
	e.closeStageLocked(d, now)
	d.stage = stage
	d.updatedAt = now
	d.stages = append(d.stages, StageRecord{Stage: stage, Rollback: rollback, EnteredAt: now})
	if !rollback {
		d.reached[stage] = true
	}
	status := d.status
	e.mu.Unlock()
	e.log.Info("ecs emulator: stage", "cluster", d.svc.cluster, "service", d.svc.name, "service_deployment_arn", d.arn, "stage", stage, "rollback", rollback)
	e.emit(Event{Kind: EventStage, Cluster: d.svc.cluster, Service: d.svc.name, ServiceDeploymentARN: d.arn, Stage: stage, Status: status})
}

func (e *Emulator) closeStageLocked(d *deployment, now time.Time) {
	if n := len(d.stages); n > 0 && d.stages[n-1].Wall == 0 {
		w := now.Sub(d.stages[n-1].EnteredAt)
		if w <= 0 {
			w = time.Nanosecond
		}
		d.stages[n-1].Wall = w
		d.stages[n-1].Emulated = e.emulated(w)
	}
}

func (e *Emulator) setStatusLocked(d *deployment, status, reason string) {
	now := time.Now()
	d.status = status
	if reason != "" {
		d.statusReason = reason
	}
	d.updatedAt = now
	d.statuses = append(d.statuses, StatusRecord{Status: status, At: now, Stage: d.stage})
	if terminal(status) {
		d.finishedAt = now
		e.closeStageLocked(d, now)
		if status == StatusStopped {
			d.stoppedAt = now
		}
	}
}

func (e *Emulator) emitStatus(d *deployment, status string) {
	e.mu.Lock()
	reason, stage := d.statusReason, d.stage
	e.mu.Unlock()
	e.log.Info("ecs emulator: service deployment "+status, "cluster", d.svc.cluster, "service", d.svc.name,
		"service_deployment_arn", d.arn, "stage", stage, "status_reason", reason)
	e.emit(Event{Kind: EventStatus, Cluster: d.svc.cluster, Service: d.svc.name, ServiceDeploymentARN: d.arn,
		Status: status, Stage: stage, Message: reason})
}

func (e *Emulator) doStage(d *deployment, st string) *abort {
	switch st {
	case StageReconcileService:
		e.reconcileService(d)
		return e.runHooks(d.ctx, d, st, false)
	case StageScaleUp:
		e.scaleUp(d)
		return nil
	case StageTestTrafficShift:
		e.shift(d, false, 100)
		return e.runHooks(d.ctx, d, st, false)
	case StageBakeTime:
		bake := 0
		if d.cfg.BakeTimeInMinutes != nil {
			bake = *d.cfg.BakeTimeInMinutes
		}
		select {
		case <-time.After(e.scale(time.Duration(bake) * time.Minute)):
		case <-d.ctx.Done():
		}
		return nil
	case StageCleanUp:
		e.cleanUp(d)
		return nil
	}
	return e.runHooks(d.ctx, d, st, false)
}

// reconcileService settles a service left with more than one active revision (reference
// §5.2, what happens to the stopped deployment's tasks is [UNCONFIRMED]): the revision
// production forwards to stays as the source; every other revision is scaled to zero and
// the test rule is pointed back at production's target group.
func (e *Emulator) reconcileService(d *deployment) {
	e.mu.Lock()
	s := d.svc
	live := e.liveTGLocked(s)
	src := e.liveRevisionLocked(s, d.target)
	d.sources = nil
	if src != nil {
		d.sources = []*revision{src}
	}
	var stopping []*revision
	for _, r := range s.revisions {
		if r != src && r != d.target && (r.desired > 0 || e.liveTasksLocked(r) > 0) {
			r.desired = 0
			stopping = append(stopping, r)
		}
	}
	e.kickLocked(s)
	e.mu.Unlock()
	e.setWeights(s, s.test, live)
	e.waitStopped(d.ctx, stopping)
}

// scaleUp launches the green tasks in the idle target group (reference §2.5 SCALE_UP) and
// waits until every one of them passed the target group's health checks.
func (e *Emulator) scaleUp(d *deployment) {
	e.mu.Lock()
	s := d.svc
	if d.target.tg == "" {
		live := e.liveTGLocked(s)
		if d.first && e.opts.Choices.FirstDeployment == FirstDeploymentDirect {
			d.target.tg = live
		} else {
			d.target.tg = otherTG(s, live)
		}
	}
	d.target.desired = s.desired
	e.kickLocked(s)
	e.mu.Unlock()
	for {
		e.mu.Lock()
		n, want := e.healthyTasksLocked(d.target), d.target.desired
		e.mu.Unlock()
		if n >= want {
			e.emit(Event{Kind: EventTask, Cluster: s.cluster, Service: s.name, ServiceDeploymentARN: d.arn, Stage: StageScaleUp,
				Message: fmt.Sprintf("%d task(s) of revision %s healthy in %s", n, d.target.id, d.target.tg)})
			return
		}
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// productionShift runs PRE_PRODUCTION_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT once per
// traffic step (reference §2.5: once for BLUE_GREEN; for LINEAR and CANARY before and at
// every step, the hook seeing the step's weights). The wait between steps is spent in
// PRODUCTION_TRAFFIC_SHIFT [UNCONFIRMED: the stage ECS reports during a step bake]; an
// alarm or StopServiceDeployment ends it like any other stage.
func (e *Emulator) productionShift(d *deployment) *abort {
	for _, step := range trafficSteps(d.cfg) {
		e.enterStage(d, StagePreProductionTrafficShift, false)
		if a := e.runHooks(d.ctx, d, StagePreProductionTrafficShift, false); a != nil || d.ctx.Err() != nil {
			return a
		}
		e.enterStage(d, StageProductionTrafficShift, false)
		e.shift(d, true, step.green)
		if a := e.runHooks(d.ctx, d, StageProductionTrafficShift, false); a != nil || d.ctx.Err() != nil {
			return a
		}
		if step.bake > 0 {
			select {
			case <-time.After(e.scale(step.bake)):
			case <-d.ctx.Done():
				return nil
			}
		}
	}
	return nil
}

// shift points green percent of the test (or production) rule at green's target group
// (reference §2.5 TEST_TRAFFIC_SHIFT: 100 %; PRODUCTION_TRAFFIC_SHIFT: 100 % for
// BLUE_GREEN, each step's share for LINEAR and CANARY).
func (e *Emulator) shift(d *deployment, production bool, green float64) {
	e.mu.Lock()
	s, tg := d.svc, d.target.tg
	l := s.test
	if production {
		l = s.prod
		d.prodWeightGreen = &green
	} else {
		d.testWeightGreen = &green
	}
	e.mu.Unlock()
	e.splitWeights(s, l, tg, green)
}

// cleanUp scales blue to zero (reference §5.3: after bake time, no rollback by traffic
// flip any more).
func (e *Emulator) cleanUp(d *deployment) {
	e.mu.Lock()
	var stopping []*revision
	for _, r := range d.svc.revisions {
		if r != d.target && (r.desired > 0 || e.liveTasksLocked(r) > 0) {
			r.desired = 0
			stopping = append(stopping, r)
		}
	}
	e.kickLocked(d.svc)
	e.mu.Unlock()
	e.waitStopped(e.ctx, stopping)
}

// waitStopped waits until the revisions have no task left that is not STOPPED.
func (e *Emulator) waitStopped(ctx context.Context, revs []*revision) {
	for {
		e.mu.Lock()
		n := 0
		for _, r := range revs {
			n += e.liveTasksLocked(r)
		}
		e.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (e *Emulator) succeed(d *deployment) {
	e.mu.Lock()
	if d.alarmStatus == "MONITORING" {
		d.alarmStatus = "MONITORING_COMPLETE"
	}
	if d.cbStatus == "MONITORING" {
		d.cbStatus = "MONITORING_COMPLETE"
	}
	d.svc.taskDef = d.target.td.TaskDefinitionArn
	e.setStatusLocked(d, StatusSuccessful, "")
	e.mu.Unlock()
	e.emitStatus(d, StatusSuccessful)
}

func (e *Emulator) finish(d *deployment, status, reason string) {
	e.mu.Lock()
	if d.alarmStatus == "MONITORING" {
		d.alarmStatus = "MONITORING_COMPLETE"
	}
	if d.cbStatus == "MONITORING" {
		d.cbStatus = "MONITORING_COMPLETE"
	}
	e.setStatusLocked(d, status, reason)
	e.mu.Unlock()
	e.emitStatus(d, status)
}

// rollback returns the service to the source revision (reference §2.4, §5.3): production
// and test rules back to blue's target group at once, the TEST_TRAFFIC_SHIFT and
// PRODUCTION_TRAFFIC_SHIFT hooks re-invoked with weights pointing back at blue and
// targetServiceRevisionArn unchanged, then green's tasks stopped.
func (e *Emulator) rollback(d *deployment, ab *abort) {
	now := time.Now()
	e.mu.Lock()
	s := d.svc
	if d.status != StatusRollbackRequested {
		e.setStatusLocked(d, StatusRollbackRequested, ab.reason)
	}
	d.statusReason = ab.reason
	if len(d.sources) == 0 && !d.first {
		if src := e.liveRevisionLocked(s, d.target); src != nil {
			d.sources = []*revision{src}
		}
	}
	var src *revision
	if len(d.sources) > 0 {
		src = d.sources[0]
	}
	d.rollbackStarted = now
	d.rollback = &rollbackWire{Reason: ab.reason, StartedAt: ts(now)}
	if src != nil {
		d.rollback.ServiceRevisionArn = src.arn
	}
	if d.alarmStatus == "MONITORING" {
		d.alarmStatus = "MONITORING_COMPLETE"
	}
	if d.cbStatus == "MONITORING" {
		d.cbStatus = "MONITORING_COMPLETE"
	}
	e.setStatusLocked(d, StatusRollbackInProgress, "")
	e.mu.Unlock()
	e.emitStatus(d, StatusRollbackRequested)
	e.emitStatus(d, StatusRollbackInProgress)

	if src == nil {
		// Reference §5.3: a rollback needs an earlier deployment in COMPLETED state.
		e.enterStage(d, StageCleanUp, true)
		e.mu.Lock()
		d.target.desired = 0
		e.kickLocked(s)
		e.mu.Unlock()
		e.waitStopped(e.ctx, []*revision{d.target})
		e.finish(d, StatusRollbackFailed, ab.reason+reasonNoRollbackTo)
		return
	}
	e.setWeights(s, s.prod, src.tg)
	e.setWeights(s, s.test, src.tg)
	e.mu.Lock()
	zero := 0.0
	if d.prodWeightGreen != nil {
		d.prodWeightGreen = &zero
	}
	if d.testWeightGreen != nil {
		d.testWeightGreen = &zero
	}
	reached := map[string]bool{}
	for k, v := range d.reached {
		reached[k] = v
	}
	e.mu.Unlock()

	var hookErr *abort
	for _, st := range []string{StageTestTrafficShift, StageProductionTrafficShift} {
		if e.opts.Choices.RollbackHooks == RollbackHooksAlways || reached[st] {
			e.enterStage(d, st, true)
			// Reference §2.4 [UNCONFIRMED]: a FAILED answer during a rollback ends it
			// ROLLBACK_FAILED (traffic is back on blue already).
			if a := e.runHooks(e.ctx, d, st, true); a != nil && hookErr == nil {
				hookErr = a
			}
		}
	}
	e.enterStage(d, StageCleanUp, true)
	e.mu.Lock()
	d.target.desired = 0
	if s.taskDef == d.target.td.TaskDefinitionArn && s.deployments[len(s.deployments)-1] == d {
		s.taskDef = src.td.TaskDefinitionArn
	}
	e.kickLocked(s)
	e.mu.Unlock()
	e.waitStopped(e.ctx, []*revision{d.target})
	if e.ctx.Err() != nil {
		return
	}
	if hookErr != nil {
		e.finish(d, StatusRollbackFailed, ab.reason+fmt.Sprintf(reasonRollbackHook, hookErr.reason))
		return
	}
	e.finish(d, StatusRollbackSuccessful, "")
}

// monitorAlarms polls the deployment alarms (reference §5.3: ECS polls DescribeAlarms) from
// Choices.AlarmsFrom until CLEAN_UP, and stops the deployment when one is in ALARM.
func (e *Emulator) monitorAlarms(d *deployment, names []string) {
	defer e.wg.Done()
	poll := e.scale(10 * time.Second)
	if poll < 10*time.Millisecond {
		poll = 10 * time.Millisecond
	}
	from := stageIndex(e.opts.Choices.AlarmsFrom)
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-time.After(poll):
		}
		e.mu.Lock()
		idx := stageIndex(d.stage)
		over := terminal(d.status) || d.abortReason != nil || idx >= stageIndex(StageCleanUp)
		e.mu.Unlock()
		if over {
			return
		}
		if idx < from {
			continue
		}
		firing, err := e.alarmsInAlarm(d.ctx, names)
		if err != nil {
			if d.ctx.Err() == nil {
				e.log.Warn("ecs emulator: DescribeAlarms failed; ECS can miss an alarm this way too", "service_deployment_arn", d.arn, "error", err)
			}
			continue
		}
		if len(firing) == 0 {
			continue
		}
		e.mu.Lock()
		rollback := d.cfg.Alarms != nil && d.cfg.Alarms.Rollback
		reason := fmt.Sprintf(reasonAlarm, strings.Join(firing, ", "))
		if !rollback {
			reason = fmt.Sprintf(reasonAlarmNoRollback, strings.Join(firing, ", "))
		}
		stage := d.stage
		if e.abortLocked(d, abort{kind: abortAlarm, reason: reason, rollback: rollback}) {
			d.triggeredAlarms = firing
			d.alarmStatus = "TRIGGERED"
		}
		e.mu.Unlock()
		e.emit(Event{Kind: EventAlarm, Cluster: d.svc.cluster, Service: d.svc.name, ServiceDeploymentARN: d.arn, Stage: stage,
			Message: "deployment alarm(s) in ALARM: " + strings.Join(firing, ", ")})
		return
	}
}

// alarmsInAlarm returns the named alarms whose state is ALARM.
func (e *Emulator) alarmsInAlarm(ctx context.Context, names []string) ([]string, error) {
	out, err := e.cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{
		AlarmNames: names,
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm},
	})
	if err != nil {
		return nil, err
	}
	var firing []string
	for _, a := range out.MetricAlarms {
		if a.StateValue == cwtypes.StateValueAlarm && a.AlarmName != nil {
			firing = append(firing, *a.AlarmName)
		}
	}
	for _, a := range out.CompositeAlarms {
		if a.StateValue == cwtypes.StateValueAlarm && a.AlarmName != nil {
			firing = append(firing, *a.AlarmName)
		}
	}
	sort.Strings(firing)
	return firing, nil
}
