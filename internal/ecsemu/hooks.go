package ecsemu

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// HookInvoker calls a lifecycle hook's function synchronously and returns its response
// payload. A function error (the function ran and failed) is a *FunctionError.
type HookInvoker interface {
	Invoke(ctx context.Context, functionArn string, payload []byte) ([]byte, error)
}

// HookFunc adapts a function to HookInvoker (in-process hooks in tests).
type HookFunc func(ctx context.Context, functionArn string, payload []byte) ([]byte, error)

// Invoke implements HookInvoker.
func (f HookFunc) Invoke(ctx context.Context, functionArn string, payload []byte) ([]byte, error) {
	return f(ctx, functionArn, payload)
}

// FunctionError is a Lambda function error (Invoke's FunctionError was set).
type FunctionError struct {
	Type    string
	Payload []byte
}

func (e *FunctionError) Error() string {
	return fmt.Sprintf("function error %s: %s", e.Type, truncate(string(e.Payload), 300))
}

// LambdaInvoker invokes hooks with Lambda Invoke (RequestResponse), as ECS does: against
// moto, which forwards to aws-lambda-rie, in the rehearsal.
type LambdaInvoker struct {
	Client LambdaAPI
}

// Invoke implements HookInvoker.
func (l LambdaInvoker) Invoke(ctx context.Context, functionArn string, payload []byte) ([]byte, error) {
	out, err := l.Client.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(functionArn), Payload: payload})
	if err != nil {
		return nil, err
	}
	if out.FunctionError != nil {
		return out.Payload, &FunctionError{Type: *out.FunctionError, Payload: out.Payload}
	}
	return out.Payload, nil
}

// hookEvent is the payload ECS sends a lifecycle hook (reference §2.1), field for field.
type hookEvent struct {
	ExecutionID      string               `json:"executionId"`
	LifecycleStage   string               `json:"lifecycleStage"`
	ResourceArn      string               `json:"resourceArn"`
	ExecutionDetails hookExecutionDetails `json:"executionDetails"`
	HookDetails      any                  `json:"hookDetails,omitempty"`
}

type hookExecutionDetails struct {
	ServiceArn               string             `json:"serviceArn"`
	TargetServiceRevisionArn string             `json:"targetServiceRevisionArn"`
	TestTrafficWeights       map[string]float64 `json:"testTrafficWeights"`
	ProductionTrafficWeights map[string]float64 `json:"productionTrafficWeights"`
}

// hookWeights returns the weight maps ECS sends at a stage (reference §2.1 table; §2.4 for
// a rollback's re-invocations). blue is "" when there is no source revision.
func hookWeights(stage string, rollback bool, green, blue string, prodGreen float64) (test, prod map[string]float64) {
	test, prod = map[string]float64{}, map[string]float64{}
	set := func(m map[string]float64, g float64) {
		m[green] = g
		if blue != "" {
			m[blue] = 100 - g
		}
	}
	switch {
	case stage == StageTestTrafficShift && rollback:
		set(test, 0)
	case stage == StageTestTrafficShift:
		set(test, 100)
	case stage == StageProductionTrafficShift && rollback:
		set(prod, 0)
	case stage == StagePreProductionTrafficShift, stage == StageProductionTrafficShift:
		// Before a step, production is where the last step left it (0 for BLUE_GREEN and
		// the first LINEAR or CANARY step); at a step, it is the step's share.
		set(prod, prodGreen)
	}
	return test, prod
}

// staticHookDetails decodes a hook's hookDetails: an object, or a string holding one (the
// CloudFormation form).
func staticHookDetails(raw json.RawMessage) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	if s, ok := v.(string); ok {
		var obj map[string]any
		if json.Unmarshal([]byte(s), &obj) == nil {
			return obj, nil
		}
	}
	return v, nil
}

func mergeDetails(static any, extra map[string]any) any {
	if len(extra) == 0 {
		return static
	}
	out := map[string]any{}
	if m, ok := static.(map[string]any); ok {
		maps.Copy(out, m)
	}
	maps.Copy(out, extra)
	return out
}

