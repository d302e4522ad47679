package ecsemu

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// The control plane: services, revisions and deployments, as CreateService, UpdateService
// and StopServiceDeployment change them.

// validateBlueGreen checks what ECS checks synchronously for a blue/green service
// (reference §1.1-1.3), with errors that name the field and the fix.
func validateBlueGreen(cfg deploymentConfiguration, lbs []loadBalancerWire) (loadBalancerWire, error) {
	bad := func(format string, a ...any) error {
		return &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf(format, a...)}
	}
	if err := strategyValid(cfg); err != nil {
		return loadBalancerWire{}, bad("%v", err)
	}
	if err := hookStagesValid(cfg); err != nil {
		return loadBalancerWire{}, bad("%v", err)
	}
	if len(lbs) != 1 {
		return loadBalancerWire{}, bad("the ECS emulator runs blue/green services with exactly one loadBalancers entry (an ALB target group with advancedConfiguration); got %d", len(lbs))
	}
	lb := lbs[0]
	ac := lb.AdvancedConfiguration
	switch {
	case lb.LoadBalancerName != "":
		return lb, bad("loadBalancers[0]: a Classic Load Balancer (loadBalancerName) cannot be combined with advancedConfiguration")
	case ac == nil:
		return lb, bad("loadBalancers[0].advancedConfiguration is required for strategy %s (alternateTargetGroupArn, productionListenerRule, testListenerRule, roleArn)", cfg.Strategy)
	case lb.TargetGroupArn == "" || ac.AlternateTargetGroupArn == "":
		return lb, bad("loadBalancers[0] needs targetGroupArn and advancedConfiguration.alternateTargetGroupArn")
	case lb.TargetGroupArn == ac.AlternateTargetGroupArn:
		return lb, bad("loadBalancers[0]: targetGroupArn and alternateTargetGroupArn must be different target groups")
	case ac.ProductionListenerRule == "":
		return lb, bad("loadBalancers[0].advancedConfiguration.productionListenerRule is required (a listener-rule ARN for an ALB)")
	case ac.ProductionListenerRule == ac.TestListenerRule:
		return lb, bad("loadBalancers[0].advancedConfiguration: productionListenerRule and testListenerRule must be different rules")
	case lb.ContainerName == "" || lb.ContainerPort == nil || *lb.ContainerPort <= 0:
		return lb, bad("loadBalancers[0] needs containerName and containerPort")
	}
	return lb, nil
}

func (e *Emulator) newRevisionLocked(s *service, td *taskDefinitionWire) *revision {
	id := revisionID()
	r := &revision{
		arn:       e.arn(s.account, s.region, "service-revision/"+s.cluster+"/"+s.name+"/"+id),
		id:        id,
		svc:       s,
		td:        td,
		createdAt: time.Now(),
	}
	s.revisions = append(s.revisions, r)
	e.revisions[r.arn] = r
	return r
}

func (e *Emulator) newDeploymentLocked(s *service, target *revision, prev *deployment, first bool) *deployment {
	id := deploymentID()
	now := time.Now()
	d := &deployment{
		arn:         e.arn(s.account, s.region, "service-deployment/"+s.cluster+"/"+s.name+"/"+id),
		id:          id,
		svc:         s,
		target:      target,
		cfg:         s.cfg,
		cfgRaw:      s.cfgRaw,
		first:       first,
		prev:        prev,
		createdAt:   now,
		updatedAt:   now,
		reached:     map[string]bool{},
		hookDetails: map[int]map[string]any{},
		done:        make(chan struct{}),
	}
	e.setStatusLocked(d, StatusPending, "")
	s.deployments = append(s.deployments, d)
	e.deployments[d.arn] = d
	return d
}

// createService registers a blue/green service and starts its first deployment.
func (e *Emulator) createService(s *service, lb loadBalancerWire, td *taskDefinitionWire) *deployment {
	e.mu.Lock()
	defer e.mu.Unlock()
	s.traffic = map[phaseKey]*PhaseTraffic{}
	s.kick = make(chan struct{}, 1)
	e.services[svcKey(s.cluster, s.name)] = s
	e.rules[s.prodRule] = s
	if s.testRule != "" {
		e.rules[s.testRule] = s
	}
	r := e.newRevisionLocked(s, td)
	d := e.newDeploymentLocked(s, r, nil, true)
	e.wg.Add(1)
	go e.schedulerLoop(s)
	e.startDeploymentLocked(d)
	e.log.Info("ecs emulator: service created", "cluster", s.cluster, "service", s.name, "service_deployment_arn", d.arn,
		"production_listener", s.prod.URL(), "test_listener", listenerURL(s))
	return d
}

