package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/explain"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// The fuzz targets of this file decode input from outside greenlight: the execution input
// (an ECR push event from EventBridge, or {"request": …}) and the ECS service-deployment
// records check reads. Seeds are in testdata/fuzz/<FuzzName>; `go test` replays them.

// memLedger is ClaimDigest in memory, with the table's condition (attribute_not_exists(pk)
// OR jobId = :job).
type memLedger struct {
	mu      sync.Mutex
	markers map[string]ledger.Marker
}

func (m *memLedger) ClaimDigest(_ context.Context, key string, mk ledger.Marker) (bool, ledger.Marker, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if prev, ok := m.markers[key+"#"+mk.Digest]; ok && prev.JobID != mk.JobID {
		return false, prev, nil
	}
	m.markers[key+"#"+mk.Digest] = mk
	return true, mk, nil
}

type staticRoutes struct{ doc *routes.Document }

func (s staticRoutes) Load(context.Context) (*routes.Document, error) { return s.doc, nil }

var fuzzDigestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// addSamples adds every JSON file of dir (relative to the repository root) as a seed, after
// pick extracts the part the target reads.
func addSamples(f *testing.F, dir string, pick func([]byte) []byte) {
	f.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "..", dir, "*.json"))
	if len(files) == 0 {
		f.Fatalf("no seed samples in %s", dir)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(pick(b))
	}
}

// FuzzECRPushEvent: resolve decodes and validates any execution input without panicking;
// what it refuses is a named greenlight.Input (or, for a request naming something the
// routes do not have, greenlight.Config) error, never an unnamed one; what it accepts is a
// plan whose every job is a skip with a reason or a deployment of a valid digest to a
// routed service.
func FuzzECRPushEvent(f *testing.F) {
	addSamples(f, "events/resolve", func(b []byte) []byte {
		var in deploy.ResolveInput
		if err := json.Unmarshal(b, &in); err != nil {
			f.Fatal(err)
		}
		return in.Input
	})
	// More seeds in testdata/fuzz/FuzzECRPushEvent: epoch-number times, a reconcile request,
	// a request matched by tag, null.
	doc := routes.MustParse([]byte(routesDoc))
	started := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, raw []byte) {
		r := &deploy.Resolver{Routes: staticRoutes{doc}, Ledger: &memLedger{markers: map[string]ledger.Marker{}},
			Now: func() time.Time { return started }, Log: quiet}
		plan, err := r.Resolve(context.Background(), deploy.ResolveInput{
			Input: raw, ExecutionARN: "arn:aws:states:eu-west-1:111122223333:execution:greenlight-deploy:fuzz", StartedAt: started,
		})
		if err != nil {
			var we *workflow.Error
			if !errors.As(err, &we) || (we.Name != workflow.ErrInput && we.Name != workflow.ErrConfig) || err.Error() == "" {
				t.Fatalf("Resolve(%q) error %v (%T, name %s); want a named greenlight.Input or greenlight.Config error", raw, err, err, workflow.Name(err))
			}
			return
		}
		if len(plan.Jobs) == 0 {
			t.Fatalf("Resolve(%q) accepted the input but planned no job", raw)
		}
		for _, j := range plan.Jobs {
			switch {
			case j.ID == "" || j.ExecutionARN == "":
				t.Fatalf("Resolve(%q): job without ID or execution: %+v", raw, j)
			case j.Skip != nil:
				if j.Skip.Kind == "" || j.Skip.Summary == "" {
					t.Fatalf("Resolve(%q): skip without kind or summary: %+v", raw, j.Skip)
				}
			default:
				if j.Target.Cluster == "" || j.Target.Service == "" || j.Target.Container == "" || j.Route.Name == "" {
					t.Fatalf("Resolve(%q): deployment without a routed target: %+v", raw, j)
				}
				if !fuzzDigestRE.MatchString(j.Image.Digest) || !strings.HasSuffix(j.Image.URI, "@"+j.Image.Digest) {
					t.Fatalf("Resolve(%q): deployment of image %+v: want a sha256 digest pinned in the URI", raw, j.Image)
				}
			}
			switch j.Trigger.Source {
			case "ecr-push", workflow.SourceCLI, workflow.SourceRollback, workflow.SourceReconcile, workflow.SourceRegressionRollback:
			default:
				t.Fatalf("Resolve(%q): trigger source %q", raw, j.Trigger.Source)
			}
			if _, err := json.Marshal(j); err != nil {
				t.Fatalf("Resolve(%q): the job does not encode for the state machine: %v", raw, err)
			}
		}
	})
}

// recordClient is an ECS client whose HTTP layer answers DescribeServiceDeployments with a
// canned body, so records go through the SDK's own deserializer.
type recordClient struct {
	mu   sync.Mutex
	body []byte
}