type hookResponse struct {
	HookStatus    *string         `json:"hookStatus"`
	CallBackDelay *float64        `json:"callBackDelay"`
	HookDetails   map[string]any  `json:"hookDetails"`
	Reason        json.RawMessage `json:"reason"`
}

// parseHookResponse reads a hook's answer; an error means ECS could not parse it.
func parseHookResponse(b []byte) (hookResponse, error) {
	var r hookResponse
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("response is not a JSON object: %s", truncate(string(b), 200))
	}
	if r.HookStatus == nil {
		return r, errors.New("HookStatus must not be null")
	}
	switch *r.HookStatus {
	case "SUCCEEDED", "FAILED", "IN_PROGRESS":
		return r, nil
	}
	return r, fmt.Errorf("hookStatus %q is not SUCCEEDED, FAILED or IN_PROGRESS", *r.HookStatus)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// runHooks runs every hook registered for stage, in parallel (reference §1.2: all must
// finish; any one failing rolls the deployment back). It returns the abort a failure
// causes, or nil.
func (e *Emulator) runHooks(ctx context.Context, d *deployment, stage string, rollback bool) *abort {
	type job struct {
		i int
		h lifecycleHook
	}
	var jobs []job
	for i, h := range d.cfg.LifecycleHooks {
		for _, st := range h.LifecycleStages {
			if st == stage {
				jobs = append(jobs, job{i, h})
				break
			}
		}
	}
	if len(jobs) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]*abort, len(jobs))
	var wg sync.WaitGroup
	for k, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[k] = e.runHook(ctx, d, stage, j.i, j.h, rollback)
			if results[k] != nil {
				cancel()
			}
		}()
	}
	wg.Wait()
	for _, r := range results {
		if r != nil {
			return r
		}
	}
	return nil
}

func hookTimeoutOf(h lifecycleHook) (time.Duration, string) {
	minutes, action := 1440, "ROLLBACK"
	if tc := h.TimeoutConfiguration; tc != nil {
		if tc.TimeoutInMinutes != nil && *tc.TimeoutInMinutes > 0 {
			minutes = *tc.TimeoutInMinutes
		}
		if tc.Action != "" {
			action = tc.Action
		}
	}
	return time.Duration(minutes) * time.Minute, action
}

