package smoketest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// routeLoader reads the routes document (*routes.Store).
type routeLoader interface {
	Load(ctx context.Context) (*routes.Document, error)
}

// evidenceStore keeps the checks for finalize (*ledger.Table).
type evidenceStore interface {
	PutSmokeEvidence(ctx context.Context, serviceDeploymentARN, stage string, checks []result.CheckEvidence) error
}

// HookCheckName names the evidence entry the hook writes when it fails for a reason that is
// not one check's answer (green not ready in time, no checks configured, an AWS error): its
// Summary() is "HOOK <stage> on <cluster>/<service>: <reason>".
const HookCheckName = "greenlight-hook"

// reserve is the time kept back from the Lambda deadline for writing evidence and answering.
const reserve = 2 * time.Second

// Deps are the handler's collaborators. ELB may be nil: then the test listener can only come
// from the route's smokeTests.testListenerUrl.
type Deps struct {
	ECS      ecsAPI
	ELB      elbAPI
	Routes   routeLoader
	Evidence evidenceStore
	Logger   *slog.Logger
	// HTTP is the probing client; default NewHTTPClient().
	HTTP *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// RoutesParameter names the routes parameter in messages.
	RoutesParameter string
}

// Handler is the lifecycle hook.
type Handler struct {
	d      Deps
	scale  workflow.TimeScale
	broken error
}

