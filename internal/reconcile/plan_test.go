package reconcile_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/reconcile"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// planRoutes: prod/web is named by two routes (web-prod deploys v-tags into container app,
// web-all every tag into container other); staging/web only by web-all; prod/api by api.
const planRoutes = `{"version": 1, "routes": [
  {"name": "web-prod", "repository": "web", "tagPattern": "v\\d+\\.\\d+\\.\\d+",
   "targets": [{"cluster": "prod", "service": "web", "container": "app"}]},
  {"name": "web-all", "repository": "web", "tagPattern": ".*",
   "targets": [{"cluster": "prod", "service": "web", "container": "other"}, {"cluster": "staging", "service": "web", "container": "app"}]},
  {"name": "api", "repository": "team/api", "tagPattern": "main-[0-9a-f]{7}", "targets": [{"cluster": "prod", "service": "api", "container": "api"}]}
]}`

var now = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

// digest n is sha256:<n as 12 hex digits><52 zeros>, so its short form tells images apart.
func digest(n int) string { return fmt.Sprintf("sha256:%012x%052x", n, 0) }

func img(n int, ago time.Duration, tags ...string) reconcile.Image {
	return reconcile.Image{Digest: digest(n), Tags: tags, PushedAt: now.Add(-ago)}
}

// record is a deployment record of image n to the service.
func record(id string, n int, source string, pushedAgo, startedAgo time.Duration, outcome result.Outcome) result.Result {
	r := result.Result{ID: id, Outcome: outcome, Image: result.Image{Repository: "web", Tag: "t" + id, Digest: digest(n)},
		Trigger: result.Trigger{Source: source}, StartedAt: now.Add(-startedAgo)}
	if pushedAgo > 0 {
		r.Trigger.PushedAt = now.Add(-pushedAgo)
	}
	return r
}

func apiRecord(r result.Result) result.Result {
	r.Image.Repository = "team/api"
	return r
}

func hist(rs ...result.Result) reconcile.ServiceState { return reconcile.ServiceState{History: rs} }

type want struct {
	action    reconcile.Action
	reason    reconcile.Reason
	route     string
	tag       string
	container string
	detail    string // substring
}