func listenerURL(s *service) string {
	if s.test == nil {
		return ""
	}
	return s.test.URL()
}

// updateService applies an UpdateService to an emulated service. Only a new task definition
// or forceNewDeployment starts a deployment (reference §5.1); desiredCount alone scales.
func (e *Emulator) updateService(s *service, td *taskDefinitionWire, in updateServiceInput, cfg *deploymentConfiguration) (*deployment, *deployment) {
	e.mu.Lock()
	if cfg != nil {
		s.cfg, s.cfgRaw = *cfg, in.DeploymentConfiguration
	}
	if len(in.NetworkConfiguration) > 0 {
		s.netRaw = in.NetworkConfiguration
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		s.grace = e.scale(time.Duration(*in.HealthCheckGracePeriodSeconds) * time.Second)
	}
	active := e.activeDeploymentLocked(s)
	if in.DesiredCount != nil && *in.DesiredCount != s.desired {
		s.desired = *in.DesiredCount
		if active == nil {
			if live := e.liveRevisionLocked(s, nil); live != nil {
				live.desired = s.desired
			}
		} else {
			for _, r := range append([]*revision{active.target}, active.sources...) {
				if r.desired > 0 {
					r.desired = s.desired
				}
			}
		}
		e.kickLocked(s)
	}
	start := in.ForceNewDeployment || (td != nil && td.TaskDefinitionArn != s.taskDef)
	if !start {
		e.mu.Unlock()
		return nil, nil
	}
	if td == nil {
		td = e.currentTaskDefinitionLocked(s)
	}
	r := e.newRevisionLocked(s, td)
	var stopped *deployment
	d := e.newDeploymentLocked(s, r, active, false)
	if active != nil && (active.status == StatusPending || active.status == StatusInProgress) {
		// Reference §5.2: a new deployment moves the one in flight to STOP_REQUESTED, then
		// STOPPED; the new one starts with RECONCILE_SERVICE.
		if e.abortLocked(active, abort{kind: abortSuperseded, reason: fmt.Sprintf(reasonSuperseded, d.arn)}) {
			e.setStatusLocked(active, StatusStopRequested, "")
			stopped = active
		}
	}
	s.taskDef = td.TaskDefinitionArn
	e.startDeploymentLocked(d)
	e.mu.Unlock()
	if stopped != nil {
		e.emitStatus(stopped, StatusStopRequested)
	}
	e.emitStatus(d, StatusPending)
	return d, stopped
}

func (e *Emulator) currentTaskDefinitionLocked(s *service) *taskDefinitionWire {
	for i := len(s.revisions) - 1; i >= 0; i-- {
		if s.revisions[i].td.TaskDefinitionArn == s.taskDef {
			return s.revisions[i].td
		}
	}
	return s.revisions[len(s.revisions)-1].td
}

// stopDeployment is StopServiceDeployment (reference §3): ROLLBACK on a PENDING or
// IN_PROGRESS deployment moves it to ROLLBACK_REQUESTED; on one already stopping or rolling
// back it is a no-op; a finished one cannot be stopped.
func (e *Emulator) stopDeployment(d *deployment) error {
	e.mu.Lock()
	switch d.status {
	case StatusStopRequested, StatusRollbackRequested, StatusRollbackInProgress:
		e.mu.Unlock()
		return nil
	case StatusPending, StatusInProgress:
		if !e.abortLocked(d, abort{kind: abortManual, reason: reasonManual, rollback: true}) {
			stage := d.stage
			e.mu.Unlock()
			return &apiError{typ: "ConflictException", msg: fmt.Sprintf("service deployment %s is in %s and can no longer be rolled back", d.arn, stage)}
		}
		e.setStatusLocked(d, StatusRollbackRequested, reasonManual)
		e.mu.Unlock()
		e.emitStatus(d, StatusRollbackRequested)
		return nil
	}
	status := d.status
	e.mu.Unlock()
	return &apiError{typ: "ConflictException", msg: fmt.Sprintf("service deployment %s is already %s", d.arn, status)}
}

