package alarmwatch

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

func TestDecidePreflight(t *testing.T) {
	tests := []struct {
		name   string
		when   string
		firing []string
		remedy bool
		want   PreflightVerdict
	}{
		{"nothing firing, default", "", nil, false, PreflightVerdict{}},
		{"nothing firing, warn", "warn", nil, false, PreflightVerdict{}},
		{"firing, default blocks", "", []string{"web-5xx-rate"}, false, PreflightVerdict{Blocked: true}},
		{"firing, block", "block", []string{"web-5xx-rate"}, false, PreflightVerdict{Blocked: true}},
		{"firing, warn", "warn", []string{"web-5xx-rate"}, false, PreflightVerdict{Warn: true}},
		{"several firing, warn", "warn", []string{"a", "b"}, false, PreflightVerdict{Warn: true}},
		{"unknown mode blocks", "ignore", []string{"a"}, false, PreflightVerdict{Blocked: true}},
		{"mode is case-sensitive, as routes validates it", "WARN", []string{"a"}, false, PreflightVerdict{Blocked: true}},
		{"regression rollback is never blocked", "block", []string{"a"}, true, PreflightVerdict{Warn: true}},
		{"regression rollback, nothing firing", "block", nil, true, PreflightVerdict{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecidePreflight(tt.when, tt.firing, tt.remedy); got != tt.want {
				t.Errorf("DecidePreflight(%q, %v, rollback %v) = %+v, want %+v", tt.when, tt.firing, tt.remedy, got, tt.want)
			}
		})
	}
}

func TestWarnTextSaysWhy(t *testing.T) {
	since := time.Date(2026, 11, 20, 10, 2, 0, 0, time.UTC)
	w := WarnText(result.AlarmEvidence{Name: "web-5xx-rate", StateSince: since}, false)
	for _, want := range []string{"web-5xx-rate", "already in ALARM since 2026-11-20 10:02 UTC", "whenAlreadyFiring: warn", "ECS ignores", "whole deployment", "greenlight's own watch stays armed"} {
		if !strings.Contains(w, want) {
			t.Errorf("WarnText = %q; want it to contain %q", w, want)
		}
	}
	if w := WarnText(result.AlarmEvidence{Name: "web-5xx-rate"}, true); !strings.Contains(w, "is a rollback, which an alarm never blocks") || strings.Contains(w, "since") {
		t.Errorf("WarnText for a regression rollback = %q", w)
	}
}

func TestNewlyFiring(t *testing.T) {
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	baseline := []result.AlarmEvidence{{Name: "old", State: "ALARM", StateSince: t0}}
	tests := []struct {
		name   string
		alarms []Observed
		want   []string
	}{
		{"all OK", []Observed{{"a", "OK", t0}, {"old", "OK", t0}}, nil},
		{"insufficient data is not firing", []Observed{{"a", "INSUFFICIENT_DATA", t0}}, nil},
		{"new alarm fires", []Observed{{"a", "ALARM", t0.Add(time.Minute)}}, []string{"a"}},
		{"baseline alarm still in the same ALARM period", []Observed{{"old", "ALARM", t0}}, nil},
		{"baseline alarm fired again later", []Observed{{"old", "ALARM", t0.Add(5 * time.Minute)}}, []string{"old"}},
		{"order kept", []Observed{{"b", "ALARM", t0}, {"old", "ALARM", t0}, {"a", "ALARM", t0}}, []string{"b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewlyFiring(tt.alarms, baseline); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("NewlyFiring(%v) = %v, want %v", tt.alarms, got, tt.want)
			}
		})
	}
}