func (c *recordClient) Do(*http.Request) (*http.Response, error) {
	c.mu.Lock()
	b := c.body
	c.mu.Unlock()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		Body: io.NopCloser(bytes.NewReader(b)), ContentLength: int64(len(b))}, nil
}

// FuzzServiceDeploymentRecord: any DescribeServiceDeployments record the SDK deserializes is
// observed without panicking, its status maps to a published outcome (SUCCEEDED and
// ROLLED_BACK only from terminal statuses), the next wait stays within the poll bounds, the
// stage timeline follows the record, and explain gives every outcome but SUCCEEDED a reason.
func FuzzServiceDeploymentRecord(f *testing.F) {
	// Seeds: testdata/fuzz/FuzzServiceDeploymentRecord (one record per ECS status, the
	// reference's example record, an unknown status and stage).
	hc := &recordClient{}
	client := ecs.New(ecs.Options{Region: "eu-west-1", HTTPClient: hc, RetryMaxAttempts: 1,
		Credentials: aws.AnonymousCredentials{}, BaseEndpoint: aws.String("http://ecs.invalid")})
	bounds := deploy.PollBounds{Min: 5, Max: 60}
	t0 := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, record []byte) {
		hc.mu.Lock()
		hc.body = append(append([]byte(`{"serviceDeployments":[`), record...), []byte(`]}`)...)
		hc.mu.Unlock()
		out, err := client.DescribeServiceDeployments(context.Background(), &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{"x"}})
		if err != nil || len(out.ServiceDeployments) != 1 {
			return // the SDK refused it: check reports the error (not a decoder of ours)
		}
		sd := &out.ServiceDeployments[0]
		d := &workflow.DeploymentState{DeadlineAt: t0.Add(time.Hour)}
		deploy.Observe(d, sd, t0)
		deploy.Observe(d, sd, t0.Add(10*time.Second)) // a second poll of the same record
		if d.Status != string(sd.Status) {
			t.Fatalf("Observe: status %q; want the record's %q", d.Status, sd.Status)
		}
		if st := string(sd.LifecycleStage); st != "" {
			if d.Stage != st || len(d.Stages) != 1 || d.Stages[0].Name != st || d.Stages[0].Seconds != 0 {
				t.Fatalf("Observe twice at stage %q: stage %q, timeline %+v; want one open stage", st, d.Stage, d.Stages)
			}
		} else if len(d.Stages) != 0 {
			t.Fatalf("Observe without a stage made a timeline %+v", d.Stages)
		}
		o := deploy.StatusOutcome(d.Status)
		if !o.Valid() {
			t.Fatalf("StatusOutcome(%q) = %q: not a published outcome", d.Status, o)
		}
		if (o == result.Succeeded || o == result.RolledBack) && !deploy.Terminal(d.Status) {
			t.Fatalf("StatusOutcome(%q) = %s for a status that is not terminal", d.Status, o)
		}
		if w := deploy.AdaptiveWait(d.Status, d.Stage, time.Duration(d.Polls)*time.Minute, 1, bounds); w < bounds.Min || w > bounds.Max {
			t.Fatalf("AdaptiveWait(%q, %q) = %d; want within [%d, %d]", d.Status, d.Stage, w, bounds.Min, bounds.Max)
		}
		d.Done = deploy.Terminal(d.Status)
		j := workflow.Job{ID: "fuzz/prod/web", Target: routes.Target{Cluster: "prod", Service: "web", Container: "app"},
			Image: result.Image{Repository: "web", Digest: digestA}, Deployment: d}
		got := explain.Outcome(j)
		if got != o {
			t.Fatalf("explain.Outcome = %s; deploy.StatusOutcome(%q) = %s", got, d.Status, o)
		}
		if r := explain.Reason(j, explain.Evidence{}); (r == nil) != (got == result.Succeeded) || (r != nil && (r.Kind == "" || r.Summary == "")) {
			t.Fatalf("explain.Reason for %s (status %q) = %+v; want a kind and summary for every outcome but SUCCEEDED", got, d.Status, r)
		}
	})
}

// TestFuzzSeedsCommitted keeps the seed corpora in the repository: each fuzz target of this
// package has a testdata/fuzz directory with at least one entry.
func TestFuzzSeedsCommitted(t *testing.T) {
	for _, name := range []string{"FuzzECRPushEvent", "FuzzServiceDeploymentRecord"} {
		if m, _ := filepath.Glob(filepath.Join("testdata", "fuzz", name, "*")); len(m) == 0 {
			t.Errorf("testdata/fuzz/%s has no seed corpus", name)
		}
	}
}
