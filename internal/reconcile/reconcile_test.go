package reconcile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/reconcile"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

const smARN = "arn:aws:states:eu-west-1:111122223333:stateMachine:greenlight-deploy"

type fakeRoutes struct{ doc *routes.Document }

func (f fakeRoutes) Load(context.Context) (*routes.Document, error) { return f.doc, nil }

// fakeECR serves each repository's listing in pages of two.
type fakeECR struct {
	images map[string][]ecrtypes.ImageDetail
	errs   map[string]error
	calls  int
}

func (f *fakeECR) DescribeImages(_ context.Context, in *ecr.DescribeImagesInput, _ ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error) {
	f.calls++
	repo := aws.ToString(in.RepositoryName)
	if err := f.errs[repo]; err != nil {
		return nil, err
	}
	if in.Filter == nil || in.Filter.TagStatus != ecrtypes.TagStatusTagged {
		return nil, errors.New("fakeECR: want the TAGGED filter")
	}
	all := f.images[repo]
	start := 0
	if in.NextToken != nil {
		start = int(aws.ToString(in.NextToken)[0] - '0')
	}
	end := min(start+2, len(all))
	out := &ecr.DescribeImagesOutput{ImageDetails: all[start:end]}
	if end < len(all) {
		out.NextToken = aws.String(string(rune('0' + end)))
	}
	return out, nil
}

func detail(n int, pushed time.Time, tags ...string) ecrtypes.ImageDetail {
	return ecrtypes.ImageDetail{ImageDigest: aws.String(digest(n)), ImageTags: tags, ImagePushedAt: aws.Time(pushed)}
}

// fakeECS: each service runs one task definition with an "app" container.
type fakeECS struct {
	running map[string]string // service key -> image
	err     error
}

func (f *fakeECS) DescribeServices(_ context.Context, in *ecs.DescribeServicesInput, _ ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	k := aws.ToString(in.Cluster) + "/" + in.Services[0]
	if _, ok := f.running[k]; !ok {
		return &ecs.DescribeServicesOutput{}, nil
	}
	return &ecs.DescribeServicesOutput{Services: []ecstypes.Service{{ServiceName: aws.String(in.Services[0]), Status: aws.String("ACTIVE"), TaskDefinition: aws.String("td/" + k)}}}, nil
}

func (f *fakeECS) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	k := strings.TrimPrefix(aws.ToString(in.TaskDefinition), "td/")
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &ecstypes.TaskDefinition{
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), Image: aws.String(f.running[k])}},
	}}, nil
}

// fakeSFN records starts; a name started before answers ExecutionAlreadyExists.
type fakeSFN struct {
	inputs map[string]string
	err    error
	// replay answers a second start of a name like AWS does for a running execution started
	// with the same input: success, with the original start date.
	replay bool
	when   map[string]time.Time
	now    func() time.Time
}

func (f *fakeSFN) StartExecution(_ context.Context, in *sfn.StartExecutionInput, _ ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error) {
	if f.err != nil {
		return nil, f.err
	}
	name := aws.ToString(in.Name)
	arn, _ := reconcile.ExecutionARN(aws.ToString(in.StateMachineArn), name)
	if prev, ok := f.inputs[name]; ok {
		if f.replay && prev == aws.ToString(in.Input) {
			return &sfn.StartExecutionOutput{ExecutionArn: aws.String(arn), StartDate: aws.Time(f.when[name])}, nil
		}
		return nil, &sfntypes.ExecutionAlreadyExists{Message: aws.String("Execution Already Exists: " + arn)}
	}
	f.inputs[name] = aws.ToString(in.Input)
	f.when[name] = f.now()
	return &sfn.StartExecutionOutput{ExecutionArn: aws.String(arn), StartDate: aws.Time(f.now())}, nil
}

// fakeLedger keeps history and digest markers with ClaimDigest's condition
// (attribute_not_exists OR the same job).
type fakeLedger struct {
	history map[string][]result.Result
	markers map[string]ledger.Marker
	claims  []ledger.Marker
	err     error
}

func (f *fakeLedger) History(_ context.Context, key string, _ int) ([]result.Result, error) {
	return f.history[key], nil
}

func (f *fakeLedger) ClaimDigest(_ context.Context, key string, m ledger.Marker) (bool, ledger.Marker, error) {
	if f.err != nil {
		return false, ledger.Marker{}, f.err
	}
	f.claims = append(f.claims, m)
	if prev, ok := f.markers[key+"#"+m.Digest]; ok && prev.JobID != m.JobID {
		return false, prev, nil
	}
	f.markers[key+"#"+m.Digest] = m
	return true, m, nil
}