// --- JSON views (call with e.mu held)

func cfgOut(raw json.RawMessage) json.RawMessage {
	m := map[string]any{}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m)
	}
	if _, ok := m["maximumPercent"]; !ok {
		m["maximumPercent"] = 200
	}
	if _, ok := m["minimumHealthyPercent"]; !ok {
		m["minimumHealthyPercent"] = 100
	}
	if _, ok := m["deploymentCircuitBreaker"]; !ok {
		m["deploymentCircuitBreaker"] = map[string]bool{"enable": false, "rollback": false}
	}
	b, _ := json.Marshal(m)
	return b
}

func (e *Emulator) countTasksLocked(r *revision) (running, pending, failed int) {
	for _, t := range r.svc.tasks {
		if t.rev != r {
			continue
		}
		switch {
		case t.lastStatus == "RUNNING" && t.desiredStatus == "RUNNING":
			running++
		case t.lastStatus == "PROVISIONING" || t.lastStatus == "PENDING":
			pending++
		}
		if t.failureCounted {
			failed++
		}
	}
	return
}

// primaryRevisionLocked is the revision DescribeServices shows as PRIMARY.
func (e *Emulator) primaryRevisionLocked(s *service) (*revision, *deployment) {
	d := s.deployments[len(s.deployments)-1]
	switch d.status {
	case StatusRollbackInProgress, StatusRollbackSuccessful, StatusRollbackFailed:
		if len(d.sources) > 0 {
			return d.sources[0], d
		}
	}
	return d.target, d
}

func (e *Emulator) legacyDeploymentsLocked(s *service) []deploymentWire {
	primary, d := e.primaryRevisionLocked(s)
	state := "IN_PROGRESS"
	switch d.status {
	case StatusSuccessful, StatusRollbackSuccessful:
		state = "COMPLETED"
	case StatusRollbackFailed, StatusStopped:
		state = "FAILED"
	}
	mk := func(r *revision, status string) deploymentWire {
		running, pending, failed := e.countTasksLocked(r)
		w := deploymentWire{
			ID: "ecs-svc/" + r.id, Status: status, TaskDefinition: r.td.TaskDefinitionArn,
			DesiredCount: r.desired, RunningCount: running, PendingCount: pending, FailedTasks: failed,
			CreatedAt: ts(r.createdAt), UpdatedAt: ts(d.updatedAt), LaunchType: s.launchType,
			NetworkConfiguration: s.netRaw,
		}
		if status == "PRIMARY" {
			w.RolloutState = state
			if d.statusReason != "" {
				w.RolloutStateReason = d.statusReason
			}
		}
		return w
	}
	out := []deploymentWire{mk(primary, "PRIMARY")}
	for i := len(s.revisions) - 1; i >= 0; i-- {
		r := s.revisions[i]
		if r != primary && (r.desired > 0 || e.liveTasksLocked(r) > 0) {
			out = append(out, mk(r, "ACTIVE"))
		}
	}
	return out
}

// serviceOut is moto's service object (base, may be nil) with what moto drops or gets
// wrong replaced by the emulator's record.
func (e *Emulator) serviceOut(base map[string]any, s *service) map[string]any {
	m := map[string]any{}
	for k, v := range base {
		m[k] = v
	}
	running, pending := 0, 0
	for _, r := range s.revisions {
		rr, pp, _ := e.countTasksLocked(r)
		running += rr
		pending += pp
	}
	m["serviceArn"] = s.arn
	m["serviceName"] = s.name
	m["clusterArn"] = s.clusterArn
	m["status"] = "ACTIVE"
	m["desiredCount"] = s.desired
	m["runningCount"] = running
	m["pendingCount"] = pending
	m["taskDefinition"] = s.taskDef
	if s.launchType != "" {
		m["launchType"] = s.launchType
	}
	if _, ok := m["createdAt"]; !ok {
		m["createdAt"] = ts(s.createdAt)
	}
	if _, ok := m["schedulingStrategy"]; !ok {
		m["schedulingStrategy"] = "REPLICA"
	}
	m["deploymentController"] = json.RawMessage(`{"type":"ECS"}`)
	if len(s.controllerRaw) > 0 {
		m["deploymentController"] = s.controllerRaw
	}
	m["deploymentConfiguration"] = cfgOut(s.cfgRaw)
	m["loadBalancers"] = s.lbsRaw
	if len(s.netRaw) > 0 {
		m["networkConfiguration"] = s.netRaw
	}
	if s.grace > 0 {
		m["healthCheckGracePeriodSeconds"] = int(e.emulated(s.grace) / time.Second)
	}
	m["deployments"] = e.legacyDeploymentsLocked(s)
	m["currentServiceDeployment"] = s.deployments[len(s.deployments)-1].arn
	if _, ok := m["events"]; !ok {
		m["events"] = []any{}
	}
	return m
}

