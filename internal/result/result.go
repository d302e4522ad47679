package result

import (
	"fmt"
	"math"
	"regexp"
	"strconv"
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
	// Source is one of workflow.Source* ("ecr-push", "cli", "rollback", "reconcile", "regression-rollback").
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
	// ProductionPercent is the largest share of production traffic (percent) the new
	// revision was given, as ECS reported it: 0 when it never reached production, the
	// canary's or a linear step's share when a LINEAR or CANARY deployment stopped midway,
	// 100 once production moved. Absent when ECS never reported it.
	ProductionPercent *float64 `json:"productionPercent,omitempty"`
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

// Attributes are the result's filterable attributes, as the SNS topics carry them for
// subscription filter policies: outcome, cluster, service, route, environment and
// reasonKind. Empty values are left out (SNS rejects them).
func (r Result) Attributes() map[string]string {
	attrs := map[string]string{}
	add := func(k, v string) {
		if v != "" {
			attrs[k] = v
		}
	}
	add("outcome", string(r.Outcome))
	add("cluster", r.Cluster)
	add("service", r.Service)
	add("route", r.Route)
	add("environment", r.Environment)
	if r.Reason != nil {
		add("reasonKind", string(r.Reason.Kind))
	}
	return attrs
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
// "web-5xx-rate: 5xx rate 48% (threshold 5%) for 2 of 3 minutes during BAKE_TIME".
//
// The value shown is the worst breaching datapoint among the EvaluationPeriods datapoints
// that led to StateSince (the last ones when none precede it). Values are percentages when
// the metric is a rate or percentage; the window is in minutes when the period is a
// multiple of 60 s, otherwise in seconds. Without a stage, an alarm in ALARM says since
// when. A composite alarm (no metric) shows its state and the start of its state reason.
func (a AlarmEvidence) Summary() string {
	label, pct := metricLabel(a.Metric)
	if label == "" && a.EvaluationPeriods == 0 && len(a.Datapoints) == 0 {
		s := a.Name + ": " + stateWord(a.State)
		if r := oneLine(a.StateReason, 80); r != "" {
			s += " (" + r + ")"
		}
		return s + a.when()
	}
	if label == "" {
		label = "value"
	}
	unit := ""
	if pct {
		unit = "%"
	}
	s := a.Name + ": " + label
	eval := a.evaluated()
	if v, ok := a.worst(eval); ok {
		s += " " + formatNumber(v) + unit
	}
	s += " (threshold " + comparisonSymbol(a.Comparison) + formatNumber(a.Threshold) + unit + ")"
	if a.EvaluationPeriods > 0 && (len(eval) > 0 || a.Breaching > 0) {
		s += " for " + periodsText(a.Breaching, int(a.EvaluationPeriods), a.PeriodSeconds)
	} else if a.State != "" && a.State != "OK" {
		s += " " + stateWord(a.State)
	}
	return s + a.when()
}

// when is " during STAGE", or ", in ALARM since 2026-11-20 10:02 UTC" without a stage.
func (a AlarmEvidence) when() string {
	switch {
	case a.Stage != "":
		return " during " + a.Stage
	case a.State == "ALARM" && !a.StateSince.IsZero():
		return ", in ALARM since " + a.StateSince.UTC().Format("2006-01-02 15:04 UTC")
	}
	return ""
}

// evaluated returns the last EvaluationPeriods datapoints at or before StateSince, or the
// last EvaluationPeriods datapoints when none precede it (or StateSince is unknown).
func (a AlarmEvidence) evaluated() []Datapoint {
	n := int(a.EvaluationPeriods)
	if n <= 0 {
		n = 1
	}
	pts := a.Datapoints
	if !a.StateSince.IsZero() {
		end := 0
		for end < len(pts) && !pts[end].At.After(a.StateSince) {
			end++
		}
		if end > 0 {
			pts = pts[:end]
		}
	}
	if len(pts) > n {
		pts = pts[len(pts)-n:]
	}
	return pts
}

// worst is the highest value (the lowest for a LessThan alarm): the one furthest past the
// threshold when any breaches.
func (a AlarmEvidence) worst(pts []Datapoint) (float64, bool) {
	if len(pts) == 0 {
		return 0, false
	}
	low := strings.HasPrefix(a.Comparison, "LessThan") && a.Comparison != "LessThanLowerOrGreaterThanUpperThreshold"
	best := pts[0].Value
	for _, p := range pts[1:] {
		if (low && p.Value < best) || (!low && p.Value > best) {
			best = p.Value
		}
	}
	return best, true
}

// metricLabel strips a trailing percent marker from the metric description and says
// whether the metric is a rate or a percentage.
func metricLabel(m string) (string, bool) {
	m = strings.TrimSpace(m)
	lower := strings.ToLower(m)
	pct := strings.Contains(lower, "%") || strings.Contains(lower, "percent") ||
		(rateWord.MatchString(m) && !strings.Contains(lower, "per second") && !strings.Contains(lower, "/s"))
	for _, suffix := range []string{"(%)", "%", "(percent)", "percent", "in percent"} {
		if strings.HasSuffix(strings.ToLower(m), suffix) && len(m) > len(suffix) {
			m = strings.TrimSpace(m[:len(m)-len(suffix)])
		}
	}
	return m, pct
}

// rateWord finds "rate" as a word: "5xx rate", "error_rate", "ErrorRate".
var rateWord = regexp.MustCompile(`(?i:\brate\b|_rate\b)|[a-z0-9]Rate\b`)

// periodsText renders "2 of 3 minutes", "20 of 30 seconds" or "2 of 3 datapoints".
func periodsText(breaching, periods int, period int32) string {
	switch {
	case period > 0 && period%60 == 0:
		m := int(period / 60)
		unit := "minutes"
		if periods*m == 1 {
			unit = "minute"
		}
		return fmt.Sprintf("%d of %d %s", breaching*m, periods*m, unit)
	case period > 0:
		return fmt.Sprintf("%d of %d seconds", breaching*int(period), periods*int(period))
	}
	return fmt.Sprintf("%d of %d datapoints", breaching, periods)
}

func stateWord(state string) string {
	switch state {
	case "":
		return "state unknown"
	case "INSUFFICIENT_DATA":
		return "insufficient data"
	}
	return "in " + state
}

func comparisonSymbol(c string) string {
	switch c {
	case "GreaterThanThreshold", "":
		return ""
	case "GreaterThanOrEqualToThreshold":
		return ">= "
	case "LessThanThreshold":
		return "< "
	case "LessThanOrEqualToThreshold":
		return "<= "
	case "LessThanLowerOrGreaterThanUpperThreshold":
		return "outside band "
	case "LessThanLowerThreshold":
		return "below band "
	case "GreaterThanUpperThreshold":
		return "above band "
	}
	return c + " "
}

// formatNumber renders a metric value with at most three significant digits (integers
// from 1000 up): 48, 51.2, 3.47, 0.0123, 1235.
func formatNumber(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Sprint(f)
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatInt(int64(f), 10)
	}
	if math.Abs(f) >= 1000 {
		return strconv.FormatFloat(math.Round(f), 'f', -1, 64)
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'g', 3, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
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