func TestPlan(t *testing.T) {
	doc := routes.MustParse([]byte(planRoutes))
	webV1 := img(1, 3*time.Hour, "v1.0.0")
	webV2 := img(2, 2*time.Hour, "v1.1.0", "latest")
	deployedV1 := hist(record("e1", 1, "ecr-push", 3*time.Hour, 3*time.Hour, result.Succeeded))
	tests := []struct {
		name     string
		images   map[string][]reconcile.Image
		errs     map[string]error
		services map[string]reconcile.ServiceState
		grace    time.Duration
		want     map[string]want // by target key; services not listed are not checked
	}{
		{
			name:     "missed push is started with the route a push of that tag would have used",
			images:   map[string][]reconcile.Image{"web": {webV1, webV2}},
			services: map[string]reconcile.ServiceState{"prod/web": deployedV1, "staging/web": deployedV1},
			grace:    5 * time.Minute,
			want: map[string]want{
				// v1.1.0 and latest are the same image: web-prod takes v1.1.0 into container app.
				"prod/web": {action: reconcile.ActionStart, route: "web-prod", tag: "v1.1.0", container: "app", detail: "greenlight never saw it"},
				// staging/web is only named by web-all: the lexically greatest tag of the image, v1.1.0.
				"staging/web": {action: reconcile.ActionStart, route: "web-all", tag: "v1.1.0", container: "app"},
				"prod/api":    {action: reconcile.ActionSkip, reason: reconcile.ReasonNoImage, route: "api", detail: "team/api"},
			},
		},
		{
			name:     "a tag only the second route matches takes that route's container",
			images:   map[string][]reconcile.Image{"web": {webV1, img(3, time.Hour, "nightly")}},
			services: map[string]reconcile.ServiceState{"prod/web": deployedV1},
			want:     map[string]want{"prod/web": {action: reconcile.ActionStart, route: "web-all", tag: "nightly", container: "other"}},
		},
		{
			name:     "newest image already deployed",
			images:   map[string][]reconcile.Image{"web": {webV1, webV2}},
			services: map[string]reconcile.ServiceState{"prod/web": hist(record("e2", 2, "ecr-push", 2*time.Hour, 2*time.Hour, result.RolledBack), record("e1", 1, "ecr-push", 3*time.Hour, 3*time.Hour, result.Succeeded))},
			want:     map[string]want{"prod/web": {action: reconcile.ActionSkip, reason: reconcile.ReasonDeployed, detail: "e2 ROLLED_BACK"}},
		},
		{
			name:     "within the grace period",
			images:   map[string][]reconcile.Image{"web": {webV1, img(2, 2*time.Minute, "v1.1.0")}},
			services: map[string]reconcile.ServiceState{"prod/web": deployedV1},
			grace:    5 * time.Minute,
			want:     map[string]want{"prod/web": {action: reconcile.ActionSkip, reason: reconcile.ReasonGrace, tag: "v1.1.0", detail: "2m0s ago"}},
		},
		{
			name:     "just past the grace period",
			images:   map[string][]reconcile.Image{"web": {webV1, img(2, 5*time.Minute, "v1.1.0")}},
			services: map[string]reconcile.ServiceState{"prod/web": deployedV1},
			grace:    5 * time.Minute,
			want:     map[string]want{"prod/web": {action: reconcile.ActionStart, tag: "v1.1.0"}},
		},
		{
			name:   "older than a deployed image that is no longer listed",
			images: map[string][]reconcile.Image{"web": {webV1, webV2}},
			services: map[string]reconcile.ServiceState{"prod/web": hist(
				record("e9", 9, "ecr-push", time.Hour, time.Hour, result.Succeeded), record("e1", 1, "ecr-push", 3*time.Hour, 3*time.Hour, result.Succeeded))},
			want: map[string]want{"prod/web": {action: reconcile.ActionSkip, reason: reconcile.ReasonNotNewer, detail: "never deploy an older image over a newer one"}},
		},
		{
			name:   "pushed before a rollback a person started",
			images: map[string][]reconcile.Image{"web": {webV1, webV2}},
			services: map[string]reconcile.ServiceState{"prod/web": hist(
				record("r1", 1, "rollback", 0, 30*time.Minute, result.Succeeded), record("e1", 1, "ecr-push", 3*time.Hour, 3*time.Hour, result.Succeeded))},
			want: map[string]want{"prod/web": {action: reconcile.ActionSkip, reason: reconcile.ReasonNotNewer, detail: "rollback deployment started"}},
		},
		{
			name:   "pushed after a regression rollback",
			images: map[string][]reconcile.Image{"web": {webV1, img(3, 10*time.Minute, "v1.2.0")}},
			services: map[string]reconcile.ServiceState{"prod/web": hist(
				record("r1", 1, "regression-rollback", 0, 30*time.Minute, result.Succeeded), record("e2", 2, "ecr-push", 2*time.Hour, 2*time.Hour, result.Regressed))},
			want: map[string]want{"prod/web": {action: reconcile.ActionStart, tag: "v1.2.0"}},
		},
		{
			name: "the listing's push time wins over the record's trigger time",
			// e9 deployed team/api image 9, now tagged pr-9 (which the route does not match). Its
			// event said 3 h ago, but ECR says it was pushed 30 min ago: main-0a1b2c3 is older.
			images:   map[string][]reconcile.Image{"team/api": {img(9, 30*time.Minute, "pr-9"), img(2, 2*time.Hour, "main-0a1b2c3")}},
			services: map[string]reconcile.ServiceState{"prod/api": hist(apiRecord(record("e9", 9, "ecr-push", 3*time.Hour, 3*time.Hour, result.Succeeded)))},
			want:     map[string]want{"prod/api": {action: reconcile.ActionSkip, reason: reconcile.ReasonNotNewer, tag: "main-0a1b2c3", detail: "pushed 2026-11-20T11:30:00Z"}},
		},
		{
			name:     "a service greenlight never deployed",
			images:   map[string][]reconcile.Image{"web": {webV1, webV2}},
			services: map[string]reconcile.ServiceState{},
			want:     map[string]want{"prod/web": {action: reconcile.ActionSkip, reason: reconcile.ReasonNoHistory, detail: "first deployment"}},
		},
		{
			name:     "records without an image are no history",
			images:   map[string][]reconcile.Image{"web": {webV2}},
			services: map[string]reconcile.ServiceState{"prod/web": hist(result.Result{ID: "x/resolve", Outcome: result.Failed, StartedAt: now})},
			want:     map[string]want{"prod/web": {action: reconcile.ActionSkip, reason: reconcile.ReasonNoHistory}},
		},
		{
			name:     "tie on push time: the lexically greatest tag",
			images:   map[string][]reconcile.Image{"web": {webV1, img(5, time.Hour, "v1.2.10"), img(6, time.Hour, "v1.2.9")}},
			services: map[string]reconcile.ServiceState{"prod/web": deployedV1},
			want:     map[string]want{"prod/web": {action: reconcile.ActionStart, tag: "v1.2.9"}},
		},
		{
			name:     "listing failed",
			images:   map[string][]reconcile.Image{"web": {webV1, webV2}},
			errs:     map[string]error{"team/api": errors.New("AccessDeniedException")},
			services: map[string]reconcile.ServiceState{"prod/web": deployedV1},
			want: map[string]want{
				"prod/api": {action: reconcile.ActionSkip, reason: reconcile.ReasonECRError, detail: "AccessDenied"},
				"prod/web": {action: reconcile.ActionStart, tag: "v1.1.0"},
			},
		},
		{
			name:     "history unreadable",
			images:   map[string][]reconcile.Image{"web": {webV1, webV2}},
			services: map[string]reconcile.ServiceState{"prod/web": {Err: errors.New("throttled")}},
			want:     map[string]want{"prod/web": {action: reconcile.ActionSkip, reason: reconcile.ReasonLedgerError, detail: "throttled"}},
		},
		{
			name:     "another service's history does not count",
			images:   map[string][]reconcile.Image{"web": {webV1, webV2}},
			services: map[string]reconcile.ServiceState{"prod/web": deployedV1, "staging/web": hist(record("s2", 2, "ecr-push", 2*time.Hour, 2*time.Hour, result.Succeeded))},
			want: map[string]want{
				"prod/web":    {action: reconcile.ActionStart},
				"staging/web": {action: reconcile.ActionSkip, reason: reconcile.ReasonDeployed},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := reconcile.Plan(reconcile.Input{Routes: doc, Images: tt.images, ImageErrs: tt.errs, Services: tt.services, Now: now, Grace: tt.grace})
			if len(got) != 3 {
				t.Fatalf("Plan: %d decisions; want one per service (3): %+v", len(got), got)
			}
			seen := map[string]bool{}
			for _, d := range got {
				k := d.Target.Key()
				if seen[k] {
					t.Errorf("Plan decided twice for %s", k)
				}
				seen[k] = true
				w, ok := tt.want[k]
				if !ok {
					continue
				}
				if d.Action != w.action || d.Reason != w.reason {
					t.Errorf("%s: %s/%s (%s); want %s/%s", k, d.Action, d.Reason, d.Detail, w.action, w.reason)
				}
				if (d.Action == reconcile.ActionSkip) == (d.Reason == "") {
					t.Errorf("%s: action %s with reason %q: a skip always has a reason, a start never", k, d.Action, d.Reason)
				}
				if w.route != "" && d.Route != w.route {
					t.Errorf("%s: route %s; want %s", k, d.Route, w.route)
				}
				if w.tag != "" && d.Image.Tag != w.tag {
					t.Errorf("%s: tag %s; want %s", k, d.Image.Tag, w.tag)
				}
				if w.container != "" && d.Target.Container != w.container {
					t.Errorf("%s: container %s; want %s", k, d.Target.Container, w.container)
				}
				if !strings.Contains(d.Detail, w.detail) {
					t.Errorf("%s: detail %q; want it to contain %q", k, d.Detail, w.detail)
				}
				if d.Action == reconcile.ActionStart && (d.Image.Digest == "" || d.Image.Repository == "" || d.PushedAt.IsZero()) {
					t.Errorf("%s: start without a complete image: %+v at %s", k, d.Image, d.PushedAt)
				}
			}
		})
	}
}

