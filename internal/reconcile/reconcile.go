package reconcile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// ecrAPI is the ECR call the reconciler makes.
type ecrAPI interface {
	DescribeImages(ctx context.Context, in *ecr.DescribeImagesInput, optFns ...func(*ecr.Options)) (*ecr.DescribeImagesOutput, error)
}

// ecsAPI reads the image a service runs.
type ecsAPI interface {
	DescribeServices(ctx context.Context, in *ecs.DescribeServicesInput, optFns ...func(*ecs.Options)) (*ecs.DescribeServicesOutput, error)
	DescribeTaskDefinition(ctx context.Context, in *ecs.DescribeTaskDefinitionInput, optFns ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error)
}

// sfnAPI starts the deploy state machine.
type sfnAPI interface {
	StartExecution(ctx context.Context, in *sfn.StartExecutionInput, optFns ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
}

// ledgerAPI is the part of the ledger the reconciler reads and writes (*ledger.Table).
type ledgerAPI interface {
	History(ctx context.Context, key string, limit int) ([]result.Result, error)
	ClaimDigest(ctx context.Context, key string, m ledger.Marker) (bool, ledger.Marker, error)
}

// routesLoader reads the routes document (*routes.Store).
type routesLoader interface {
	Load(ctx context.Context) (*routes.Document, error)
}

// HistoryLimit is how many of a service's newest deployment records the plan compares with.
const HistoryLimit = 50

// RequestedBy is the requester named in reconcile requests (chat shows "reconciliation by
// greenlight").
const RequestedBy = "greenlight"

// Reconciler is one reconciliation run's collaborators.
type Reconciler struct {
	Routes routesLoader
	ECR    ecrAPI
	ECS    ecsAPI
	SFN    sfnAPI
	Ledger ledgerAPI
	// StateMachineARN is the deploy state machine.
	StateMachineARN string
	Grace           time.Duration
	Now             func() time.Time
	Log             *slog.Logger
}

// Summary is what one run did.
type Summary struct {
	Routes       int `json:"routes"`
	Services     int `json:"services"`
	Repositories int `json:"repositories"`
	// Images counts the tagged images listed across the repositories.
	Images  int            `json:"images"`
	Started int            `json:"started"`
	Skipped map[Reason]int `json:"skipped"`
	// Decisions has one entry per service.
	Decisions []Decision `json:"decisions"`
}

// Errors lists the decisions that failed to look or act.
func (s Summary) Errors() []Decision {
	var out []Decision
	for _, d := range s.Decisions {
		if d.Reason.IsError() {
			out = append(out, d)
		}
	}
	return out
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *Reconciler) log() *slog.Logger {
	if r.Log != nil {
		return r.Log
	}
	return slog.Default()
}

// Run reconciles every route once. It returns an error when the routes cannot be read, or
// (after doing everything else) when some service could not be checked or started; the next
// scheduled run tries those again.
func (r *Reconciler) Run(ctx context.Context) (Summary, error) {
	begin := r.now()
	sum := Summary{Skipped: map[Reason]int{}}
	doc, err := r.Routes.Load(ctx)
	if err != nil {
		return sum, fmt.Errorf("reconcile: %w", err)
	}
	in := Input{Routes: doc, Images: map[string][]Image{}, ImageErrs: map[string]error{}, Services: map[string]ServiceState{}, Grace: r.Grace}
	repos := doc.Repositories()
	sort.Strings(repos)
	for _, repo := range repos {
		imgs, err := r.listImages(ctx, repo)
		if err != nil {
			in.ImageErrs[repo] = err
			continue
		}
		in.Images[repo] = imgs
		sum.Images += len(imgs)
	}
	for _, rt := range doc.Routes {
		for _, t := range rt.Targets {
			k := t.Key()
			if _, ok := in.Services[k]; ok {
				continue
			}
			hist, err := r.Ledger.History(ctx, k, HistoryLimit)
			in.Services[k] = ServiceState{History: hist, Err: err}
		}
	}
	in.Now = r.now()
	sum.Routes, sum.Services, sum.Repositories = len(doc.Routes), len(in.Services), len(repos)

	for _, d := range Plan(in) {
		if d.Action == ActionStart {
			d = r.start(ctx, d)
		}
		r.logDecision(ctx, d)
		if d.Action == ActionStart {
			sum.Started++
		} else {
			sum.Skipped[d.Reason]++
		}
		sum.Decisions = append(sum.Decisions, d)
	}
	skipped := make([]any, 0, 2*len(sum.Skipped))
	for _, reason := range sortedReasons(sum.Skipped) {
		skipped = append(skipped, string(reason), sum.Skipped[reason])
	}
	errs := sum.Errors()
	r.log().InfoContext(ctx, "reconciliation finished",
		"routes", sum.Routes, "services", sum.Services, "repositories", sum.Repositories, "images", sum.Images,
		"started", sum.Started, slog.Group("skipped", skipped...), "errors", len(errs),
		"duration_ms", r.now().Sub(begin).Milliseconds())
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, d := range errs {
			msgs[i] = d.Target.Key() + ": " + d.Detail
		}
		return sum, fmt.Errorf("reconcile: %d of %d services could not be checked or started: %s", len(errs), len(sum.Decisions), strings.Join(msgs, "; "))
	}
	return sum, nil
}

