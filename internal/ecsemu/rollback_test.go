package ecsemu

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// waitStage polls until the deployment is in stage (forward), or fails the test.
func (h *harness) waitStage(arn, stage string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		r, err := h.em.Report(arn)
		if err != nil {
			h.t.Fatal(err)
		}
		if r.Stage == stage && len(r.Stages) > 0 && !r.Stages[len(r.Stages)-1].Rollback {
			return
		}
		if r.Done() {
			h.t.Fatalf("deployment ended %s (%s) before reaching %s; stages %v", r.Status, r.StatusReason, stage, r.StageNames())
		}
		time.Sleep(5 * time.Millisecond)
	}
	h.t.Fatalf("deployment never reached %s", stage)
}

// TestRollbackAtEachStage rolls a deployment back from every point where ECS can (reference
// §2.2 hook FAILED at each hookable stage, §5.3 alarm in BAKE_TIME, §5.4 circuit breaker in
// SCALE_UP, §3 StopServiceDeployment), and checks ECS's rollback (§2.4): statuses, the
// traffic-shift hooks re-invoked with weights back on blue and targetServiceRevisionArn
// unchanged, production back on blue, green's tasks stopped.
func TestRollbackAtEachStage(t *testing.T) {
	type tcase struct {
		name      string
		kind      string // hook, alarm, cb, manual
		stage     string // where the rollback starts
		prodFails bool   // green serves errors to production before the rollback
	}
	var cases []tcase
	for _, st := range allHookStages {
		cases = append(cases, tcase{name: "hook FAILED at " + string(st), kind: "hook", stage: string(st)})
	}
	cases = append(cases,
		tcase{name: "alarm in BAKE_TIME", kind: "alarm", stage: StageBakeTime, prodFails: true},
		tcase{name: "crash on start trips the circuit breaker", kind: "cb", stage: StageScaleUp},
		tcase{name: "StopServiceDeployment ROLLBACK", kind: "manual", stage: StagePostTestTrafficShift},
	)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const alarm = "web-5xx-rate"
			o := harnessOpts{}
			spec := svcSpec{bake: 1, hooks: []ecstypes.DeploymentLifecycleHook{staticDetails(lambdaHook(allHookStages...))}}
			green := map[string]string{"VERSION": "green"}
			switch tc.kind {
			case "alarm":
				o.cw = newFakeCW(rateAlarm(alarm, lbName, tgA, tgB))
				spec.alarms = &ecstypes.DeploymentAlarms{AlarmNames: []string{alarm}, Enable: true, Rollback: true}
				spec.bake = 10
				green["ERROR_RATE"] = "1"
			case "cb":
				spec.cb = &ecstypes.DeploymentCircuitBreaker{Enable: true, Rollback: true}
				green["EXIT_AT_START"] = "1"
			}
			h := newHarness(t, o)
			_, name := h.create(spec)
			h.setScript(func(ev hookEvent, rollback bool, call int) string {
				if tc.kind == "hook" && !rollback && ev.LifecycleStage == tc.stage {
					return `{"hookStatus":"FAILED"}`
				}
				if tc.kind == "manual" && !rollback && ev.LifecycleStage == tc.stage {
					return `{"hookStatus":"IN_PROGRESS","callBackDelay":5}`
				}
				return `{"hookStatus":"SUCCEEDED"}`
			})
			prodURL, testURL, _ := h.em.Listeners("prod", name)
			l := startLoad(prodURL)
			arn := h.deploy(name, green)
			if tc.kind == "manual" {
				h.waitStage(arn, tc.stage)
				out, err := h.ecs.StopServiceDeployment(h.ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), StopType: ecstypes.StopServiceDeploymentStopTypeRollback})
				if err != nil || aws.ToString(out.ServiceDeploymentArn) != arn {
					t.Fatalf("StopServiceDeployment = %v, %v", out, err)
				}
				if st := h.describe(arn).Status; st != ecstypes.ServiceDeploymentStatusRollbackRequested && st != ecstypes.ServiceDeploymentStatusRollbackInProgress && st != ecstypes.ServiceDeploymentStatusRollbackSuccessful {
					t.Errorf("status right after StopServiceDeployment = %s, want ROLLBACK_REQUESTED (or later)", st)
				}
			}
			r := h.wait(arn)
			served, failed, _, failures := l.finish()

			if r.Status != StatusRollbackSuccessful {
				t.Fatalf("status %s (%s), want ROLLBACK_SUCCESSFUL; stages %v", r.Status, r.StatusReason, r.StageNames())
			}
			if got, want := r.StatusNames(), []string{StatusPending, StatusInProgress, StatusRollbackRequested, StatusRollbackInProgress, StatusRollbackSuccessful}; !reflect.DeepEqual(got, want) {
				t.Errorf("statuses %v, want %v", got, want)
			}
			if got := r.Statuses[2].Stage; got != tc.stage {
				t.Errorf("rollback requested in %s, want %s", got, tc.stage)
			}
			// Forward stages up to the failing one, then the rollback's.
			var fwd, back []string
			for _, s := range r.Stages {
				if s.Rollback {
					back = append(back, s.Stage)
				} else {
					fwd = append(fwd, s.Stage)
				}
			}
			if fwd[len(fwd)-1] != tc.stage {
				t.Errorf("forward stages %v end at %s, want %s", fwd, fwd[len(fwd)-1], tc.stage)
			}
			if want := []string{StageTestTrafficShift, StageProductionTrafficShift, StageCleanUp}; !reflect.DeepEqual(back, want) {
				t.Errorf("rollback stages %v, want %v", back, want)
			}
			var rb []HookInvocation
			for _, inv := range r.Hooks {
				if inv.Rollback {
					rb = append(rb, inv)
				}
			}
			if len(rb) != 2 {
				t.Fatalf("%d rollback hook invocations, want 2 (TEST_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT)", len(rb))
			}
			checkPayload(t, rb[0], "rollback-TEST_TRAFFIC_SHIFT", r, svcArn(h, name))
			checkPayload(t, rb[1], "rollback-PRODUCTION_TRAFFIC_SHIFT", r, svcArn(h, name))

			d := h.describe(arn)
			if d.Rollback == nil || aws.ToString(d.Rollback.ServiceRevisionArn) != r.SourceRevisionARNs[0] || d.Rollback.StartedAt == nil || aws.ToString(d.Rollback.Reason) == "" {
				t.Errorf("rollback = %+v, want blue's revision, a reason and startedAt", d.Rollback)
			}
			if d.LifecycleStage != ecstypes.ServiceDeploymentLifecycleStageCleanUp || d.FinishedAt == nil {
				t.Errorf("after rollback: stage %s, finishedAt %v", d.LifecycleStage, d.FinishedAt)
			}
			switch tc.kind {
			case "hook":
				if !strings.Contains(r.StatusReason, tc.stage+" lifecycle hook(s) failed") {
					t.Errorf("statusReason %q", r.StatusReason)
				}
			case "manual":
				if r.StatusReason != reasonManual {
					t.Errorf("statusReason %q, want %q", r.StatusReason, reasonManual)
				}
			case "alarm":
				if d.Alarms == nil || d.Alarms.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered || !reflect.DeepEqual(d.Alarms.TriggeredAlarmNames, []string{alarm}) {
					t.Errorf("alarms = %+v, want TRIGGERED by %s", d.Alarms, alarm)
				}
				if !strings.Contains(r.StatusReason, alarm) {
					t.Errorf("statusReason %q does not name the alarm", r.StatusReason)
				}
				if got := o.cw.(*fakeCW).state(alarm); got != cwtypes.StateValueAlarm {
					t.Errorf("alarm state in CloudWatch = %s, want ALARM (set by the emulator's evaluation)", got)
				}
			case "cb":
				cb := d.DeploymentCircuitBreaker
				if cb == nil || cb.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusTriggered || cb.Threshold != 3 || cb.FailureCount < 3 {
					t.Errorf("deploymentCircuitBreaker = %+v, want TRIGGERED with threshold 3", cb)
				}
				if r.StatusReason != reasonCircuitBreaker {
					t.Errorf("statusReason %q, want %q", r.StatusReason, reasonCircuitBreaker)
				}
				checkCrashedTask(t, h, name, r.TargetRevisionARN)
			}
			if tc.prodFails {
				if failed == 0 {
					t.Errorf("green answered 500 to production during the bake, but no failure was seen")
				}
			} else if failed != 0 {
				t.Errorf("production failed %d of %d requests; blue must keep serving: %v", failed, served+failed, failures[:min(5, len(failures))])
			}
			for _, u := range []string{prodURL, testURL} {
				if code, body := get(t, u); code != 200 || body != "blue" {
					t.Errorf("after the rollback %s answers %d %q, want 200 blue", u, code, body)
				}
			}
			svc, err := h.ecs.DescribeServices(h.ctx, &ecs.DescribeServicesInput{Cluster: aws.String("prod"), Services: []string{name}})
			if err != nil {
				t.Fatal(err)
			}
			if td := aws.ToString(svc.Services[0].TaskDefinition); !strings.HasSuffix(td, "web:1") {
				t.Errorf("service taskDefinition after rollback = %s, want web:1", td)
			}
			tasks, _ := h.em.Tasks("prod", name)
			for _, ti := range tasks {
				if ti.RevisionARN == r.TargetRevisionARN && ti.LastStatus != "STOPPED" {
					t.Errorf("green task %s is %s after the rollback", ti.ARN, ti.LastStatus)
				}
			}
		})
	}
}

