package ecsemu

import (
	"context"
	"encoding/json"
	"os/exec"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu/alb"
)

// Lifecycle stages, in ECS's order (reference §2.5). PRE_PRODUCTION_TRAFFIC_SHIFT is
// hookable and reported although the SDK's reported-stage enum lacks it (reference §3).
const (
	StageReconcileService           = "RECONCILE_SERVICE"
	StagePreScaleUp                 = "PRE_SCALE_UP"
	StageScaleUp                    = "SCALE_UP"
	StagePostScaleUp                = "POST_SCALE_UP"
	StageTestTrafficShift           = "TEST_TRAFFIC_SHIFT"
	StagePostTestTrafficShift       = "POST_TEST_TRAFFIC_SHIFT"
	StagePreProductionTrafficShift  = "PRE_PRODUCTION_TRAFFIC_SHIFT"
	StageProductionTrafficShift     = "PRODUCTION_TRAFFIC_SHIFT"
	StagePostProductionTrafficShift = "POST_PRODUCTION_TRAFFIC_SHIFT"
	StageBakeTime                   = "BAKE_TIME"
	StageCleanUp                    = "CLEAN_UP"
)

var stageOrder = []string{
	StageReconcileService, StagePreScaleUp, StageScaleUp, StagePostScaleUp,
	StageTestTrafficShift, StagePostTestTrafficShift, StagePreProductionTrafficShift,
	StageProductionTrafficShift, StagePostProductionTrafficShift, StageBakeTime, StageCleanUp,
}

func stageIndex(s string) int {
	for i, v := range stageOrder {
		if v == s {
			return i
		}
	}
	return -1
}

// hookable reports whether hooks may be attached to a stage (reference §1.2).
func hookable(s string) bool {
	switch s {
	case StageScaleUp, StageBakeTime, StageCleanUp:
		return false
	}
	return stageIndex(s) >= 0
}

// Service deployment statuses (reference §3).
const (
	StatusPending            = "PENDING"
	StatusInProgress         = "IN_PROGRESS"
	StatusSuccessful         = "SUCCESSFUL"
	StatusStopRequested      = "STOP_REQUESTED"
	StatusStopped            = "STOPPED"
	StatusRollbackRequested  = "ROLLBACK_REQUESTED"
	StatusRollbackInProgress = "ROLLBACK_IN_PROGRESS"
	StatusRollbackSuccessful = "ROLLBACK_SUCCESSFUL"
	StatusRollbackFailed     = "ROLLBACK_FAILED"
)

func terminal(status string) bool {
	switch status {
	case StatusSuccessful, StatusStopped, StatusRollbackSuccessful, StatusRollbackFailed:
		return true
	}
	return false
}

// Status reasons. ECS's exact wording is not documented everywhere; these follow the
// examples the reference quotes (§2.2, §3, §4.2) so that explain code can match on them.
const (
	reasonHookFailed      = "Service deployment rolled back because %s lifecycle hook(s) failed. hook execution failure(s) detected: %s"
	reasonHookUnparsable  = "Service deployment rolled back because %s lifecycle hook(s) failed. ECS was unable to parse the response from %s: HookStatus must not be null"
	reasonHookTimedOut    = "Service deployment rolled back because %s lifecycle hook(s) timed out: %s"
	reasonHookRollback    = "Service deployment rolled back because %s pause hook %s was continued with action ROLLBACK."
	reasonCircuitBreaker  = "ECS deployment circuit breaker: tasks failed to start."
	reasonAlarm           = "Service deployment rolled back because alarm(s) detected: %s in ALARM state."
	reasonAlarmNoRollback = "Service deployment failed because alarm(s) detected: %s in ALARM state (rollback is not configured)."
	reasonCBNoRollback    = "ECS deployment circuit breaker: tasks failed to start. (rollback is not configured)"
	reasonManual          = "Service deployment rolled back because of a StopServiceDeployment request with stop type ROLLBACK."
	reasonSuperseded      = "Service deployment stopped because a newer service deployment %s started."
	reasonNoRollbackTo    = " Rollback failed: there is no earlier service revision in a completed deployment to roll back to."
	reasonRollbackHook    = " Rollback hook(s) failed: %s"
	reasonCompleted       = "Service deployment completed successfully."
	reasonRolledBack      = "Service deployment rolled back to %s."

	stoppedEssentialExited = "Essential container in task exited"
	stoppedELBHealth       = "Task failed ELB health checks in (target-group %s)"
	stoppedScaling         = "Scaling activity initiated by (deployment %s)"
	stoppedByUser          = "Task stopped by user"
	stoppedCannotStart     = "CannotStartContainerError: %s"
	stoppedCannotPull      = "CannotPullContainerError: %s"

	stopCodeEssentialExited = "EssentialContainerExited"
	stopCodeFailedToStart   = "TaskFailedToStart"
	stopCodeScheduler       = "ServiceSchedulerInitiated"
	stopCodeUser            = "UserInitiated"
)