func sortedReasons(m map[Reason]int) []Reason {
	out := make([]Reason, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (r *Reconciler) logDecision(ctx context.Context, d Decision) {
	attrs := []any{"cluster", d.Target.Cluster, "service", d.Target.Service, "route", d.Route, "action", string(d.Action)}
	if d.Reason != "" {
		attrs = append(attrs, "reason", string(d.Reason))
	}
	if d.Image.Digest != "" {
		attrs = append(attrs, "image", d.Image.String(), "pushed_at", d.PushedAt)
	}
	if d.ExecutionARN != "" {
		attrs = append(attrs, "execution_arn", d.ExecutionARN)
	}
	attrs = append(attrs, "detail", d.Detail)
	level := slog.LevelDebug
	switch {
	case d.Reason.IsError():
		level = slog.LevelError
	case d.Action == ActionStart:
		level = slog.LevelWarn // a push event was lost: worth seeing
	case d.Reason == ReasonSeen || d.Reason == ReasonStarted || d.Reason == ReasonRunning || d.Reason == ReasonNotNewer:
		level = slog.LevelInfo
	}
	r.log().Log(ctx, level, "reconcile decision", attrs...)
}

// listImages returns the repository's tagged, pullable images (every page).
func (r *Reconciler) listImages(ctx context.Context, repo string) ([]Image, error) {
	in := &ecr.DescribeImagesInput{
		RepositoryName: aws.String(repo),
		Filter:         &ecrtypes.DescribeImagesFilter{TagStatus: ecrtypes.TagStatusTagged},
		MaxResults:     aws.Int32(1000),
	}
	var out []Image
	for {
		page, err := r.ECR.DescribeImages(ctx, in)
		if err != nil {
			return nil, ecrError(repo, err)
		}
		for _, d := range page.ImageDetails {
			if len(d.ImageTags) == 0 || d.ImagePushedAt == nil || aws.ToString(d.ImageDigest) == "" {
				continue
			}
			if d.ImageStatus != "" && d.ImageStatus != ecrtypes.ImageStatusActive {
				continue // archived images cannot be pulled
			}
			out = append(out, Image{Digest: aws.ToString(d.ImageDigest), Tags: d.ImageTags, PushedAt: d.ImagePushedAt.UTC()})
		}
		if aws.ToString(page.NextToken) == "" {
			return out, nil
		}
		in.NextToken = page.NextToken
	}
}

func ecrError(repo string, err error) error {
	var nf *ecrtypes.RepositoryNotFoundException
	if errors.As(err, &nf) {
		return fmt.Errorf("repository %s does not exist in this account and region: fix the route's repository", repo)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && strings.Contains(ae.ErrorCode(), "AccessDenied") {
		return fmt.Errorf("not allowed to list %s: add it to the stack's RepositoryNames parameter (it also makes pushes to it start deployments): %w", repo, err)
	}
	return fmt.Errorf("ecr:DescribeImages %s: %w", repo, err)
}

// start checks the running image, takes the digest marker and starts the execution.
func (r *Reconciler) start(ctx context.Context, d Decision) Decision {
	running, err := r.runningImage(ctx, d.Target)
	if err != nil {
		return d.skip(ReasonECSError, "%v", err)
	}
	if d = CheckRunning(d, running); d.Action != ActionStart {
		return d
	}
	name := ExecutionName(d.Target, d.Image.Digest)
	execARN, err := ExecutionARN(r.StateMachineARN, name)
	if err != nil {
		return d.skip(ReasonStartError, "%v", err)
	}
	jobID := deploy.JobID(name, d.Target)
	claimed, prev, err := r.Ledger.ClaimDigest(ctx, d.Target.Key(), ledger.Marker{
		Digest: d.Image.Digest, Tag: d.Image.Tag, JobID: jobID, Execution: execARN, SeenAt: r.now().UTC(),
	})
	if err != nil {
		return d.skip(ReasonLedgerError, "claim %s for %s: %v", d.Image.ShortDigest(), d.Target.Key(), err)
	}
	if !claimed {
		tag := prev.Tag
		if tag == "" {
			tag = "(no tag)"
		}
		return d.skip(ReasonSeen, "%s@%s was taken up for %s as tag %s at %s by execution %s: its push event arrived (or is being deployed)",
			d.Image.Repository, d.Image.ShortDigest(), d.Target.Key(), tag, prev.SeenAt.UTC().Format(time.RFC3339), deploy.ExecutionName(prev.Execution))
	}
	input, err := json.Marshal(workflow.ExecutionInput{Request: Request(d)})
	if err != nil {
		return d.skip(ReasonStartError, "%v", err)
	}
	before := r.now()
	out, err := r.SFN.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(r.StateMachineARN), Name: aws.String(name), Input: aws.String(string(input)),
	})
	d.ExecutionARN = execARN
	var exists *sfntypes.ExecutionAlreadyExists
	switch {
	case errors.As(err, &exists):
		return d.skip(ReasonStarted, "execution %s was started by an earlier run", name)
	case err != nil:
		return d.skip(ReasonStartError, "states:StartExecution %s (the digest marker is kept; the next run tries again): %v", name, err)
	}
	d.ExecutionARN = aws.ToString(out.ExecutionArn)
	// Starting a running execution again with the same name and input succeeds on AWS and
	// returns the original execution: not a new start.
	if sd := out.StartDate; sd != nil && sd.Before(before.Add(-time.Minute)) {
		return d.skip(ReasonStarted, "execution %s was started by an earlier run at %s", name, sd.UTC().Format(time.RFC3339))
	}
	return d
}

// runningImage is the image of the target's container in the service's current task
// definition.
func (r *Reconciler) runningImage(ctx context.Context, t routes.Target) (string, error) {
	out, err := r.ECS.DescribeServices(ctx, &ecs.DescribeServicesInput{Cluster: aws.String(t.Cluster), Services: []string{t.Service}})
	if err != nil {
		return "", fmt.Errorf("describe service %s: %w", t.Key(), err)
	}
	var td string
	for _, s := range out.Services {
		if aws.ToString(s.ServiceName) == t.Service && aws.ToString(s.Status) != "INACTIVE" {
			td = aws.ToString(s.TaskDefinition)
		}
	}
	if td == "" {
		return "", fmt.Errorf("service %s not found (or inactive): check the route target's cluster and service names", t.Key())
	}
	tdOut, err := r.ECS.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(td)})
	if err != nil {
		return "", fmt.Errorf("describe task definition %s: %w", td, err)
	}
	img, ok := deploy.ContainerImage(tdOut.TaskDefinition, t.Container)
	if !ok {
		return "", fmt.Errorf("task definition %s has no container %q: fix the route target's container", td, t.Container)
	}
	return img, nil
}