// checkCrashedTask finds a stopped green task through ListTasks/DescribeTasks and checks
// ECS's record of a container that exited.
func checkCrashedTask(t *testing.T, h *harness, name, greenRev string) {
	t.Helper()
	rev, err := h.ecs.DescribeServiceRevisions(h.ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{greenRev}})
	if err != nil {
		t.Fatal(err)
	}
	greenID := greenRev[strings.LastIndex(greenRev, "/")+1:]
	list, err := h.ecs.ListTasks(h.ctx, &ecs.ListTasksInput{Cluster: aws.String("prod"), ServiceName: aws.String(name),
		DesiredStatus: ecstypes.DesiredStatusStopped, StartedBy: aws.String("ecs-svc/" + greenID)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.TaskArns) < 3 {
		t.Fatalf("ListTasks(STOPPED, startedBy green) = %d tasks, want at least 3", len(list.TaskArns))
	}
	out, err := h.ecs.DescribeTasks(h.ctx, &ecs.DescribeTasksInput{Cluster: aws.String("prod"), Tasks: list.TaskArns})
	if err != nil {
		t.Fatal(err)
	}
	crashed := 0
	for _, task := range out.Tasks {
		if aws.ToString(task.TaskDefinitionArn) != aws.ToString(rev.ServiceRevisions[0].TaskDefinition) {
			t.Errorf("task %s runs %s, not green's task definition", aws.ToString(task.TaskArn), aws.ToString(task.TaskDefinitionArn))
		}
		if task.StopCode != ecstypes.TaskStopCodeEssentialContainerExited {
			continue // launched after the breaker tripped, stopped by the rollback
		}
		crashed++
		c := task.Containers[0]
		if aws.ToString(task.StoppedReason) != "Essential container in task exited" || c.ExitCode == nil || *c.ExitCode != 1 ||
			aws.ToString(task.LastStatus) != "STOPPED" || !strings.Contains(aws.ToString(c.Reason), "exit code 1") {
			t.Errorf("crashed task: stoppedReason %q, exitCode %v, reason %q, lastStatus %s", aws.ToString(task.StoppedReason), c.ExitCode, aws.ToString(c.Reason), aws.ToString(task.LastStatus))
		}
	}
	if crashed < 3 {
		t.Errorf("%d tasks stopped with EssentialContainerExited, want at least the threshold 3", crashed)
	}
}