func weight(v float64) *float64 { return &v }

func (e *Emulator) summaryLocked(r *revision, test, prod float64) serviceRevisionSummary {
	running, pending, _ := e.countTasksLocked(r)
	return serviceRevisionSummary{
		Arn: r.arn, RequestedTaskCount: r.desired, RunningTaskCount: running, PendingTaskCount: pending,
		RequestedTestTrafficWeight: weight(test), RequestedProductionTrafficWeight: weight(prod),
	}
}

func (e *Emulator) deploymentOutLocked(d *deployment) serviceDeploymentWire {
	s := d.svc
	greenTest, greenProd := 0.0, 0.0
	if d.testWeightGreen != nil {
		greenTest = *d.testWeightGreen
	}
	if d.prodWeightGreen != nil {
		greenProd = *d.prodWeightGreen
	}
	if len(d.sources) == 0 && d.first && e.opts.Choices.FirstDeployment == FirstDeploymentDirect {
		greenTest, greenProd = 100, 100
	}
	target := e.summaryLocked(d.target, greenTest, greenProd)
	w := serviceDeploymentWire{
		ServiceDeploymentArn:    d.arn,
		ServiceArn:              s.arn,
		ClusterArn:              s.clusterArn,
		CreatedAt:               ts(d.createdAt),
		StartedAt:               ts(d.startedAt),
		FinishedAt:              ts(d.finishedAt),
		StoppedAt:               ts(d.stoppedAt),
		UpdatedAt:               ts(d.updatedAt),
		SourceServiceRevisions:  []serviceRevisionSummary{},
		TargetServiceRevision:   &target,
		Status:                  d.status,
		StatusReason:            d.statusReason,
		LifecycleStage:          d.stage,
		DeploymentConfiguration: cfgOut(d.cfgRaw),
		Rollback:                d.rollback,
	}
	for _, src := range d.sources {
		w.SourceServiceRevisions = append(w.SourceServiceRevisions, e.summaryLocked(src, 100-greenTest, 100-greenProd))
	}
	for _, x := range d.hooks {
		w.LifecycleHookDetails = append(w.LifecycleHookDetails, hookDetailWire{
			HookID: x.hookID, TargetType: x.targetType, TargetArn: x.targetArn, Status: x.status,
			ExpiresAt: ts(x.expiresAt), TimeoutAction: x.timeoutAction,
		})
	}
	cb := circuitBreakerStatus{FailureCount: d.cbFailures, Status: d.cbStatus, Threshold: d.cbThreshold}
	if cb.Status == "" {
		cb.Status = "DISABLED"
	}
	w.DeploymentCircuitBreaker = &cb
	if len(d.alarmNames) > 0 {
		st := d.alarmStatus
		if st == "" {
			st = "DISABLED"
		}
		w.Alarms = &deploymentAlarmsStatus{AlarmNames: d.alarmNames, Status: st, TriggeredAlarmNames: append([]string{}, d.triggeredAlarms...)}
	}
	return w
}

func briefOut(w serviceDeploymentWire) serviceDeploymentBrief {
	return serviceDeploymentBrief{
		ServiceDeploymentArn: w.ServiceDeploymentArn, ServiceArn: w.ServiceArn, ClusterArn: w.ClusterArn,
		StartedAt: w.StartedAt, CreatedAt: w.CreatedAt, FinishedAt: w.FinishedAt,
		TargetServiceRevisionArn: w.TargetServiceRevision.Arn, Status: w.Status, StatusReason: w.StatusReason,
	}
}

// imageDigest is the digest an image reference pins (repo@sha256:…), or "".
func imageDigest(image string) string {
	if _, d, ok := strings.Cut(image, "@"); ok {
		return d
	}
	return ""
}