// Note is the line the result carries: the push was found by reconciliation.
func Note(d Decision) string {
	return fmt.Sprintf("found by reconciliation: the push event for %s at %s never arrived", d.Image.Tag, d.PushedAt.UTC().Format(time.RFC3339))
}

// Request is the execution input's request for a start decision. It is the same for every
// run that finds the same push (no run time in it), so starting it again is idempotent.
func Request(d Decision) *workflow.Request {
	return &workflow.Request{
		Source: workflow.SourceReconcile, RequestedBy: RequestedBy, Route: d.Route,
		Cluster: d.Target.Cluster, Service: d.Target.Service,
		Image:    result.Image{Repository: d.Image.Repository, Tag: d.Image.Tag, Digest: d.Image.Digest},
		Note:     Note(d),
		PushedAt: d.PushedAt.UTC(),
	}
}

var nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// maxNameLen is Step Functions' limit on execution names.
const maxNameLen = 80

// ExecutionName is the reconcile execution's name, fixed by service and digest:
// reconcile-<cluster>-<service>-<digest12>. Step Functions keeps a standard workflow's
// execution names for 90 days, so a second start of the same name fails with
// ExecutionAlreadyExists instead of deploying twice. Names too long for Step Functions (80
// characters) keep a hash of the service instead of its tail.
func ExecutionName(t routes.Target, digest string) string {
	svc := nameUnsafe.ReplaceAllString(t.Cluster+"-"+t.Service, "-")
	d := result.ShortDigest(digest)
	n := "reconcile-" + svc + "-" + d
	if len(n) <= maxNameLen {
		return n
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(t.Key()))
	keep := maxNameLen - len("reconcile-") - 1 - 8 - 1 - len(d)
	return fmt.Sprintf("reconcile-%s-%08x-%s", svc[:keep], h.Sum32(), d)
}

// ExecutionARN is the ARN the execution name gets under the state machine.
func ExecutionARN(stateMachineARN, name string) (string, error) {
	i := strings.Index(stateMachineARN, ":stateMachine:")
	if !strings.HasPrefix(stateMachineARN, "arn:") || i < 0 {
		return "", fmt.Errorf("%q is not a state machine ARN (arn:aws:states:<region>:<account>:stateMachine:<name>)", stateMachineARN)
	}
	return stateMachineARN[:i] + ":execution:" + stateMachineARN[i+len(":stateMachine:"):] + ":" + name, nil
}
