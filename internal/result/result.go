package result

import (
	"fmt"
	"strings"
	"time"
)

// Version is the schema version carried in every Result.
const Version = 1

// Outcome is the one-word verdict for a target deployment.
type Outcome string

// The outcomes, as published.
const (
	Succeeded  Outcome = "SUCCEEDED"   // ECS reported the deployment SUCCESSFUL
	RolledBack Outcome = "ROLLED_BACK" // the deployment was rolled back; blue serves again
	Failed     Outcome = "FAILED"      // it did not complete and was not cleanly rolled back, or greenlight failed
	Skipped    Outcome = "SKIPPED"     // nothing was deployed on purpose (no route, duplicate, already running)
	Superseded Outcome = "SUPERSEDED"  // a newer push for the same service replaced it while it waited
	Blocked    Outcome = "BLOCKED"     // preflight refused to deploy (a route alarm was already firing)
	Regressed  Outcome = "REGRESSED"   // follow-up: an alarm fired in the post-deploy watch window
)

// Outcomes lists every outcome in display order.
var Outcomes = []Outcome{Succeeded, RolledBack, Failed, Skipped, Superseded, Blocked, Regressed}

// Valid reports whether o is one of the published outcomes.
func (o Outcome) Valid() bool {
	for _, v := range Outcomes {
		if o == v {
			return true
		}
	}
	return false
}

// ReasonKind classifies why a deployment did not simply succeed.
type ReasonKind string

// Reason kinds. Chat, metrics and the CLI group by these; add, never rename.
const (
	KindSmokeTestFailed    ReasonKind = "SMOKE_TEST_FAILED"     // the lifecycle hook's checks failed
	KindHookFailed         ReasonKind = "HOOK_FAILED"           // a lifecycle hook failed without greenlight evidence (another hook, or an unreadable response)
	KindHookTimeout        ReasonKind = "HOOK_TIMEOUT"          // a lifecycle hook timed out
	KindAlarm              ReasonKind = "ALARM"                 // a route or deployment alarm fired during the deployment
	KindAlarmAlreadyFiring ReasonKind = "ALARM_ALREADY_FIRING"  // preflight: an alarm was in ALARM before the deployment
	KindCircuitBreaker     ReasonKind = "CIRCUIT_BREAKER"       // ECS's deployment circuit breaker tripped
	KindTasksFailedToStart ReasonKind = "TASKS_FAILED_TO_START" // green tasks stopped (crash, image pull, health checks)
	KindManual             ReasonKind = "MANUAL"                // someone stopped or rolled back the deployment by hand
	KindDeadline           ReasonKind = "DEADLINE"              // the route's deadline passed before ECS finished
	KindSuperseded         ReasonKind = "SUPERSEDED"            // a newer push replaced this one
	KindNoRoute            ReasonKind = "NO_ROUTE"              // no route matches the repository and tag
	KindDuplicate          ReasonKind = "DUPLICATE"             // this digest was already deployed (or is deploying) to this service
	KindAlreadyRunning     ReasonKind = "ALREADY_RUNNING"       // the service already runs this digest
	KindConfig             ReasonKind = "CONFIG"                // the route, service or task definition cannot be deployed as configured
	KindRegression         ReasonKind = "REGRESSION"            // post-deploy alarm (REGRESSED follow-up)
	KindError              ReasonKind = "ERROR"                 // greenlight itself failed; details name the step
	KindUnknown            ReasonKind = "UNKNOWN"               // ECS gave no recognisable reason
)

// Image identifies a container image. Deployments always pin Digest.
type Image struct {
	Repository string `json:"repository"`
	Tag        string `json:"tag,omitempty"`
	Digest     string `json:"digest,omitempty"`
	// URI is what the task definition references: <registry>/<repo>@<digest>.
	URI string `json:"uri,omitempty"`
}

// ShortDigest is the first 12 hex digits of the digest ("sha256:" dropped), or "" if none.
func (i Image) ShortDigest() string { return ShortDigest(i.Digest) }

// ShortDigest shortens "sha256:7f5b2640fe6f…" to "7f5b2640fe6f".
func ShortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// String renders "repo:tag@7f5b2640fe6f" with the parts that are known.
func (i Image) String() string {
	s := i.Repository
	if i.Tag != "" {
		s += ":" + i.Tag
	}
	if i.Digest != "" {
		s += "@" + i.ShortDigest()
	}
	return s
}

// Stage is one ECS lifecycle stage as greenlight observed it.
type Stage struct {
	Name      string    `json:"name"`
	EnteredAt time.Time `json:"enteredAt"`
	// Seconds spent in the stage; 0 while it is the current one.
	Seconds float64 `json:"seconds,omitempty"`
}

// Trigger says what started the deployment.
type Trigger struct {
	// Source is "ecr-push", "cli", "reconcile" or "regression-rollback".
	Source      string    `json:"source"`
	EventID     string    `json:"eventId,omitempty"`
	PushedAt    time.Time `json:"pushedAt,omitempty"`
	RequestedBy string    `json:"requestedBy,omitempty"`
}