func TestCheckRunning(t *testing.T) {
	start := reconcile.Decision{Target: routes.Target{Cluster: "prod", Service: "web", Container: "app"},
		Image: result.Image{Repository: "web", Tag: "v1.1.0", Digest: digest(2)}, Action: reconcile.ActionStart}
	reg := "111122223333.dkr.ecr.eu-west-1.amazonaws.com/"
	tests := []struct {
		name    string
		d       reconcile.Decision
		running string
		want    reconcile.Reason
	}{
		{"runs the digest", start, reg + "web@" + digest(2), reconcile.ReasonRunning},
		{"runs another digest", start, reg + "web@" + digest(1), ""},
		{"runs the tag, not pinned", start, reg + "web:v1.1.0", ""},
		{"same digest from another repository", start, reg + "other@" + digest(2), ""},
		{"a skip stays a skip", reconcile.Decision{Action: reconcile.ActionSkip, Reason: reconcile.ReasonGrace}, reg + "web@" + digest(2), reconcile.ReasonGrace},
	}
	for _, tt := range tests {
		if got := reconcile.CheckRunning(tt.d, tt.running); got.Reason != tt.want {
			t.Errorf("%s: CheckRunning(%s) reason = %q; want %q", tt.name, tt.running, got.Reason, tt.want)
		}
	}
}