func (e *Emulator) revisionOutLocked(r *revision) serviceRevisionWire {
	s := r.svc
	w := serviceRevisionWire{
		ServiceRevisionArn:   r.arn,
		ServiceArn:           s.arn,
		ClusterArn:           s.clusterArn,
		TaskDefinition:       r.td.TaskDefinitionArn,
		LaunchType:           s.launchType,
		PlatformVersion:      s.platform,
		LoadBalancers:        s.lbsRaw,
		NetworkConfiguration: s.netRaw,
		CreatedAt:            ts(r.createdAt),
	}
	if s.launchType == "FARGATE" {
		w.PlatformFamily = "Linux"
	}
	for _, c := range r.td.ContainerDefinitions {
		w.ContainerImages = append(w.ContainerImages, containerImageWire{ContainerName: c.Name, Image: c.Image, ImageDigest: imageDigest(c.Image)})
	}
	if r.tg != "" {
		w.ResolvedConfiguration = &struct {
			LoadBalancers []revisionLoadBalancerWire `json:"loadBalancers,omitempty"`
		}{LoadBalancers: []revisionLoadBalancerWire{{TargetGroupArn: r.tg, ProductionListenerRule: s.prodRule}}}
	}
	return w
}

func (e *Emulator) taskOutLocked(t *task) taskWire {
	s := t.rev.svc
	td := t.rev.td
	attachStatus := "ATTACHED"
	switch t.lastStatus {
	case "PROVISIONING":
		attachStatus = "PRECREATED"
	case "STOPPED":
		attachStatus = "DELETED"
	}
	w := taskWire{
		TaskArn: t.arn, ClusterArn: s.clusterArn, TaskDefinitionArn: td.TaskDefinitionArn,
		Group: "service:" + s.name, StartedBy: "ecs-svc/" + t.rev.id,
		LastStatus: t.lastStatus, DesiredStatus: t.desiredStatus, LaunchType: s.launchType,
		PlatformVersion: s.platform, AvailabilityZone: s.region + "a",
		Cpu: td.Cpu, Memory: td.Memory, CreatedAt: ts(t.createdAt),
		StartedAt: ts(t.startedAt), StoppingAt: ts(t.stoppingAt), StoppedAt: ts(t.stoppedAt),
		StoppedReason: t.stoppedReason, StopCode: t.stopCode, HealthStatus: "UNKNOWN", Version: t.version,
		PullStartedAt: ts(t.createdAt), PullStoppedAt: ts(t.startedAt),
	}
	if s.launchType == "FARGATE" {
		w.PlatformFamily = "Linux"
	}
	if !t.startedAt.IsZero() {
		w.Connectivity, w.ConnectivityAt = "CONNECTED", ts(t.startedAt)
	}
	details := []keyValue{{"subnetId", s.subnet}, {"networkInterfaceId", t.eni}, {"macAddress", t.mac}}
	if t.ip != "" {
		details = append(details,
			keyValue{"privateDnsName", "ip-" + strings.ReplaceAll(t.ip, ".", "-") + ".ec2.internal"},
			keyValue{"privateIPv4Address", t.ip})
	}
	w.Attachments = []attachmentWire{{ID: t.attach, Type: "ElasticNetworkInterface", Status: attachStatus, Details: details}}
	c := containerWire{ContainerArn: t.containerArn, TaskArn: t.arn, Name: s.containerName, RuntimeID: t.runtimeID,
		LastStatus: t.lastStatus, ExitCode: t.exitCode, Reason: t.reason, HealthStatus: "UNKNOWN", NetworkInterfaces: []networkInterfaceWire{}}
	if t.lastStatus == "DEACTIVATING" || t.lastStatus == "STOPPING" {
		c.LastStatus = "RUNNING"
	}
	for _, cd := range td.ContainerDefinitions {
		if cd.Name == s.containerName || c.Name == "" {
			c.Name, c.Image, c.ImageDigest = cd.Name, cd.Image, imageDigest(cd.Image)
			break
		}
	}
	if t.ip != "" {
		c.NetworkInterfaces = []networkInterfaceWire{{AttachmentID: t.attach, PrivateIpv4Address: t.ip}}
	}
	w.Containers = []containerWire{c}
	return w
}