// New returns the hook for cfg.
func New(cfg Config, d Deps) *Handler {
	if d.HTTP == nil {
		d.HTTP = NewHTTPClient()
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.RoutesParameter == "" {
		d.RoutesParameter = cfg.RoutesParameter
	}
	return &Handler{d: d, scale: cfg.TimeScale}
}

// Misconfigured returns a hook that cannot check anything because the function could not
// start (err says why): it still lets rollbacks and unchecked stages through, and answers
// FAILED with err everywhere else, rather than failing to initialise (which ECS would report
// as an unparsable response).
func Misconfigured(err error, logger *slog.Logger) *Handler {
	h := New(Config{}, Deps{Logger: logger})
	h.broken = err
	return h
}

// call is one invocation's working state.
type call struct {
	ev       HookEvent
	id       identity
	log      *slog.Logger
	state    State
	details  HookDetails // the operator's hookDetails, echoed with IN_PROGRESS
	plan     *plan
	obs      Observation
	probes   []Probe
	first    *bool // first deployment (no blue), when known
	checking bool  // a stage the hook checks at; evidence is written
}

// Handle answers one hook call. It never returns an error: every failure, the hook's own
// included, is a FAILED with a reason, or IN_PROGRESS while the route's patience lasts.
func (h *Handler) Handle(ctx context.Context, raw json.RawMessage) (resp HookResponse, _ error) {
	c := &call{log: h.d.Logger}
	defer func() {
		if r := recover(); r != nil {
			c.log.ErrorContext(ctx, "smoke-test hook panicked", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			resp = HookResponse{HookStatus: Failed, Reason: fmt.Sprintf("greenlight smoke-test hook failed internally: %v", r)}
		}
	}()
	v := h.handle(ctx, c, raw)
	return h.finish(ctx, c, v), nil
}

func fatal(format string, args ...any) Verdict {
	return Verdict{Status: Failed, Reason: fmt.Sprintf(format, args...)}
}

func (h *Handler) handle(ctx context.Context, c *call, raw json.RawMessage) Verdict {
	if err := json.Unmarshal(raw, &c.ev); err != nil {
		return fatal("cannot read the hook event: %v", err)
	}
	ev := &c.ev
	stage := ev.LifecycleStage
	c.log = c.log.With("service_deployment_arn", ev.ResourceArn, "stage", stage, "execution_id", ev.ExecutionID)

	// A rollback must never be blocked, whatever else is wrong (reference §2.4, §2.7).
	if ok, why := rollbackReinvocation(*ev); ok {
		return Verdict{Status: Succeeded, Reason: why}
	}
	if stageVia(stage) == viaNone {
		return Verdict{Status: Succeeded, Reason: fmt.Sprintf("greenlight does not check at %q: nothing to do", stage)}
	}
	c.checking = true
	c.state = nextState(nil, stage, h.d.Now())
	id, err := identify(*ev)
	if err != nil {
		return fatal("the hook event is inconsistent: %v", err)
	}
	c.id = id
	c.log = c.log.With("cluster", id.Cluster, "service", id.Service)
	if h.broken != nil {
		return fatal("greenlight's smoke-test function is misconfigured: %v", h.broken)
	}
	hd, err := ParseHookDetails(ev.HookDetails)
	if err != nil {
		return fatal("%v", err)
	}
	c.details = hd
	c.state = nextState(hd.Greenlight, stage, c.state.FirstAttemptAt)
	c.log = c.log.With("attempt", c.state.Attempt)

	doc, err := h.d.Routes.Load(ctx)
	if err != nil {
		var ve *routes.ValidationError
		if errors.Is(err, routes.ErrNotFound) || errors.As(err, &ve) {
			return fatal("cannot read the routes: %v", err)
		}
		p := makePlan(nil, routes.Target{}, hd, h.scale)
		c.plan = &p
		return h.decide(c, Observation{NotReady: "cannot read the routes: " + err.Error()})
	}
	var route *routes.Route
	r, target, ok := doc.RouteFor(id.Cluster, id.Service)
	if ok {
		route = &r
		c.log = c.log.With("route", r.Name)
	}
	p := makePlan(route, target, hd, h.scale)
	c.plan = &p
	if !p.runsAt(stage) {
		c.checking = false
		return Verdict{Status: Succeeded, Reason: fmt.Sprintf("%s is not in the route's smokeTests.stages (%s): nothing to check", stage, strings.Join(p.stages, ", "))}
	}
	if len(p.checks) == 0 {
		return fatal("%v", errNoChecks{service: id.key(), parameter: h.d.RoutesParameter, route: p.route})
	}

	runCtx := ctx
	if dl, ok := ctx.Deadline(); ok {
		left := dl.Sub(h.d.Now()) - reserve
		if need := p.roundTime(); left < need {
			return h.decide(c, Observation{NotReady: fmt.Sprintf("the function has %s left, too little for a round of checks (up to %s): raise the function's timeout, or lower the checks' timeoutMs or attempts",
				max(left, 0).Round(100*time.Millisecond), need)})
		}
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(ctx, dl.Add(-reserve))
		defer cancel()
	}

	var targets []Target
	var obs Observation
	switch stageVia(stage) {
	case viaTasks:
		targets, obs, err = h.greenTasks(ctx, c)
	case viaListener:
		targets, err = h.listener(ctx, c)
		obs.Targets = len(targets)
	}
	if err != nil {
		if isPermanent(err) {
			return fatal("%v", err)
		}
		obs.NotReady = err.Error()
		return h.decide(c, obs)
	}
	run := &runner{client: h.d.HTTP, parallelism: p.parallelism, attempts: p.attempts, interval: p.interval, now: h.d.Now}
	c.probes = run.run(runCtx, stage, targets, p.checks)
	obs.Probes = c.probes
	return h.decide(c, obs)
}

// decide fills the observation's common fields and applies Decide.
func (h *Handler) decide(c *call, o Observation) Verdict {
	o.Stage = c.ev.LifecycleStage
	o.Elapsed = h.d.Now().Sub(c.state.FirstAttemptAt)
	o.Patience = c.plan.patience
	o.MinHealthyPercent = c.plan.minHealthy
	c.obs = o
	return Decide(o)
}

// greenTasks finds the green revision's running tasks and the port to probe them on.
func (h *Handler) greenTasks(ctx context.Context, c *call) ([]Target, Observation, error) {
	var obs Observation
	rev, err := describeRevision(ctx, h.d.ECS, c.ev.ExecutionDetails.TargetServiceRevisionArn, c.plan.container)
	if err != nil {
		return nil, obs, err
	}
	dep, err := describeDeployment(ctx, h.d.ECS, c.ev)
	if err != nil {
		return nil, obs, err
	}
	c.first = &dep.firstDeployment
	container := c.plan.container
	if container == "" {
		container = strPtrValue(rev.lb.ContainerName)
	}
	port := c.plan.port
	if port == 0 {
		if port, err = containerPort(ctx, h.d.ECS, rev, container); err != nil {
			return nil, obs, err
		}
	}
	tasks, noIP, err := listGreenTasks(ctx, h.d.ECS, c.id.Cluster, c.id.Service, rev.taskDefinition, container)
	if err != nil {
		return nil, obs, err
	}
	c.log = c.log.With("task_definition_arn", rev.taskDefinition, "target_group_arn", rev.targetGroup, "port", port)
	obs.Expected, obs.Running = dep.expected, len(tasks)
	if obs.Expected == 0 {
		obs.Expected = len(tasks)
	}
	if noIP > 0 && len(tasks) < obs.Expected {
		obs.NotReady = fmt.Sprintf("%d running green tasks have no private IPv4 address yet (the service must use awsvpc networking)", noIP)
	}
	targets := make([]Target, len(tasks))
	for i, t := range tasks {
		targets[i] = TaskTarget(t.id, t.ip, port)
	}
	obs.Targets = len(targets)
	return targets, obs, nil
}

// listener picks the test listener address: hookDetails.testListenerUrl if its host is the
// service's own load balancer, else the route's smokeTests.testListenerUrl, else the address
// derived from the service's test listener rule.
func (h *Handler) listener(ctx context.Context, c *call) ([]Target, error) {
	p := c.plan
	derive := func() (testListener, error) {
		rev, err := describeRevision(ctx, h.d.ECS, c.ev.ExecutionDetails.TargetServiceRevisionArn, p.container)
		if err != nil {
			return testListener{}, err
		}
		return findTestListener(ctx, h.d.ELB, rev, p.checks)
	}
	switch {
	case p.hookListenerURL != "":
		u, err := parseBaseURL(p.hookListenerURL)
		if err != nil {
			return nil, permanent("hookDetails.testListenerUrl: %v", err)
		}
		tl, err := derive()
		if err != nil {
			msg := fmt.Sprintf("hookDetails.testListenerUrl %s cannot be checked against the service's own load balancer: %v", u, err)
			if isPermanent(err) {
				return nil, permanent("%s; set smokeTests.testListenerUrl in the route instead", msg)
			}
			return nil, errors.New(msg)
		}
		if !strings.EqualFold(u.Hostname(), tl.host) {
			return nil, permanent("hookDetails.testListenerUrl %s rejected: its host is not the service's load balancer (%s); greenlight only probes the service's own tasks and load balancer. Use %s, or set smokeTests.testListenerUrl in the route", u, tl.host, tl.base)
		}
		var headers map[string]string
		if effectivePort(u) == tl.base.Port() {
			headers = tl.headers
		}
		c.log = c.log.With("test_listener", u.String(), "test_listener_from", "hookDetails")
		return []Target{ListenerTarget(u, headers)}, nil
	case p.routeListenerURL != "":
		u, err := parseBaseURL(p.routeListenerURL)
		if err != nil {
			return nil, permanent("smokeTests.testListenerUrl: %v", err)
		}
		c.log = c.log.With("test_listener", u.String(), "test_listener_from", "route")
		return []Target{ListenerTarget(u, nil)}, nil
	default:
		tl, err := derive()
		if err != nil {
			if isPermanent(err) {
				return nil, permanent("cannot find the test listener: %v; set smokeTests.testListenerUrl in the route", err)
			}
			return nil, fmt.Errorf("cannot find the test listener: %w", err)
		}
		if tl.unusable != "" {
			return nil, permanent("cannot probe the test listener %s: %s; set smokeTests.testListenerUrl in the route (and the headers the rule needs in the checks)", tl.base, tl.unusable)
		}
		c.log = c.log.With("test_listener", tl.base.String(), "test_listener_from", "load balancer")
		return []Target{ListenerTarget(tl.base, tl.headers)}, nil
	}
}

// finish writes the evidence, logs the verdict and builds the response.
func (h *Handler) finish(ctx context.Context, c *call, v Verdict) HookResponse {
	resp := HookResponse{HookStatus: v.Status, Reason: clip(v.Reason, 2000)}
	if v.Status == InProgress {
		delay := routes.DefaultCallBackDelaySeconds
		if c.plan != nil {
			delay = c.plan.callBack
		} else {
			delay = h.scale.Seconds(time.Duration(delay) * time.Second)
		}
		st := c.state
		resp.CallBackDelay = delay
		resp.HookDetails = &ResponseDetails{Checks: c.details.Checks, Port: c.details.Port, TestListenerURL: c.details.TestListenerURL, Greenlight: &st}
	}
	evidence := make([]result.CheckEvidence, 0, len(c.probes)+1)
	if v.Status == Failed && v.Check == nil && c.checking && c.id.Cluster != "" {
		evidence = append(evidence, result.CheckEvidence{
			Stage: c.ev.LifecycleStage, Address: c.id.key(), Check: HookCheckName, Method: "HOOK",
			Path: c.ev.LifecycleStage, Failure: firstLine(v.Reason), At: h.d.Now().UTC(),
		})
	}
	passed := 0
	for _, p := range c.probes {
		evidence = append(evidence, p.Evidence)
		if p.Kind == ProbePassed {
			passed++
		}
	}
	attrs := []any{"outcome", string(v.Status), "reason", v.Reason, "probes", len(c.probes), "probes_passed", passed}
	if c.checking {
		attrs = append(attrs, "elapsed_ms", c.obs.Elapsed.Milliseconds(), "expected_tasks", c.obs.Expected, "running_tasks", c.obs.Running)
	}
	if c.first != nil {
		attrs = append(attrs, "first_deployment", *c.first)
	}
	if resp.CallBackDelay > 0 {
		attrs = append(attrs, "call_back_delay_s", resp.CallBackDelay)
	}
	if c.checking && c.id.Cluster != "" && len(evidence) > 0 && h.d.Evidence != nil {
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		if err := h.d.Evidence.PutSmokeEvidence(wctx, c.ev.ResourceArn, c.ev.LifecycleStage, evidence); err != nil {
			// The verdict stands; finalize will explain the rollback with less detail.
			c.log.ErrorContext(ctx, "cannot store smoke evidence", "error", err.Error())
			attrs = append(attrs, "evidence_stored", false)
		} else {
			attrs = append(attrs, "evidence_stored", true)
		}
		cancel()
	}
	level := slog.LevelInfo
	if v.Status == Failed {
		level = slog.LevelWarn
	}
	c.log.Log(ctx, level, "hook verdict", attrs...)
	return resp
}

// rollbackReinvocation reports whether ECS is calling the hook again while rolling back:
// the traffic weights send nothing to the target (green) revision and something to another
// (reference §2.1, §2.4). Before the production shift blue holding 100 % is normal, so
// PRE_PRODUCTION_TRAFFIC_SHIFT is never a rollback.
func rollbackReinvocation(ev HookEvent) (bool, string) {
	if ev.LifecycleStage == StagePreProductionTrafficShift {
		return false, ""
	}
	green := ev.ExecutionDetails.TargetServiceRevisionArn
	back := func(w map[string]float64) (string, bool) {
		if len(w) == 0 || w[green] > 0 {
			return "", false
		}
		for rev, pct := range w {
			if rev != green && pct > 0 {
				return rev, true
			}
		}
		return "", false
	}
	if blue, ok := back(ev.ExecutionDetails.ProductionTrafficWeights); ok {
		return true, fmt.Sprintf("rollback in progress: production traffic goes back to %s; nothing to check", blue)
	}
	if ev.LifecycleStage == StageTestTrafficShift {
		if blue, ok := back(ev.ExecutionDetails.TestTrafficWeights); ok {
			return true, fmt.Sprintf("rollback in progress: test traffic goes back to %s; nothing to check", blue)
		}
	}
	return false, ""
}

// nextState continues the state carried in hookDetails at the same stage, or starts anew.
func nextState(prev *State, stage string, now time.Time) State {
	if prev == nil || prev.Stage != stage || prev.Attempt < 1 || prev.FirstAttemptAt.IsZero() || prev.FirstAttemptAt.After(now) {
		return State{Stage: stage, Attempt: 1, FirstAttemptAt: now.UTC()}
	}
	return State{Stage: stage, Attempt: prev.Attempt + 1, FirstAttemptAt: prev.FirstAttemptAt}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func strPtrValue(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