// runHook runs one hook execution: invoke, then re-invoke after callBackDelay while it
// answers IN_PROGRESS (reference §2.2-2.3), until SUCCEEDED, FAILED, an unusable answer or
// the hook's timeout.
func (e *Emulator) runHook(ctx context.Context, d *deployment, stage string, idx int, h lifecycleHook, rollback bool) *abort {
	timeout, action := hookTimeoutOf(h)
	targetType := h.TargetType
	if targetType == "" {
		targetType = "AWS_LAMBDA"
	}
	x := &hookExec{
		executionID: uuid(), index: idx, stage: stage, targetType: targetType, targetArn: h.HookTargetArn,
		status: "IN_PROGRESS", expiresAt: time.Now().Add(e.scale(timeout)), timeoutAction: action, rollback: rollback,
	}
	if targetType == "PAUSE" {
		x.hookID = "ecs-pause-" + hexID(24)
		x.status = "AWAITING_ACTION"
		x.cont = make(chan string, 1)
	} else {
		x.hookID = "ecs-hook-" + hexID(24)
	}
	e.mu.Lock()
	d.hooks = append(d.hooks, x)
	d.updatedAt = time.Now()
	e.mu.Unlock()
	deadline := time.NewTimer(e.scale(timeout))
	defer deadline.Stop()

	setStatus := func(st string) {
		e.mu.Lock()
		x.status = st
		d.updatedAt = time.Now()
		e.mu.Unlock()
	}
	timedOut := func() *abort {
		setStatus("TIMED_OUT")
		e.emitHook(d, stage, fmt.Sprintf("hook %s timed out (action %s)", x.hookID, action))
		if action == "CONTINUE" {
			return nil
		}
		return &abort{kind: abortHook, rollback: true, reason: fmt.Sprintf(reasonHookTimedOut, stage, x.describe())}
	}

	if targetType == "PAUSE" {
		e.emitHook(d, stage, fmt.Sprintf("pause hook %s is awaiting ContinueServiceDeployment", x.hookID))
		select {
		case act := <-x.cont:
			if act == "ROLLBACK" {
				setStatus("FAILED")
				return &abort{kind: abortHook, rollback: true, reason: fmt.Sprintf(reasonHookRollback, stage, x.hookID)}
			}
			setStatus("SUCCEEDED")
			return nil
		case <-deadline.C:
			return timedOut()
		case <-ctx.Done():
			return nil
		}
	}

	static, err := staticHookDetails(h.HookDetails)
	if err != nil {
		setStatus("FAILED")
		return &abort{kind: abortHook, rollback: true, reason: fmt.Sprintf(reasonHookFailed, stage, "hookDetails is not valid JSON: "+err.Error())}
	}
	stageDetails := map[string]any{}
	fail := func(reason string) *abort {
		setStatus("FAILED")
		return &abort{kind: abortHook, rollback: true, reason: reason}
	}
	for attempt := 1; ; attempt++ {
		e.mu.Lock()
		extra := stageDetails
		if e.opts.Choices.HookDetailsScope == HookDetailsPerDeployment {
			extra = d.hookDetails[idx]
		}
		green, blue := d.target.arn, ""
		if len(d.sources) > 0 {
			blue = d.sources[0].arn
		}
		prodGreen := 0.0
		if d.prodWeightGreen != nil {
			prodGreen = *d.prodWeightGreen
		}
		test, prod := hookWeights(stage, rollback, green, blue, prodGreen)
		ev := hookEvent{
			ExecutionID:    x.executionID,
			LifecycleStage: stage,
			ResourceArn:    d.arn,
			ExecutionDetails: hookExecutionDetails{
				ServiceArn: d.svc.arn, TargetServiceRevisionArn: green,
				TestTrafficWeights: test, ProductionTrafficWeights: prod,
			},
			HookDetails: mergeDetails(static, extra),
		}
		e.mu.Unlock()
		payload, _ := json.Marshal(ev)
		inv := HookInvocation{Stage: stage, HookTargetArn: h.HookTargetArn, Attempt: attempt, Rollback: rollback, At: time.Now(), Payload: payload}
		e.emitHook(d, stage, fmt.Sprintf("invoking %s (attempt %d%s)", h.HookTargetArn, attempt, map[bool]string{true: ", rollback", false: ""}[rollback]))

		var resp []byte
		var invErr error
		if e.inv == nil {
			invErr = errors.New("the emulator has no hook invoker (Options.Invoker or Options.AWS)")
		} else {
			ictx, icancel := context.WithTimeout(ctx, time.Until(x.expiresAt))
			resp, invErr = e.inv.Invoke(ictx, h.HookTargetArn, payload)
			icancel()
		}
		if ctx.Err() != nil {
			return nil // the deployment moved on (another hook failed, an alarm, a stop)
		}
		if len(resp) > 0 && json.Valid(resp) {
			inv.Response = resp
		} else if len(resp) > 0 {
			inv.Response, _ = json.Marshal(string(resp))
		}
		var r hookResponse
		var perr error
		if invErr == nil {
			r, perr = parseHookResponse(resp)
		}
		switch {
		case invErr != nil && time.Now().After(x.expiresAt):
			inv.Error = invErr.Error()
			e.recordInvocation(d, inv)
			return timedOut()
		case invErr != nil:
			inv.Error = invErr.Error()
			e.recordInvocation(d, inv)
			return fail(fmt.Sprintf(reasonHookFailed, stage, h.HookTargetArn+": "+invErr.Error()))
		case perr != nil:
			inv.Error = perr.Error()
			e.recordInvocation(d, inv)
			return fail(fmt.Sprintf(reasonHookUnparsable, stage, h.HookTargetArn))
		}
		inv.HookStatus = *r.HookStatus
		e.recordInvocation(d, inv)
		e.emitHook(d, stage, fmt.Sprintf("%s answered %s", h.HookTargetArn, *r.HookStatus))
		switch *r.HookStatus {
		case "SUCCEEDED":
			setStatus("SUCCEEDED")
			return nil
		case "FAILED":
			return fail(fmt.Sprintf(reasonHookFailed, stage, h.HookTargetArn+" returned FAILED"))
		}
		// IN_PROGRESS: keep the returned hookDetails, wait callBackDelay (default 30 s).
		if len(r.HookDetails) > 0 {
			e.mu.Lock()
			maps.Copy(stageDetails, r.HookDetails)
			if d.hookDetails[idx] == nil {
				d.hookDetails[idx] = map[string]any{}
			}
			maps.Copy(d.hookDetails[idx], r.HookDetails)
			e.mu.Unlock()
		}
		delay := 30 * time.Second
		if r.CallBackDelay != nil && *r.CallBackDelay > 0 {
			delay = time.Duration(*r.CallBackDelay * float64(time.Second))
		}
		select {
		case <-time.After(e.scale(delay)):
		case <-deadline.C:
			return timedOut()
		case <-ctx.Done():
			return nil
		}
	}
}