const oneRoute = `{"version": 1, "routes": [
  {"name": "web-prod", "repository": "web", "tagPattern": "v\\d+\\.\\d+\\.\\d+",
   "targets": [{"cluster": "prod", "service": "web", "container": "app"}, {"cluster": "prod", "service": "web-canary", "container": "app"}]}
]}`

type rig struct {
	r   *reconcile.Reconciler
	ecr *fakeECR
	ecs *fakeECS
	sfn *fakeSFN
	lg  *fakeLedger
	log *bytes.Buffer
	// clock is what Now returns (the reconciler's and Step Functions').
	clock time.Time
}

func newRig(t *testing.T) *rig {
	t.Helper()
	reg := "111122223333.dkr.ecr.eu-west-1.amazonaws.com/web@"
	g := &rig{
		ecr: &fakeECR{images: map[string][]ecrtypes.ImageDetail{"web": {
			detail(1, now.Add(-3*time.Hour), "v1.0.0"),
			detail(7, now.Add(-150*time.Minute)), // untagged: ignored
			detail(2, now.Add(-2*time.Hour), "v1.1.0", "latest"),
			detail(3, now.Add(-time.Hour), "feature-x"),
		}}},
		ecs: &fakeECS{running: map[string]string{"prod/web": reg + digest(1), "prod/web-canary": reg + digest(1)}},
		lg: &fakeLedger{markers: map[string]ledger.Marker{}, history: map[string][]result.Result{
			"prod/web":        {record("e1", 1, "ecr-push", 3*time.Hour, 3*time.Hour, result.Succeeded)},
			"prod/web-canary": {record("c1", 1, "ecr-push", 3*time.Hour, 3*time.Hour, result.Succeeded)},
		}},
		log:   &bytes.Buffer{},
		clock: now,
	}
	clock := func() time.Time { return g.clock }
	g.sfn = &fakeSFN{inputs: map[string]string{}, when: map[string]time.Time{}, now: clock}
	g.r = &reconcile.Reconciler{
		Routes: fakeRoutes{routes.MustParse([]byte(oneRoute))}, ECR: g.ecr, ECS: g.ecs, SFN: g.sfn, Ledger: g.lg,
		StateMachineARN: smARN, Grace: 5 * time.Minute, Now: clock,
		Log: slog.New(slog.NewJSONHandler(g.log, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	return g
}

func TestRunStartsTheMissedPushOnce(t *testing.T) {
	ctx := context.Background()
	g := newRig(t)
	sum, err := g.r.Run(ctx)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if sum.Started != 2 || len(g.sfn.inputs) != 2 || sum.Images != 3 || sum.Routes != 1 || sum.Services != 2 || sum.Repositories != 1 || g.ecr.calls != 2 {
		t.Fatalf("summary %+v, executions %d, DescribeImages calls %d; want 2 started from 3 tagged images over 2 pages", sum, len(g.sfn.inputs), g.ecr.calls)
	}
	name := "reconcile-prod-web-" + result.ShortDigest(digest(2))
	raw, ok := g.sfn.inputs[name]
	if !ok {
		t.Fatalf("executions %v; want %s", keys(g.sfn.inputs), name)
	}
	// The execution input is exactly what resolve reads, with nothing unknown in it.
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.DisallowUnknownFields()
	var in workflow.ExecutionInput
	if err := dec.Decode(&in); err != nil || in.Request == nil || in.Detail != nil {
		t.Fatalf("execution input %s: %v; want {\"request\": …} only", raw, err)
	}
	req := in.Request
	if err := deploy.ValidateRequest(req); err != nil {
		t.Fatalf("resolve would refuse the request %s: %v", raw, err)
	}
	if req.Source != "reconcile" || req.Route != "web-prod" || req.Cluster != "prod" || req.Service != "web" || req.Image.Tag != "v1.1.0" ||
		req.Image.Digest != digest(2) || !req.PushedAt.Equal(now.Add(-2*time.Hour)) || !strings.HasPrefix(req.Note, "found by reconciliation: the push event for v1.1.0 at ") {
		t.Errorf("request = %+v", req)
	}
	// The marker was taken with the job ID and execution resolve will have.
	execARN := "arn:aws:states:eu-west-1:111122223333:execution:greenlight-deploy:" + name
	m := g.lg.markers["prod/web#"+digest(2)]
	if m.JobID != name+"/prod/web" || m.Execution != execARN || m.Tag != "v1.1.0" {
		t.Errorf("marker = %+v; want job %s/prod/web and execution %s", m, name, execARN)
	}
	if !strings.Contains(g.log.String(), `"msg":"reconciliation finished"`) || !strings.Contains(g.log.String(), `"started":2`) {
		t.Errorf("no summary line with the counts in the log:\n%s", g.log.String())
	}

	// A second run: the same executions exist, nothing new starts.
	g.clock = g.clock.Add(15 * time.Minute)
	sum, err = g.r.Run(ctx)
	if err != nil || sum.Started != 0 || sum.Skipped[reconcile.ReasonStarted] != 2 || len(g.sfn.inputs) != 2 {
		t.Fatalf("second run: %+v, %v; want 0 started, 2 already-started", sum, err)
	}
	// On AWS, starting a running execution again with the same input returns it: still not a new start.
	g.sfn.replay = true
	g.clock = g.clock.Add(15 * time.Minute)
	if sum, _ = g.r.Run(ctx); sum.Started != 0 || sum.Skipped[reconcile.ReasonStarted] != 2 {
		t.Fatalf("replayed start: %+v; want 0 started, 2 already-started", sum)
	}
}

func TestRunSkips(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name    string
		mutate  func(g *rig)
		want    reconcile.Reason // for prod/web
		wantErr bool
		claims  bool // whether prod/web's marker was claimed
	}{
		{"push event arrived first", func(g *rig) {
			g.lg.markers["prod/web#"+digest(2)] = ledger.Marker{Digest: digest(2), Tag: "v1.1.0", JobID: "push/prod/web",
				Execution: "arn:aws:states:eu-west-1:111122223333:execution:greenlight-deploy:push", SeenAt: now.Add(-2 * time.Hour)}
		}, reconcile.ReasonSeen, false, true},
		{"service already runs it", func(g *rig) {
			g.ecs.running["prod/web"] = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/web@" + digest(2)
		}, reconcile.ReasonRunning, false, false},
		{"service gone", func(g *rig) { delete(g.ecs.running, "prod/web") }, reconcile.ReasonECSError, true, false},
		{"ECS unreadable", func(g *rig) { g.ecs.err = errors.New("throttled") }, reconcile.ReasonECSError, true, false},
		{"ledger unwritable", func(g *rig) { g.lg.err = errors.New("throttled") }, reconcile.ReasonLedgerError, true, false},
		{"start fails: the marker is kept for the next run", func(g *rig) { g.sfn.err = errors.New("AccessDeniedException") }, reconcile.ReasonStartError, true, true},
		{"repository unlistable", func(g *rig) {
			g.ecr.errs = map[string]error{"web": &ecrtypes.RepositoryNotFoundException{Message: aws.String("no")}}
		}, reconcile.ReasonECRError, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := newRig(t)
			tt.mutate(g)
			sum, err := g.r.Run(ctx)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Run error = %v; want error %v", err, tt.wantErr)
			}
			var d reconcile.Decision
			for _, x := range sum.Decisions {
				if x.Target.Key() == "prod/web" {
					d = x
				}
			}
			if d.Action != reconcile.ActionSkip || d.Reason != tt.want {
				t.Fatalf("prod/web: %s/%s (%s); want skip/%s", d.Action, d.Reason, d.Detail, tt.want)
			}
			if _, started := g.sfn.inputs["reconcile-prod-web-"+result.ShortDigest(digest(2))]; started {
				t.Error("prod/web was started anyway")
			}
			claimed := false
			for _, m := range g.lg.claims {
				if strings.HasSuffix(m.JobID, "/prod/web") {
					claimed = true
				}
			}
			if claimed != tt.claims {
				t.Errorf("prod/web claim attempted = %v; want %v", claimed, tt.claims)
			}
			if tt.wantErr && !strings.Contains(err.Error(), "prod/web") {
				t.Errorf("Run error %q does not name the service", err)
			}
		})
	}
}

func TestRunSummaryIsJSON(t *testing.T) {
	g := newRig(t)
	sum, err := g.r.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(sum)
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Started   int `json:"started"`
		Decisions []struct {
			Action       string `json:"action"`
			ExecutionARN string `json:"executionArn"`
		} `json:"decisions"`
	}
	if err := json.Unmarshal(b, &back); err != nil || back.Started != 2 || len(back.Decisions) != 2 || !strings.Contains(back.Decisions[0].ExecutionARN, ":execution:greenlight-deploy:reconcile-") {
		t.Fatalf("summary JSON %s", b)
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