// service is one emulated ECS service.
type service struct {
	cluster, name string
	arn           string
	clusterArn    string
	account       string
	region        string
	launchType    string
	platform      string
	desired       int
	grace         time.Duration // healthCheckGracePeriodSeconds, scaled
	taskDef       string        // the service's taskDefinition ARN
	createdAt     time.Time

	cfg           deploymentConfiguration
	cfgRaw        json.RawMessage
	controllerRaw json.RawMessage
	lbsRaw        json.RawMessage
	netRaw        json.RawMessage
	subnet        string

	// Load balancing (one loadBalancers entry with advancedConfiguration).
	containerName string
	containerPort int
	prodRule      string
	testRule      string
	tgs           [2]string // targetGroupArn, alternateTargetGroupArn
	balancer      *alb.LoadBalancer
	prod, test    *alb.Listener
	drainDelay    time.Duration

	revisions   []*revision
	deployments []*deployment
	tasks       []*task

	traffic map[phaseKey]*PhaseTraffic
	kick    chan struct{}
}

// revision is one service revision.
type revision struct {
	arn, id   string
	svc       *service
	td        *taskDefinitionWire
	tg        string // the target group its tasks register in
	desired   int
	createdAt time.Time
	// failures counts consecutive task failures (launch back-off).
	failures  int
	nextStart time.Time
}

// deployment is one service deployment and its lifecycle.
type deployment struct {
	arn, id   string
	svc       *service
	target    *revision
	sources   []*revision
	cfg       deploymentConfiguration
	cfgRaw    json.RawMessage
	first     bool // started by CreateService
	reconcile bool // starts with RECONCILE_SERVICE
	prev      *deployment

	status, statusReason, stage string
	createdAt, startedAt        time.Time
	updatedAt, finishedAt       time.Time
	stoppedAt                   time.Time
	rollback                    *rollbackWire
	rollbackStarted             time.Time

	alarmNames      []string
	alarmStatus     string
	alarmsIgnored   bool
	triggeredAlarms []string
	cbEnabled       bool
	cbRollback      bool
	cbStatus        string
	cbFailures      int
	cbThreshold     int
	reached         map[string]bool
	hooks           []*hookExec
	hookDetails     map[int]map[string]any // per hook index, merged IN_PROGRESS details
	invocations     []HookInvocation
	stages          []StageRecord
	statuses        []StatusRecord
	testWeightGreen *float64
	prodWeightGreen *float64
	abortReason     *abort
	ctx             context.Context
	cancel          context.CancelFunc
	done            chan struct{}
}

type abortKind int

const (
	abortHook abortKind = iota
	abortAlarm
	abortCircuitBreaker
	abortManual
	abortSuperseded
)

type abort struct {
	kind     abortKind
	reason   string
	rollback bool
}

// hookExec is one hook execution: one hook at one stage (re-invocations included).
type hookExec struct {
	hookID, executionID string
	index               int
	stage               string
	targetType          string
	targetArn           string
	status              string
	expiresAt           time.Time
	timeoutAction       string
	rollback            bool
	cont                chan string // PAUSE hooks: ContinueServiceDeployment action
}

// task is one emulated task: a local process on its own loopback address.
type task struct {
	arn, id        string
	rev            *revision
	ip             string
	port           int
	lastStatus     string
	desiredStatus  string
	createdAt      time.Time
	startedAt      time.Time
	stoppingAt     time.Time
	stoppedAt      time.Time
	stoppedReason  string
	stopCode       string
	exitCode       *int
	reason         string
	eni, attach    string
	mac            string
	containerArn   string
	runtimeID      string
	logPath        string
	version        int64
	healthy        bool
	intentional    bool
	failureCounted bool
	cmd            *exec.Cmd
	exited         chan struct{}
}

func (t *task) live() bool { return t.lastStatus != "STOPPED" }

type phaseKey struct {
	deployment, stage, listener string
	rollback                    bool
}
