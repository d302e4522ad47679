package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// ResolveInput is what the state machine's first Task sends:
// {"input.$": "$", "executionArn.$": "$$.Execution.Id", "startedAt.$": "$$.Execution.StartTime"}.
type ResolveInput struct {
	Input        json.RawMessage `json:"input"`
	ExecutionARN string          `json:"executionArn"`
	StartedAt    time.Time       `json:"startedAt"`
}

// Trigger sources.
const (
	SourceECRPush = "ecr-push"
)

var (
	digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	repoRE   = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	tagRE    = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// executionARNRE: arn:aws:states:<region>:<account>:execution:<state machine>:<name>
	executionARNRE = regexp.MustCompile(`^arn:[a-z-]+:states:([a-z0-9-]+):(\d{12}):execution:[^:]+:([^:]+)$`)
)

// ValidatePush checks an ECR push event before anything acts on it. Every problem names the
// field.
func ValidatePush(in workflow.ExecutionInput) error {
	if in.Source != "aws.ecr" {
		return workflow.Inputf("source is %q: greenlight starts from ECR pushes (source aws.ecr) or {\"request\": …}", in.Source)
	}
	if in.DetailType != "ECR Image Action" {
		return workflow.Inputf("detail-type is %q, want \"ECR Image Action\"", in.DetailType)
	}
	d := in.Detail
	if d == nil {
		return workflow.Inputf("detail is missing from the ECR event")
	}
	switch {
	case d.ActionType != "PUSH":
		return workflow.Inputf("detail.action-type is %q, want PUSH: the rule should only match pushes", d.ActionType)
	case d.Result != "SUCCESS":
		return workflow.Inputf("detail.result is %q, want SUCCESS: a failed push has nothing to deploy", d.Result)
	case d.ImageTag == "":
		return workflow.Inputf("detail.image-tag is missing: untagged pushes are not deployed (the rule requires a tag)")
	case !tagRE.MatchString(d.ImageTag):
		return workflow.Inputf("detail.image-tag %q is not a valid image tag", d.ImageTag)
	case !digestRE.MatchString(d.ImageDigest):
		return workflow.Inputf("detail.image-digest %q is not sha256:<64 hex digits>", d.ImageDigest)
	case !repoRE.MatchString(d.RepositoryName):
		return workflow.Inputf("detail.repository-name %q is not an ECR repository name", d.RepositoryName)
	case !regexp.MustCompile(`^\d{12}$`).MatchString(in.Account):
		return workflow.Inputf("account %q is not a 12-digit AWS account ID", in.Account)
	case in.Region == "":
		return workflow.Inputf("region is missing from the ECR event")
	}
	return nil
}

// ValidateRequest checks a {"request": …} input.
func ValidateRequest(r *workflow.Request) error {
	switch r.Source {
	case workflow.SourceCLI, workflow.SourceRollback, workflow.SourceReconcile, workflow.SourceRegressionRollback:
	default:
		return workflow.Inputf("request.source is %q: want cli, rollback, reconcile or regression-rollback", r.Source)
	}
	if !repoRE.MatchString(r.Image.Repository) {
		return workflow.Inputf("request.image.repository %q is not an ECR repository name", r.Image.Repository)
	}
	if !digestRE.MatchString(r.Image.Digest) {
		return workflow.Inputf("request.image.digest %q is not sha256:<64 hex digits>: requests deploy by digest", r.Image.Digest)
	}
	if r.Route == "" && (r.Cluster == "" || r.Service == "") && r.Image.Tag == "" {
		return workflow.Inputf("request names no route, no cluster/service and no tag: give route, or cluster and service")
	}
	return nil
}