// TestDecideDuring crosses alarm states × deployment status × stage.
func TestDecideDuring(t *testing.T) {
	type alarms struct {
		route, triggered, recorded []string
	}
	none := alarms{}
	routeFiring := alarms{route: []string{"web-5xx-rate"}}
	ecsTriggered := alarms{triggered: []string{"web-5xx-rate"}}
	both := alarms{route: []string{"web-5xx-rate", "web-latency"}, triggered: []string{"web-5xx-rate", "svc-alarm"}}
	recorded := alarms{route: []string{"web-5xx-rate"}, recorded: []string{"web-5xx-rate"}}

	tests := []struct {
		alarms    alarms
		status    string
		stages    []string
		done      bool
		requested bool
		noARN     bool
		want      DuringAction
		record    []string
	}{
		// No alarm: nothing, whatever the status and stage.
		{alarms: none, status: "IN_PROGRESS", stages: allStages, want: DuringNothing},
		{alarms: none, status: "ROLLBACK_IN_PROGRESS", stages: []string{"BAKE_TIME"}, want: DuringNothing},
		// A route alarm while the deployment can be stopped: roll back, at every stage,
		// including before traffic (preflight would have blocked) and in CLEAN_UP (ECS no
		// longer does).
		{alarms: routeFiring, status: "IN_PROGRESS", stages: allStages, want: DuringRollback, record: []string{"web-5xx-rate"}},
		{alarms: routeFiring, status: "PENDING", stages: []string{"", "RECONCILE_SERVICE"}, want: DuringRollback, record: []string{"web-5xx-rate"}},
		// ECS reports a triggered alarm but has not started rolling back (rollback: false on
		// the service, or greenlight polled first): roll back.
		{alarms: ecsTriggered, status: "IN_PROGRESS", stages: []string{"BAKE_TIME"}, want: DuringRollback, record: []string{"web-5xx-rate"}},
		// ECS is already rolling back or stopping: evidence only.
		{alarms: ecsTriggered, status: "ROLLBACK_REQUESTED", stages: []string{"BAKE_TIME"}, want: DuringRecord, record: []string{"web-5xx-rate"}},
		{alarms: ecsTriggered, status: "ROLLBACK_IN_PROGRESS", stages: []string{"PRODUCTION_TRAFFIC_SHIFT"}, want: DuringRecord, record: []string{"web-5xx-rate"}},
		{alarms: routeFiring, status: "STOP_REQUESTED", stages: []string{"TEST_TRAFFIC_SHIFT"}, want: DuringRecord, record: []string{"web-5xx-rate"}},
		// Terminal: record and refresh, never stop.
		{alarms: ecsTriggered, status: "ROLLBACK_SUCCESSFUL", stages: []string{"CLEAN_UP"}, done: true, want: DuringRecord, record: []string{"web-5xx-rate"}},
		{alarms: routeFiring, status: "SUCCESSFUL", stages: []string{"CLEAN_UP"}, done: true, want: DuringRecord, record: []string{"web-5xx-rate"}},
		{alarms: routeFiring, status: "ROLLBACK_FAILED", stages: []string{"BAKE_TIME"}, done: true, want: DuringRecord, record: []string{"web-5xx-rate"}},
		// Terminal status seen before check marked the job done: still no stop.
		{alarms: routeFiring, status: "STOPPED", stages: []string{"SCALE_UP"}, want: DuringRecord, record: []string{"web-5xx-rate"}},
		// Terminal poll with evidence already recorded and nothing firing now: refresh.
		{alarms: alarms{recorded: []string{"web-5xx-rate"}}, status: "ROLLBACK_SUCCESSFUL", stages: []string{"CLEAN_UP"}, done: true, want: DuringRecord},
		// Already asked: record nothing new, do nothing.
		{alarms: recorded, status: "IN_PROGRESS", stages: []string{"BAKE_TIME"}, requested: true, want: DuringNothing},
		// Already asked, but a second alarm fires: record it, do not ask again.
		{alarms: alarms{route: []string{"web-5xx-rate", "web-latency"}, recorded: []string{"web-5xx-rate"}}, status: "IN_PROGRESS", stages: []string{"BAKE_TIME"}, requested: true, want: DuringRecord, record: []string{"web-latency"}},
		// Recorded but not yet asked (a failed stop): ask again.
		{alarms: recorded, status: "IN_PROGRESS", stages: []string{"BAKE_TIME"}, want: DuringRollback},
		// Several alarms, route and ECS, deduplicated.
		{alarms: both, status: "IN_PROGRESS", stages: []string{"POST_PRODUCTION_TRAFFIC_SHIFT"}, want: DuringRollback, record: []string{"web-5xx-rate", "web-latency", "svc-alarm"}},
		// No service-deployment ARN yet: cannot stop; record.
		{alarms: routeFiring, status: "PENDING", stages: []string{""}, noARN: true, want: DuringRecord, record: []string{"web-5xx-rate"}},
	}
	for _, tt := range tests {
		for _, stage := range tt.stages {
			name := fmt.Sprintf("%s/%s/route=%v,ecs=%v,recorded=%v,asked=%v,done=%v", tt.status, stage, tt.alarms.route, tt.alarms.triggered, tt.alarms.recorded, tt.requested, tt.done)
			t.Run(name, func(t *testing.T) {
				in := DuringInput{
					Status: tt.status, Stage: stage, Done: tt.done, HasDeployment: !tt.noARN,
					RouteFiring: tt.alarms.route, Triggered: tt.alarms.triggered, Recorded: tt.alarms.recorded,
					RollbackRequested: tt.requested,
				}
				got := DecideDuring(in)
				if got.Action != tt.want {
					t.Errorf("DecideDuring(%+v).Action = %v (why: %s), want %v", in, got.Action, got.Why, tt.want)
				}
				if !reflect.DeepEqual(got.Record, tt.record) {
					t.Errorf("DecideDuring(%+v).Record = %v, want %v", in, got.Record, tt.record)
				}
				if got.Refresh != tt.done {
					t.Errorf("DecideDuring(%+v).Refresh = %v, want %v (refresh exactly on the terminal poll)", in, got.Refresh, tt.done)
				}
				if got.Action != DuringRollback && got.Why == "" {
					t.Errorf("DecideDuring(%+v): no rollback and no reason why", in)
				}
			})
		}
	}
}

var allStages = []string{"RECONCILE_SERVICE", "PRE_SCALE_UP", "SCALE_UP", "POST_SCALE_UP", "TEST_TRAFFIC_SHIFT",
	"POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME", "CLEAN_UP"}

