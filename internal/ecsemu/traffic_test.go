package ecsemu

import (
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// TestWeightsOverTime observes, from inside each hook, what the listeners forward to and
// what DescribeServiceDeployments reports (reference §2.5: test traffic reaches green only
// after TEST_TRAFFIC_SHIFT; production moves 100 % at PRODUCTION_TRAFFIC_SHIFT).
func TestWeightsOverTime(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{desired: 1, hooks: []ecstypes.DeploymentLifecycleHook{lambdaHook(allHookStages...)}})
	prodURL, testURL, _ := h.em.Listeners("prod", name)
	type seen struct {
		prodTG, testTG         string
		prodBody, testBody     string
		greenProdW, greenTestW float64
		blueProdW, blueTestW   float64
	}
	var mu sync.Mutex
	got := map[string]seen{}
	h.setScript(func(ev hookEvent, rollback bool, call int) string {
		s, _ := h.em.services[svcKey("prod", name)], 0
		var x seen
		for tg, w := range s.prod.Weights() {
			if w == 100 {
				x.prodTG = tg
			}
		}
		for tg, w := range s.test.Weights() {
			if w == 100 {
				x.testTG = tg
			}
		}
		_, x.prodBody = get(t, prodURL)
		_, x.testBody = get(t, testURL)
		d := h.describe(ev.ResourceArn)
		x.greenProdW, x.greenTestW = aws.ToFloat64(d.TargetServiceRevision.RequestedProductionTrafficWeight), aws.ToFloat64(d.TargetServiceRevision.RequestedTestTrafficWeight)
		x.blueProdW, x.blueTestW = aws.ToFloat64(d.SourceServiceRevisions[0].RequestedProductionTrafficWeight), aws.ToFloat64(d.SourceServiceRevisions[0].RequestedTestTrafficWeight)
		mu.Lock()
		got[ev.LifecycleStage] = x
		mu.Unlock()
		return `{"hookStatus":"SUCCEEDED"}`
	})
	r := h.wait(h.deploy(name, map[string]string{"VERSION": "green"}))
	if r.Status != StatusSuccessful {
		t.Fatalf("status %s", r.Status)
	}
	blue := seen{prodTG: tgA, testTG: tgA, prodBody: "blue", testBody: "blue", blueProdW: 100, blueTestW: 100}
	testShifted := seen{prodTG: tgA, testTG: tgB, prodBody: "blue", testBody: "green", greenTestW: 100, blueProdW: 100}
	prodShifted := seen{prodTG: tgB, testTG: tgB, prodBody: "green", testBody: "green", greenTestW: 100, greenProdW: 100}
	want := map[string]seen{
		StagePreScaleUp: blue, StagePostScaleUp: blue,
		StageTestTrafficShift: testShifted, StagePostTestTrafficShift: testShifted, StagePreProductionTrafficShift: testShifted,
		StageProductionTrafficShift: prodShifted, StagePostProductionTrafficShift: prodShifted,
	}
	for st, w := range want {
		if got[st] != w {
			t.Errorf("at %s:\n got %+v\nwant %+v", st, got[st], w)
		}
	}
}

// TestTargetGroupAlternation follows reference §2.5: the new revision always goes to the idle
// target group, so the groups swap roles on every successful deployment.
func TestTargetGroupAlternation(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{desired: 1})
	first, _ := h.em.Deployments("prod", name)
	r1 := h.wait(h.deploy(name, map[string]string{"VERSION": "v2"}))
	r2 := h.wait(h.deploy(name, map[string]string{"VERSION": "v3"}))
	groups := []string{first[0].TargetGroup, r1.TargetGroup, r2.TargetGroup}
	if want := []string{tgA, tgB, tgA}; !reflect.DeepEqual(groups, want) {
		t.Errorf("revision target groups %v, want %v", groups, want)
	}
	out, err := h.ecs.DescribeServiceRevisions(h.ctx, &ecs.DescribeServiceRevisionsInput{ServiceRevisionArns: []string{first[0].TargetRevisionARN, r1.TargetRevisionARN, r2.TargetRevisionARN}})
	if err != nil {
		t.Fatal(err)
	}
	for i, rev := range out.ServiceRevisions {
		lbs := rev.ResolvedConfiguration.LoadBalancers
		if len(lbs) != 1 || aws.ToString(lbs[0].TargetGroupArn) != groups[i] || aws.ToString(lbs[0].ProductionListenerRule) != prodRule {
			t.Errorf("revision %d resolvedConfiguration = %+v, want %s", i, lbs, groups[i])
		}
	}
	if r2.SourceRevisionARNs[0] != r1.TargetRevisionARN {
		t.Errorf("second deployment's blue = %v, want the first's green %s", r2.SourceRevisionARNs, r1.TargetRevisionARN)
	}
	prodURL, _, _ := h.em.Listeners("prod", name)
	if _, body := get(t, prodURL); body != "v3" {
		t.Errorf("production answers %q, want v3", body)
	}
}