// ExecutionName is the last part of an execution ARN.
func ExecutionName(arn string) string {
	if m := executionARNRE.FindStringSubmatch(arn); m != nil {
		return m[3]
	}
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// Match is a route and one of its targets.
type Match struct {
	Route  routes.Route
	Target routes.Target
}

// MatchTargets returns one match per distinct target (cluster/service) of the routes that
// match repo and tag; when two routes name the same service the first route in the document
// wins.
func MatchTargets(doc *routes.Document, repo, tag string) []Match {
	var out []Match
	seen := map[string]bool{}
	for _, r := range doc.Match(repo, tag) {
		for _, t := range r.Targets {
			if seen[t.Key()] {
				continue
			}
			seen[t.Key()] = true
			out = append(out, Match{Route: r, Target: t})
		}
	}
	return out
}

// NoRouteSummary says why nothing matched, naming what exists for the repository.
func NoRouteSummary(doc *routes.Document, repo, tag string) string {
	var pats []string
	for _, r := range doc.Routes {
		if r.Repository == repo {
			pats = append(pats, fmt.Sprintf("%s (%s)", r.TagPattern, r.Name))
		}
	}
	if len(pats) == 0 {
		repos := doc.Repositories()
		sort.Strings(repos)
		known := "none"
		if len(repos) > 0 {
			known = strings.Join(repos, ", ")
		}
		return fmt.Sprintf("no route for repository %s (tag %s): routes exist for repositories %s", repo, tag, known)
	}
	return fmt.Sprintf("no route deploys %s:%s: the routes for repository %s match tags %s", repo, tag, repo, strings.Join(pats, ", "))
}

// routesLoader loads the routes document (routes.Store).
type routesLoader interface {
	Load(ctx context.Context) (*routes.Document, error)
}

// digestClaimer is the ledger's dedupe marker.
type digestClaimer interface {
	ClaimDigest(ctx context.Context, key string, m ledger.Marker) (bool, ledger.Marker, error)
}

// Resolver turns the execution input into the plan.
type Resolver struct {
	Routes routesLoader
	Ledger digestClaimer
	Now    func() time.Time
	Log    *slog.Logger
}

// Resolve validates the input, matches routes and deduplicates digests per service.
func (r *Resolver) Resolve(ctx context.Context, in ResolveInput) (workflow.Plan, error) {
	var ex workflow.ExecutionInput
	if err := json.Unmarshal(normalizeTime(in.Input), &ex); err != nil {
		return workflow.Plan{}, workflow.Inputf("execution input is not an ECR event or {\"request\": …}: %v", err)
	}
	if in.ExecutionARN == "" {
		return workflow.Plan{}, workflow.Inputf("executionArn is missing: the state machine passes $$.Execution.Id")
	}
	started := in.StartedAt
	if started.IsZero() {
		started = r.now()
	}
	doc, err := r.Routes.Load(ctx)
	if err != nil {
		var ve *routes.ValidationError
		if errors.Is(err, routes.ErrNotFound) || errors.As(err, &ve) {
			return workflow.Plan{}, workflow.Configf("%v", err)
		}
		return workflow.Plan{}, err
	}
	if ex.Request != nil {
		return r.planRequest(ctx, doc, ex.Request, in.ExecutionARN, started)
	}
	if err := ValidatePush(ex); err != nil {
		return workflow.Plan{}, err
	}
	return r.planPush(ctx, doc, ex, in.ExecutionARN, started)
}

// normalizeTime turns an event "time" given as epoch seconds (as some local emulators send
// it) into RFC 3339, which EventBridge itself always sends.
func normalizeTime(raw json.RawMessage) json.RawMessage {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	t, ok := m["time"]
	if !ok || len(t) == 0 || t[0] == '"' {
		return raw
	}
	var secs float64
	if json.Unmarshal(t, &secs) != nil {
		delete(m, "time")
	} else {
		b, _ := json.Marshal(time.Unix(0, int64(secs*1e9)).UTC().Format(time.RFC3339Nano))
		m["time"] = b
	}
	out, err := json.Marshal(m)
	if err != nil {
		return raw
	}
	return out
}

func (r *Resolver) now() time.Time { return clock(r.Now) }

func (r *Resolver) log() *slog.Logger { return logger(r.Log) }

func baseJob(execARN string, started time.Time, img result.Image, registry, account, region string, trig result.Trigger) workflow.Job {
	return workflow.Job{
		ExecutionARN: execARN,
		Trigger:      trig,
		Image:        img,
		Registry:     registry,
		Account:      account,
		Region:       region,
		StartedAt:    started.UTC(),
	}
}

func (r *Resolver) planPush(ctx context.Context, doc *routes.Document, ex workflow.ExecutionInput, execARN string, started time.Time) (workflow.Plan, error) {
	d := ex.Detail
	registry := ex.Account + ".dkr.ecr." + ex.Region + ".amazonaws.com"
	img := result.Image{Repository: d.RepositoryName, Tag: d.ImageTag, Digest: d.ImageDigest, URI: ImageURI(registry, d.RepositoryName, d.ImageDigest)}
	pushed := ex.Time
	if pushed.IsZero() {
		pushed = started
	}
	trig := result.Trigger{Source: SourceECRPush, EventID: ex.ID, PushedAt: pushed.UTC()}
	name := ExecutionName(execARN)
	matches := MatchTargets(doc, d.RepositoryName, d.ImageTag)
	if len(matches) == 0 {
		j := baseJob(execARN, started, img, registry, ex.Account, ex.Region, trig)
		j.ID = name + "/no-route"
		j.Skip = &result.Reason{Kind: result.KindNoRoute, Summary: NoRouteSummary(doc, d.RepositoryName, d.ImageTag)}
		r.log().InfoContext(ctx, "no route", "repository", d.RepositoryName, "tag", d.ImageTag, "digest", d.ImageDigest)
		return workflow.Plan{Jobs: []workflow.Job{j}}, nil
	}
	var jobs []workflow.Job
	for _, m := range matches {
		j := baseJob(execARN, started, img, registry, ex.Account, ex.Region, trig)
		j.ID = JobID(name, m.Target)
		j.Target, j.Route = m.Target, m.Route
		if err := r.claim(ctx, &j); err != nil {
			return workflow.Plan{}, err
		}
		jobs = append(jobs, j)
	}
	return workflow.Plan{Jobs: jobs}, nil
}

// JobID is the ID of the job for target in the named execution (also the result ID):
// <execution name>/<cluster>/<service>.
func JobID(executionName string, t routes.Target) string {
	return executionName + "/" + t.Key()
}

// ClaimsDigest reports whether deployments from source take the digest marker
// (DIGEST#<digest> under the service): ECR pushes and reconciliation, which both deploy "the
// push", so whichever comes first deploys and the other is a DUPLICATE. Deployments a person
// or greenlight asks for on purpose (cli, rollback, regression-rollback) redeploy a digest
// that was seen before, so they neither check nor take the marker.
func ClaimsDigest(source string) bool {
	return source == SourceECRPush || source == workflow.SourceReconcile
}

// claim takes the job's digest marker for its service, or marks the job a DUPLICATE skip
// when another job has it. A retry of the same job claims again.
func (r *Resolver) claim(ctx context.Context, j *workflow.Job) error {
	ok, prev, err := r.Ledger.ClaimDigest(ctx, j.Target.Key(), ledger.Marker{
		Digest: j.Image.Digest, Tag: j.Image.Tag, JobID: j.ID, Execution: j.ExecutionARN, SeenAt: r.now().UTC(),
	})
	if err != nil {
		return workflow.Transient(err)
	}
	if !ok {
		j.Skip = DuplicateReason(j.Image, j.Target, prev)
		r.log().InfoContext(ctx, "duplicate digest", "cluster", j.Target.Cluster, "service", j.Target.Service,
			"job_id", j.ID, "digest", j.Image.Digest, "source", j.Trigger.Source, "first_job", prev.JobID)
	}
	return nil
}

// DuplicateReason explains a digest already taken up for a service.
func DuplicateReason(img result.Image, t routes.Target, prev ledger.Marker) *result.Reason {
	tag := prev.Tag
	if tag == "" {
		tag = "(no tag)"
	}
	return &result.Reason{
		Kind: result.KindDuplicate,
		Summary: fmt.Sprintf("%s@%s was already taken up for %s as tag %s at %s by execution %s",
			img.Repository, img.ShortDigest(), t.Key(), tag, prev.SeenAt.UTC().Format(time.RFC3339), ExecutionName(prev.Execution)),
		Details: []string{"first job: " + prev.JobID, "this tag: " + img.Tag},
	}
}

func (r *Resolver) planRequest(ctx context.Context, doc *routes.Document, req *workflow.Request, execARN string, started time.Time) (workflow.Plan, error) {
	if err := ValidateRequest(req); err != nil {
		return workflow.Plan{}, err
	}
	var matches []Match
	switch {
	case req.Route != "":
		rt, ok := doc.Route(req.Route)
		if !ok {
			return workflow.Plan{}, workflow.Configf("request.route %q is not in the routes document (routes: %s)", req.Route, routeNames(doc))
		}
		for _, t := range rt.Targets {
			if (req.Cluster == "" || t.Cluster == req.Cluster) && (req.Service == "" || t.Service == req.Service) {
				matches = append(matches, Match{Route: rt, Target: t})
			}
		}
		if len(matches) == 0 {
			return workflow.Plan{}, workflow.Configf("route %s has no target %s/%s", rt.Name, req.Cluster, req.Service)
		}
	case req.Cluster != "" && req.Service != "":
		rt, t, ok := doc.RouteFor(req.Cluster, req.Service)
		if !ok {
			return workflow.Plan{}, workflow.Configf("no route targets %s/%s: add it to a route's targets", req.Cluster, req.Service)
		}
		matches = []Match{{Route: rt, Target: t}}
	default:
		matches = MatchTargets(doc, req.Image.Repository, req.Image.Tag)
		if len(matches) == 0 {
			return workflow.Plan{}, workflow.Configf("%s", NoRouteSummary(doc, req.Image.Repository, req.Image.Tag))
		}
	}
	m := executionARNRE.FindStringSubmatch(execARN)
	if m == nil {
		return workflow.Plan{}, workflow.Inputf("executionArn %q is not a Step Functions execution ARN", execARN)
	}
	region, account := m[1], m[2]
	registry := account + ".dkr.ecr." + region + ".amazonaws.com"
	img := req.Image
	img.URI = ImageURI(registry, img.Repository, img.Digest)
	pushed := started
	if !req.PushedAt.IsZero() {
		pushed = req.PushedAt // the reconciler knows when the image really was pushed
	}
	trig := result.Trigger{Source: req.Source, RequestedBy: req.RequestedBy, PushedAt: pushed.UTC()}
	name := ExecutionName(execARN)
	var jobs []workflow.Job
	for _, mt := range matches {
		j := baseJob(execARN, started, img, registry, account, region, trig)
		j.ID = JobID(name, mt.Target)
		j.Target, j.Route, j.Note = mt.Target, mt.Route, req.Note
		if ClaimsDigest(req.Source) {
			if err := r.claim(ctx, &j); err != nil {
				return workflow.Plan{}, err
			}
		}
		jobs = append(jobs, j)
	}
	return workflow.Plan{Jobs: jobs}, nil
}

func routeNames(doc *routes.Document) string {
	var n []string
	for _, r := range doc.Routes {
		n = append(n, r.Name)
	}
	if len(n) == 0 {
		return "none"
	}
	return strings.Join(n, ", ")
}