func TestStoppableAndRollingBack(t *testing.T) {
	tests := []struct {
		status           string
		stoppable, going bool
	}{
		{"PENDING", true, false}, {"IN_PROGRESS", true, false},
		{"SUCCESSFUL", false, false}, {"STOPPED", false, true}, {"STOP_REQUESTED", false, true},
		{"ROLLBACK_REQUESTED", false, true}, {"ROLLBACK_IN_PROGRESS", false, true},
		{"ROLLBACK_SUCCESSFUL", false, true}, {"ROLLBACK_FAILED", false, true}, {"", false, false},
	}
	for _, tt := range tests {
		if got := Stoppable(tt.status); got != tt.stoppable {
			t.Errorf("Stoppable(%q) = %v, want %v", tt.status, got, tt.stoppable)
		}
		if got := RollingBack(tt.status); got != tt.going {
			t.Errorf("RollingBack(%q) = %v, want %v", tt.status, got, tt.going)
		}
	}
}

func TestDecidePost(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name string
		in   PostInput
		want PostAction
	}{
		{"quiet, window open", PostInput{Now: now, Until: now.Add(time.Minute)}, PostWatch},
		{"quiet, window over", PostInput{Now: now, Until: now}, PostWindowOver},
		{"quiet, long past", PostInput{Now: now, Until: now.Add(-time.Hour)}, PostWindowOver},
		{"alarm in window", PostInput{Now: now, Until: now.Add(time.Minute), Firing: []string{"a"}}, PostRegressed},
		{"alarm on the last poll still counts", PostInput{Now: now, Until: now, Firing: []string{"a"}}, PostRegressed},
		{"newer deployment ends the watch", PostInput{Now: now, Until: now.Add(time.Minute), Newer: "job x"}, PostSuperseded},
		{"newer deployment wins over an alarm", PostInput{Now: now, Until: now.Add(time.Minute), Newer: "job x", Firing: []string{"a"}}, PostSuperseded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DecidePost(tt.in); got != tt.want {
				t.Errorf("DecidePost(%+v) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecideRegressionRollback(t *testing.T) {
	good := &result.Result{ID: "exec-1/prod/web", Image: result.Image{Repository: "web", Tag: "v1.2.2", Digest: "sha256:aaaaaaaaaaaaaaaa"},
		FinishedAt: time.Date(2026, 11, 19, 10, 0, 0, 0, time.UTC)}
	tests := []struct {
		name     string
		on       bool
		lastGood *result.Result
		request  bool
		err      error
		detail   string
	}{
		{"off", false, good, false, nil, "rollbackOnRegression is off for this route: the regressed revision keeps serving; roll back with `greenlight rollback --service prod/web`"},
		{"on, target", true, good, true, nil, "redeploying the last good revision web:v1.2.2@aaaaaaaaaaaa (result exec-1/prod/web, deployed 2026-11-19 10:00 UTC)"},
		{"on, no target", true, nil, false, ErrNoRollbackTarget, "no earlier good revision to roll back to"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := DecideRegressionRollback(tt.on, tt.lastGood, "prod/web")
			if got.Request != tt.request || !errors.Is(got.Err, tt.err) || (got.Err == nil) != (tt.err == nil) {
				t.Errorf("DecideRegressionRollback(%v, %v) = request %v err %v, want %v %v", tt.on, tt.lastGood != nil, got.Request, got.Err, tt.request, tt.err)
			}
			if !strings.Contains(got.Detail, tt.detail) {
				t.Errorf("detail = %q, want it to contain %q", got.Detail, tt.detail)
			}
			if got.Request && got.Target != tt.lastGood {
				t.Errorf("target = %v, want the last good result", got.Target)
			}
		})
	}
}

func TestNewerInHistory(t *testing.T) {
	me := result.Result{ID: "e2/prod/web", Outcome: result.Succeeded}
	tests := []struct {
		name string
		hist []result.Result
		want bool
	}{
		{"mine is newest", []result.Result{me, {ID: "e1/prod/web", Outcome: result.Succeeded}}, false},
		{"newer success", []result.Result{{ID: "e3/prod/web", Outcome: result.Succeeded}, me}, true},
		{"newer rollback", []result.Result{{ID: "e3/prod/web", Outcome: result.RolledBack}, me}, true},
		{"newer failure after ECS started", []result.Result{{ID: "e3/prod/web", Outcome: result.Failed, ServiceDeploymentARN: "arn:sd"}, me}, true},
		{"newer failure before ECS", []result.Result{{ID: "e3/prod/web", Outcome: result.Failed}, me}, false},
		{"newer skip, superseded, blocked", []result.Result{{ID: "e5", Outcome: result.Skipped}, {ID: "e4", Outcome: result.Superseded}, {ID: "e3", Outcome: result.Blocked}, me}, false},
		{"a follow-up", []result.Result{{ID: "e1/regressed", Outcome: result.Regressed, FollowUpOf: "e1"}, me}, false},
		{"mine not in the page", []result.Result{{ID: "e9", Outcome: result.Skipped}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewerInHistory(tt.hist, me.ID); (got != "") != tt.want {
				t.Errorf("NewerInHistory = %q, want newer=%v", got, tt.want)
			}
		})
	}
}