// TestSupersede follows reference §5.2: an UpdateService during a deployment moves it to
// STOP_REQUESTED then STOPPED, and the new deployment starts with RECONCILE_SERVICE. The
// stopped deployment's green tasks are scaled in by the reconciliation ([UNCONFIRMED]).
func TestSupersede(t *testing.T) {
	for _, at := range []string{StagePostScaleUp, StageBakeTime} {
		t.Run("during "+at, func(t *testing.T) {
			h := newHarness(t, harnessOpts{})
			_, name := h.create(svcSpec{desired: 1, bake: 10, hooks: []ecstypes.DeploymentLifecycleHook{lambdaHook(allHookStages...)}})
			var mu sync.Mutex
			var d1 string
			h.setScript(func(ev hookEvent, rollback bool, call int) string {
				mu.Lock()
				defer mu.Unlock()
				if ev.ResourceArn == d1 && ev.LifecycleStage == StagePostScaleUp && at == StagePostScaleUp {
					return `{"hookStatus":"IN_PROGRESS","callBackDelay":5}`
				}
				return `{"hookStatus":"SUCCEEDED"}`
			})
			prodURL, _, _ := h.em.Listeners("prod", name)
			l := startLoad(prodURL)
			mu.Lock()
			d1 = h.deploy(name, map[string]string{"VERSION": "v2"})
			mu.Unlock()
			h.waitStage(d1, at)
			// The newer deployment also shortens the bake (deploymentConfiguration in the
			// same UpdateService), which keeps the test short.
			td3 := h.registerTD("web", map[string]string{"VERSION": "v3"})
			up, err := h.ecs.UpdateService(h.ctx, &ecs.UpdateServiceInput{Cluster: aws.String("prod"), Service: aws.String(name), TaskDefinition: aws.String(td3),
				DeploymentConfiguration: &ecstypes.DeploymentConfiguration{Strategy: ecstypes.DeploymentStrategyBlueGreen, BakeTimeInMinutes: aws.Int32(0),
					LifecycleHooks: []ecstypes.DeploymentLifecycleHook{lambdaHook(allHookStages...)}}})
			if err != nil {
				t.Fatal(err)
			}
			d2 := aws.ToString(up.Service.CurrentServiceDeployment)
			if d2 == d1 || d2 == "" {
				t.Fatalf("UpdateService currentServiceDeployment = %q, want a new deployment", d2)
			}
			if st := h.describe(d1).Status; st != ecstypes.ServiceDeploymentStatusStopRequested && st != ecstypes.ServiceDeploymentStatusStopped {
				t.Errorf("superseded deployment right after UpdateService: %s, want STOP_REQUESTED", st)
			}
			r2 := h.wait(d2)
			r1, _ := h.em.Report(d1)
			served, failed, _, failures := l.finish()

			if got, want := r1.StatusNames(), []string{StatusPending, StatusInProgress, StatusStopRequested, StatusStopped}; !reflect.DeepEqual(got, want) {
				t.Errorf("superseded deployment statuses %v, want %v", got, want)
			}
			if !strings.Contains(r1.StatusReason, d2) {
				t.Errorf("superseded statusReason %q does not name %s", r1.StatusReason, d2)
			}
			if r2.Status != StatusSuccessful || r2.StageNames()[0] != StageReconcileService {
				t.Errorf("new deployment %s with stages %v; want SUCCESSFUL starting with RECONCILE_SERVICE", r2.Status, r2.StageNames())
			}
			// Blue is whatever production served when the new deployment started.
			wantBlue := r1.SourceRevisionARNs[0]
			if at == StageBakeTime {
				wantBlue = r1.TargetRevisionARN
			}
			if !reflect.DeepEqual(r2.SourceRevisionARNs, []string{wantBlue}) {
				t.Errorf("new deployment's source %v, want %s", r2.SourceRevisionARNs, wantBlue)
			}
			tasks, _ := h.em.Tasks("prod", name)
			for _, ti := range tasks {
				if ti.RevisionARN != r2.TargetRevisionARN && ti.LastStatus != "STOPPED" {
					t.Errorf("task %s of an older revision still %s", ti.ARN, ti.LastStatus)
				}
			}
			if _, body := get(t, prodURL); body != "v3" {
				t.Errorf("production answers %q, want v3", body)
			}
			if failed != 0 {
				t.Errorf("production failed %d of %d: %v", failed, served+failed, failures[:min(3, len(failures))])
			}
			list, err := h.ecs.ListServiceDeployments(h.ctx, &ecs.ListServiceDeploymentsInput{Cluster: aws.String("prod"), Service: aws.String(name)})
			if err != nil {
				t.Fatal(err)
			}
			var statuses []string
			for _, b := range list.ServiceDeployments {
				statuses = append(statuses, string(b.Status))
			}
			if want := []string{StatusSuccessful, StatusStopped, StatusSuccessful}; !reflect.DeepEqual(statuses, want) {
				t.Errorf("ListServiceDeployments statuses (newest first) %v, want %v", statuses, want)
			}
		})
	}
}