func TestExecutionName(t *testing.T) {
	d := digest(0x7f5b2640fe6f) // sha256:7f5b2640fe6f000…
	if got := reconcile.ExecutionName(routes.Target{Cluster: "prod", Service: "web"}, "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678"); got != "reconcile-prod-web-7f5b2640fe6f" {
		t.Errorf("ExecutionName(prod/web) = %s", got)
	}
	long := strings.Repeat("c", 100)
	a := reconcile.ExecutionName(routes.Target{Cluster: long, Service: "web-a"}, d)
	b := reconcile.ExecutionName(routes.Target{Cluster: long, Service: "web-b"}, d)
	if len(a) > 80 || len(b) > 80 || a == b || !strings.HasPrefix(a, "reconcile-ccc") || !strings.HasSuffix(a, "-"+result.ShortDigest(d)) {
		t.Errorf("long names: %s (%d), %s (%d); want distinct, at most 80 characters, ending in the short digest", a, len(a), b, len(b))
	}
	if again := reconcile.ExecutionName(routes.Target{Cluster: long, Service: "web-a"}, d); again != a {
		t.Errorf("ExecutionName is not deterministic: %s then %s", a, again)
	}
}

func TestExecutionARN(t *testing.T) {
	got, err := reconcile.ExecutionARN("arn:aws:states:eu-west-1:111122223333:stateMachine:greenlight-deploy", "reconcile-prod-web-7f5b2640fe6f")
	if err != nil || got != "arn:aws:states:eu-west-1:111122223333:execution:greenlight-deploy:reconcile-prod-web-7f5b2640fe6f" {
		t.Errorf("ExecutionARN = %s, %v", got, err)
	}
	if _, err := reconcile.ExecutionARN("greenlight-deploy", "x"); err == nil || !strings.Contains(err.Error(), "not a state machine ARN") {
		t.Errorf("ExecutionARN(name only) error = %v; want one naming the expected form", err)
	}
}

func TestNoteAndRequest(t *testing.T) {
	d := reconcile.Decision{Route: "web-prod", Target: routes.Target{Cluster: "prod", Service: "web", Container: "app"},
		Image: result.Image{Repository: "web", Tag: "v1.1.0", Digest: digest(2)}, PushedAt: now.Add(-time.Hour), Action: reconcile.ActionStart}
	r := reconcile.Request(d)
	if r.Source != "reconcile" || r.Route != "web-prod" || r.Cluster != "prod" || r.Service != "web" || r.Image.Digest != digest(2) ||
		!r.PushedAt.Equal(d.PushedAt) || r.Note != "found by reconciliation: the push event for v1.1.0 at 2026-11-20T11:00:00Z never arrived" {
		t.Errorf("Request = %+v", r)
	}
}