// TestRollbackHookFailsIsRollbackFailed settles reference §2.4 [UNCONFIRMED]: a FAILED answer
// to a rollback re-invocation ends ROLLBACK_FAILED; production is back on blue regardless.
func TestRollbackHookFailsIsRollbackFailed(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{desired: 1, hooks: []ecstypes.DeploymentLifecycleHook{lambdaHook(allHookStages...)}})
	h.setScript(func(ev hookEvent, rollback bool, call int) string {
		if rollback || ev.LifecycleStage == StagePostTestTrafficShift {
			return `{"hookStatus":"FAILED"}`
		}
		return `{"hookStatus":"SUCCEEDED"}`
	})
	r := h.wait(h.deploy(name, map[string]string{"VERSION": "green"}))
	if r.Status != StatusRollbackFailed || !strings.Contains(r.StatusReason, "Rollback hook(s) failed") {
		t.Fatalf("status %s (%s), want ROLLBACK_FAILED naming the rollback hook", r.Status, r.StatusReason)
	}
	prodURL, _, _ := h.em.Listeners("prod", name)
	if _, body := get(t, prodURL); body != "blue" {
		t.Errorf("production answers %q after a failed rollback, want blue", body)
	}
}

// TestRollbackHooksShiftedOnly checks Choices.RollbackHooks = SHIFTED: a rollback before any
// traffic shift re-invokes no hook.
func TestRollbackHooksShiftedOnly(t *testing.T) {
	h := newHarness(t, harnessOpts{choices: Choices{RollbackHooks: RollbackHooksShifted}})
	_, name := h.create(svcSpec{desired: 1, hooks: []ecstypes.DeploymentLifecycleHook{lambdaHook(allHookStages...)}})
	h.setScript(func(ev hookEvent, rollback bool, call int) string {
		if ev.LifecycleStage == StagePostScaleUp {
			return `{"hookStatus":"FAILED"}`
		}
		return `{"hookStatus":"SUCCEEDED"}`
	})
	r := h.wait(h.deploy(name, map[string]string{"VERSION": "green"}))
	if r.Status != StatusRollbackSuccessful {
		t.Fatalf("status %s", r.Status)
	}
	for _, inv := range r.Hooks {
		if inv.Rollback {
			t.Errorf("rollback re-invoked %s although no traffic had shifted", inv.Stage)
		}
	}
}

// TestStopServiceDeploymentErrors checks reference §3: unknown ARN, ABORT, finished.
func TestStopServiceDeploymentErrors(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{desired: 1})
	arn := h.deploy(name, map[string]string{"VERSION": "green"})
	h.wait(arn)
	_, err := h.ecs.StopServiceDeployment(h.ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn + "x")})
	var nf *ecstypes.ServiceDeploymentNotFoundException
	if !errors.As(err, &nf) {
		t.Errorf("unknown ARN: %v, want ServiceDeploymentNotFoundException", err)
	}
	_, err = h.ecs.StopServiceDeployment(h.ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), StopType: ecstypes.StopServiceDeploymentStopTypeAbort})
	var ip *ecstypes.InvalidParameterException
	if !errors.As(err, &ip) {
		t.Errorf("ABORT: %v, want InvalidParameterException", err)
	}
	_, err = h.ecs.StopServiceDeployment(h.ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), StopType: ecstypes.StopServiceDeploymentStopTypeRollback})
	var ce *ecstypes.ConflictException
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "SUCCESSFUL") {
		t.Errorf("finished deployment: %v, want ConflictException", err)
	}
}