// TestAlarmAlreadyInAlarm follows reference §5.3: an alarm already in ALARM when the
// deployment starts makes ECS ignore alarms for the whole deployment, so a bad green goes
// through.
func TestAlarmAlreadyInAlarm(t *testing.T) {
	const alarm = "web-5xx-rate"
	a := rateAlarm(alarm, lbName, tgA, tgB)
	a.StateValue, a.StateReason = cwtypes.StateValueAlarm, aws.String("set by hand")
	cw := newFakeCW(a)
	h := newHarness(t, harnessOpts{cw: cw})
	_, name := h.create(svcSpec{desired: 1, bake: 2, alarms: &ecstypes.DeploymentAlarms{AlarmNames: []string{alarm}, Enable: true, Rollback: true}})
	prodURL, _, _ := h.em.Listeners("prod", name)
	l := startLoad(prodURL)
	r := h.wait(h.deploy(name, map[string]string{"VERSION": "green", "ERROR_RATE": "1"}))
	_, failed, _, _ := l.finish()
	if r.Status != StatusSuccessful || !r.AlarmsIgnored {
		t.Fatalf("status %s (%s), alarmsIgnored %v; want SUCCESSFUL with alarms ignored", r.Status, r.StatusReason, r.AlarmsIgnored)
	}
	if failed == 0 {
		t.Error("green served no error; the test would not show the alarm being ignored")
	}
	d := h.describe(r.ARN)
	if d.Alarms == nil || d.Alarms.Status != ecstypes.ServiceDeploymentRollbackMonitorsStatusDisabled || len(d.Alarms.TriggeredAlarmNames) != 0 {
		t.Errorf("alarms = %+v, want DISABLED with nothing triggered", d.Alarms)
	}

	// The next deployment, started with the alarm back to OK, is guarded again.
	cw.mu.Lock()
	cw.alarms[alarm].StateValue = cwtypes.StateValueOk
	cw.mu.Unlock()
	r2 := h.wait(h.deploy(name, map[string]string{"VERSION": "green2", "ERROR_RATE": "1"}))
	if r2.AlarmsIgnored {
		t.Error("second deployment ignored alarms although the alarm was OK at its start")
	}
}

// TestPhaseTraffic checks the rehearsal's per-phase counts: every production request of the
// deployment lands in exactly one phase, and none failed.
func TestPhaseTraffic(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	_, name := h.create(svcSpec{desired: 1, bake: 1})
	prodURL, _, _ := h.em.Listeners("prod", name)
	l := startLoad(prodURL)
	arn := h.deploy(name, map[string]string{"VERSION": "green"})
	r := h.wait(arn)
	time.Sleep(20 * time.Millisecond)
	served, failed, _, _ := l.finish()
	all, err := h.em.Traffic("prod", name)
	if err != nil {
		t.Fatal(err)
	}
	var total, fails int64
	stages := map[string]bool{}
	for _, p := range all {
		if p.Listener != ListenerProduction {
			continue
		}
		total += p.Served
		fails += p.Failed
		if p.ServiceDeploymentARN == arn {
			stages[p.Stage] = true
		}
	}
	if total != int64(served+failed) || fails != int64(failed) {
		t.Errorf("phases count %d requests (%d failed); the client sent %d (%d failed)", total, fails, served+failed, failed)
	}
	for _, st := range []string{StageScaleUp, StageBakeTime} {
		if !stages[st] {
			t.Errorf("no production traffic recorded in %s; phases %+v", st, all)
		}
	}
	if len(r.Traffic) == 0 {
		t.Error("the deployment report has no traffic")
	}
}