// Links are console URLs for a person to follow.
type Links struct {
	ServiceDeployment string `json:"serviceDeployment,omitempty"`
	Execution         string `json:"execution,omitempty"`
	Service           string `json:"service,omitempty"`
}

// Result is the message published once per target deployment.
type Result struct {
	Version int `json:"version"`
	// ID is unique per target deployment and stable across retries: the dedupe key for chat.
	ID      string  `json:"id"`
	Outcome Outcome `json:"outcome"`
	// FollowUpOf is set on REGRESSED: the ID of the SUCCEEDED result it follows.
	FollowUpOf string `json:"followUpOf,omitempty"`

	Route       string `json:"route,omitempty"`
	Environment string `json:"environment,omitempty"`
	Account     string `json:"account,omitempty"`
	Region      string `json:"region,omitempty"`
	Cluster     string `json:"cluster,omitempty"`
	Service     string `json:"service,omitempty"`
	Container   string `json:"container,omitempty"`
	Strategy    string `json:"strategy,omitempty"` // BLUE_GREEN, LINEAR, CANARY (from the service)

	Image                     Image  `json:"image"`
	PreviousImage             *Image `json:"previousImage,omitempty"`
	TaskDefinitionARN         string `json:"taskDefinitionArn,omitempty"`
	PreviousTaskDefinitionARN string `json:"previousTaskDefinitionArn,omitempty"`
	ServiceDeploymentARN      string `json:"serviceDeploymentArn,omitempty"`
	ExecutionARN              string `json:"executionArn,omitempty"`

	Trigger    Trigger   `json:"trigger"`
	StartedAt  time.Time `json:"startedAt"`
	FinishedAt time.Time `json:"finishedAt"`
	// DurationSeconds is FinishedAt-StartedAt.
	DurationSeconds float64 `json:"durationSeconds"`

	Stages []Stage `json:"stages,omitempty"`
	// StageReached is the last lifecycle stage ECS reported.
	StageReached string `json:"stageReached,omitempty"`
	// ECSStatus and ECSStatusReason are the service deployment's own words, kept verbatim.
	ECSStatus       string `json:"ecsStatus,omitempty"`
	ECSStatusReason string `json:"ecsStatusReason,omitempty"`

	// Reason is set for every outcome but SUCCEEDED.
	Reason *Reason `json:"reason,omitempty"`
	// Warnings are things a person should know even on success (deployed while an alarm
	// was firing because the route says warn; drift from the last recorded deployment …).
	Warnings []string `json:"warnings,omitempty"`
	Links    Links    `json:"links"`
}

// Reason explains a non-success outcome. Summary is one line, in words, with numbers:
// "GET /health on 10.0.1.23:8080 returned 500 'FAIL' in 12 ms".
type Reason struct {
	Kind     ReasonKind `json:"kind"`
	Summary  string     `json:"summary"`
	Details  []string   `json:"details,omitempty"`
	Evidence *Evidence  `json:"evidence,omitempty"`
}

// Evidence is what the reason was concluded from.
type Evidence struct {
	SmokeChecks       []CheckEvidence `json:"smokeChecks,omitempty"`
	Alarms            []AlarmEvidence `json:"alarms,omitempty"`
	StoppedTasks      []StoppedTask   `json:"stoppedTasks,omitempty"`
	CircuitBreaker    *CircuitBreaker `json:"circuitBreaker,omitempty"`
	Hooks             []HookExecution `json:"hooks,omitempty"`
	ECSRollbackReason string          `json:"ecsRollbackReason,omitempty"`
	Error             *ErrorEvidence  `json:"error,omitempty"`
}

// MaxBodyExcerpt is the most of a response body kept as evidence.
const MaxBodyExcerpt = 512

// CheckEvidence is one smoke check against one green task (or the test listener).
type CheckEvidence struct {
	Stage   string `json:"stage"`          // POST_SCALE_UP, POST_TEST_TRAFFIC_SHIFT
	Task    string `json:"task,omitempty"` // task ID
	Address string `json:"address"`        // 10.0.1.23:8080, or the test listener host
	Check   string `json:"check"`          // the check's name
	Method  string `json:"method"`
	Path    string `json:"path"`
	Passed  bool   `json:"passed"`
	Status  int    `json:"status,omitempty"` // HTTP status; 0 when no response
	// LatencyMs is the time to the full (capped) response.
	LatencyMs   int64  `json:"latencyMs"`
	BodyExcerpt string `json:"bodyExcerpt,omitempty"` // at most MaxBodyExcerpt bytes
	// Failure says why it did not pass, in words ("status 500, want 200").
	Failure string    `json:"failure,omitempty"`
	At      time.Time `json:"at"`
}