func (e *Emulator) recordInvocation(d *deployment, inv HookInvocation) {
	e.mu.Lock()
	d.invocations = append(d.invocations, inv)
	e.mu.Unlock()
}

func (e *Emulator) emitHook(d *deployment, stage, msg string) {
	e.log.Info("ecs emulator: "+msg, "cluster", d.svc.cluster, "service", d.svc.name, "service_deployment_arn", d.arn, "stage", stage)
	e.emit(Event{Kind: EventHook, Cluster: d.svc.cluster, Service: d.svc.name, ServiceDeploymentARN: d.arn, Stage: stage, Message: msg})
}

func (x *hookExec) describe() string {
	if x.targetArn != "" {
		return x.targetArn
	}
	return x.hookID
}

// continueHook resolves a pause hook (ContinueServiceDeployment).
func (e *Emulator) continueHookLocked(d *deployment, hookID, action string) error {
	for _, x := range d.hooks {
		if x.hookID != hookID {
			continue
		}
		if x.cont == nil || x.status != "AWAITING_ACTION" {
			return &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf("hook %s is not a pause hook awaiting action (status %s)", hookID, x.status)}
		}
		select {
		case x.cont <- action:
		default:
		}
		return nil
	}
	return &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf("service deployment %s has no hook %s; take the hookId from DescribeServiceDeployments lifecycleHookDetails", d.arn, hookID)}
}

func hookStagesValid(cfg deploymentConfiguration) error {
	for i, h := range cfg.LifecycleHooks {
		tt := h.TargetType
		if tt == "" {
			tt = "AWS_LAMBDA"
		}
		switch tt {
		case "AWS_LAMBDA":
			if h.HookTargetArn == "" {
				return fmt.Errorf("deploymentConfiguration.lifecycleHooks[%d].hookTargetArn is required for AWS_LAMBDA hooks", i)
			}
		case "PAUSE":
		default:
			return fmt.Errorf("deploymentConfiguration.lifecycleHooks[%d].targetType %q: use AWS_LAMBDA or PAUSE", i, tt)
		}
		if len(h.LifecycleStages) == 0 {
			return fmt.Errorf("deploymentConfiguration.lifecycleHooks[%d].lifecycleStages is empty", i)
		}
		for _, st := range h.LifecycleStages {
			if !hookable(st) {
				return fmt.Errorf("deploymentConfiguration.lifecycleHooks[%d].lifecycleStages: %q is not a hookable stage (%s)", i, st, strings.Join(hookableStages(), ", "))
			}
			if tt == "PAUSE" && (st == StageTestTrafficShift || st == StageProductionTrafficShift) {
				return fmt.Errorf("deploymentConfiguration.lifecycleHooks[%d]: PAUSE hooks cannot be attached to %s; use an AWS_LAMBDA hook", i, st)
			}
		}
	}
	return nil
}

func hookableStages() []string {
	var out []string
	for _, s := range stageOrder {
		if hookable(s) {
			out = append(out, s)
		}
	}
	return out
}