// Summary renders "GET /health on 10.0.1.23:8080 returned 500 'FAIL' in 12 ms".
func (c CheckEvidence) Summary() string {
	s := fmt.Sprintf("%s %s on %s", c.Method, c.Path, c.Address)
	switch {
	case c.Status != 0:
		s += fmt.Sprintf(" returned %d", c.Status)
		if b := oneLine(c.BodyExcerpt, 60); b != "" {
			s += fmt.Sprintf(" '%s'", b)
		}
		s += fmt.Sprintf(" in %d ms", c.LatencyMs)
		if c.Failure != "" && !c.Passed {
			s += " (" + c.Failure + ")"
		}
	case c.Failure != "":
		s += ": " + c.Failure
	}
	return s
}

// AlarmEvidence is a CloudWatch alarm and what it saw over the deployment window.
type AlarmEvidence struct {
	Name        string    `json:"name"`
	State       string    `json:"state"` // OK, ALARM, INSUFFICIENT_DATA
	StateReason string    `json:"stateReason,omitempty"`
	StateSince  time.Time `json:"stateSince,omitempty"`
	// Metric describes what is compared, e.g. "5xx rate %" or "HTTPCode_Target_5XX_Count Sum".
	Metric            string      `json:"metric,omitempty"`
	Comparison        string      `json:"comparison,omitempty"` // GreaterThanThreshold …
	Threshold         float64     `json:"threshold"`
	PeriodSeconds     int32       `json:"periodSeconds,omitempty"`
	EvaluationPeriods int32       `json:"evaluationPeriods,omitempty"`
	DatapointsToAlarm int32       `json:"datapointsToAlarm,omitempty"`
	Datapoints        []Datapoint `json:"datapoints,omitempty"`
	// Breaching counts datapoints past the threshold among the last EvaluationPeriods.
	Breaching int `json:"breaching,omitempty"`
	// Stage is the ECS lifecycle stage when greenlight saw the alarm fire.
	Stage string `json:"stage,omitempty"`
}

// Summary renders the alarm in one line with its numbers:
// "web-5xx-rate: 5xx rate % 48 > 5 for 2 of 3 datapoints (60 s) during BAKE_TIME".
func (a AlarmEvidence) Summary() string {
	metric := a.Metric
	if metric == "" {
		metric = "value"
	}
	s := a.Name + ": " + metric
	if len(a.Datapoints) > 0 {
		s += " " + formatNumber(a.Datapoints[len(a.Datapoints)-1].Value)
	}
	s += " " + comparisonSymbol(a.Comparison) + " " + formatNumber(a.Threshold)
	if a.EvaluationPeriods > 0 {
		s += fmt.Sprintf(" for %d of %d datapoints", a.Breaching, a.EvaluationPeriods)
		if a.PeriodSeconds > 0 {
			s += fmt.Sprintf(" (%d s)", a.PeriodSeconds)
		}
	}
	if a.Stage != "" {
		s += " during " + a.Stage
	}
	return s
}

func comparisonSymbol(c string) string {
	switch c {
	case "GreaterThanThreshold":
		return ">"
	case "GreaterThanOrEqualToThreshold":
		return ">="
	case "LessThanThreshold":
		return "<"
	case "LessThanOrEqualToThreshold":
		return "<="
	case "":
		return "vs"
	}
	return c
}

func formatNumber(f float64) string {
	if f == float64(int64(f)) {
		return fmt.Sprintf("%d", int64(f))
	}
	return fmt.Sprintf("%.3g", f)
}

// Datapoint is one metric value.
type Datapoint struct {
	At    time.Time `json:"at"`
	Value float64   `json:"value"`
}

// StoppedTask is a green task that stopped during the deployment.
type StoppedTask struct {
	TaskARN       string          `json:"taskArn"`
	StoppedReason string          `json:"stoppedReason,omitempty"`
	StopCode      string          `json:"stopCode,omitempty"`
	StoppedAt     time.Time       `json:"stoppedAt,omitempty"`
	Containers    []ContainerExit `json:"containers,omitempty"`
}

// ContainerExit is one container's end.
type ContainerExit struct {
	Name     string `json:"name"`
	ExitCode *int32 `json:"exitCode,omitempty"`
	Reason   string `json:"reason,omitempty"`
}

// CircuitBreaker is ECS's failed-task count for the deployment.
type CircuitBreaker struct {
	Status       string `json:"status,omitempty"`
	FailureCount int32  `json:"failureCount"`
	Threshold    int32  `json:"threshold"`
}

// HookExecution is one lifecycle hook run as ECS reports it.
type HookExecution struct {
	Stage     string `json:"stage,omitempty"`
	TargetARN string `json:"targetArn,omitempty"`
	Status    string `json:"status"` // SUCCEEDED, FAILED, TIMED_OUT, IN_PROGRESS …
}

// ErrorEvidence is greenlight's own failure: which step, which named error, what it said.
type ErrorEvidence struct {
	Step    string `json:"step,omitempty"`
	Name    string `json:"name"`
	Message string `json:"message"`
}

func oneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
