package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// DeployView is the JSON of `deploy` (and of the redeploy half of `rollback`).
type DeployView struct {
	Service      string       `json:"service"`
	Route        string       `json:"route"`
	Image        result.Image `json:"image"`
	ExecutionARN string       `json:"executionArn,omitempty"`
	ConsoleURL   string       `json:"consoleUrl,omitempty"`
	DryRun       bool         `json:"dryRun"`
	// Input is the execution input exactly as sent: {"request": workflow.Request}.
	Input RequestInput `json:"input"`
	// Status is the execution's status: RUNNING when not waited for.
	Status string `json:"status,omitempty"`
	// Result is the deployment's result, when --wait saw it.
	Result *result.Result `json:"result,omitempty"`
}

// RequestInput is the state machine input for a CLI deployment (workflow.ExecutionInput
// with only its request member: the EventBridge envelope fields stay absent).
type RequestInput struct {
	Request workflow.Request `json:"request"`
}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// imageRef is a parsed --image.
type imageRef struct {
	Registry   string // 111122223333.dkr.ecr.eu-west-1.amazonaws.com, when given
	RegistryID string // its account
	Repository string
	Tag        string
	Digest     string
}

var ecrHostRE = regexp.MustCompile(`^(\d{12})\.dkr\.ecr(?:-fips)?\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?$`)

// parseImageRef reads REPO:TAG, REPO@sha256:DIGEST, with or without an ECR registry host.
func parseImageRef(s string) (imageRef, error) {
	var r imageRef
	orig := s
	if s == "" {
		return r, Usagef("--image is required: REPO:TAG or REPO@sha256:DIGEST, e.g. web:v1.2.3")
	}
	if host, rest, ok := strings.Cut(s, "/"); ok && (strings.Contains(host, ".") || strings.Contains(host, ":")) {
		m := ecrHostRE.FindStringSubmatch(host)
		if m == nil {
			return r, Usagef("--image %q: %s is not an Amazon ECR registry; give the ECR repository (web:v1.2.3)", orig, host)
		}
		r.Registry, r.RegistryID, s = host, m[1], rest
	}
	if repo, dg, ok := strings.Cut(s, "@"); ok {
		if !digestRE.MatchString(dg) {
			return r, Usagef("--image %q: the digest must be sha256: and 64 hex digits", orig)
		}
		r.Digest, s = dg, repo
	}
	if i := strings.LastIndex(s, ":"); i >= 0 {
		r.Tag, s = s[i+1:], s[:i]
		if r.Tag == "" {
			return r, Usagef("--image %q: empty tag", orig)
		}
	}
	r.Repository = s
	if r.Repository == "" {
		return r, Usagef("--image %q: no repository", orig)
	}
	if r.Tag == "" && r.Digest == "" {
		return r, Usagef("--image %q: name a tag or a digest: %s:TAG or %s@sha256:DIGEST", orig, s, s)
	}
	return r, nil
}

// resolveImage finds the image in ECR: the digest of a tag, or the tags of a digest.
func (e *Env) resolveImage(ctx context.Context, c *Clients, ref imageRef) (result.Image, error) {
	id := ecrtypes.ImageIdentifier{}
	if ref.Digest != "" {
		id.ImageDigest = aws.String(ref.Digest)
	} else {
		id.ImageTag = aws.String(ref.Tag)
	}
	in := &ecr.DescribeImagesInput{RepositoryName: aws.String(ref.Repository), ImageIds: []ecrtypes.ImageIdentifier{id}}
	if ref.RegistryID != "" {
		in.RegistryId = aws.String(ref.RegistryID)
	}
	out, err := c.ECR.DescribeImages(ctx, in)
	if err != nil {
		var inf *ecrtypes.ImageNotFoundException
		var rnf *ecrtypes.RepositoryNotFoundException
		switch {
		case errors.As(err, &rnf):
			return result.Image{}, NotFoundf("ECR repository %q does not exist in %s", ref.Repository, c.Region)
		case errors.As(err, &inf):
			what := "tag " + ref.Tag
			if ref.Digest != "" {
				what = "digest " + ref.Digest
			}
			return result.Image{}, NotFoundf("%s has no image with %s: push it first, or check `aws ecr describe-images --repository-name %s`", ref.Repository, what, ref.Repository)
		}
		return result.Image{}, AWSError("look up the image (ecr:DescribeImages)", err)
	}
	if len(out.ImageDetails) == 0 {
		return result.Image{}, NotFoundf("%s has no image %s", ref.Repository, orDash(ref.Tag+ref.Digest))
	}
	d := out.ImageDetails[0]
	img := result.Image{Repository: ref.Repository, Tag: ref.Tag, Digest: aws.ToString(d.ImageDigest)}
	if ref.Digest != "" && ref.Digest != img.Digest {
		return result.Image{}, NotFoundf("%s: ECR returned digest %s for %s", ref.Repository, img.Digest, ref.Digest)
	}
	if img.Tag == "" && len(d.ImageTags) > 0 {
		img.Tag = d.ImageTags[0]
	}
	if d.RegistryId != nil {
		img.URI = fmt.Sprintf("%s.dkr.ecr.%s.amazonaws.com/%s@%s", aws.ToString(d.RegistryId), c.Region, img.Repository, img.Digest)
	}
	return img, nil
}

// requestedBy is the caller's ARN, or $USER when STS cannot say.
func (e *Env) requestedBy(ctx context.Context, c *Clients) string {
	if out, err := c.STS.GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{}); err == nil && aws.ToString(out.Arn) != "" {
		return aws.ToString(out.Arn)
	}
	if u := e.Getenv("USER"); u != "" {
		return u
	}
	return "unknown"
}

var nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// executionName is readable and unique per second: cli-prod-web-7f5b2640fe6f-20261120T100000.
func executionName(prefix string, t target, img result.Image, now time.Time) string {
	n := fmt.Sprintf("%s-%s-%s-%s-%s", prefix, t.Cluster, t.Service, img.ShortDigest(), now.UTC().Format("20060102T150405"))
	n = nameUnsafe.ReplaceAllString(n, "-")
	if len(n) > 80 {
		n = n[len(n)-80:]
	}
	return n
}

func consoleURL(region, executionARN string) string {
	return fmt.Sprintf("https://%s.console.aws.amazon.com/states/home?region=%s#/v2/executions/details/%s", region, region, url.PathEscape(executionARN))
}

// deployOptions are the flags deploy and rollback share.
type deployOptions struct {
	wait     bool
	interval time.Duration
	timeout  time.Duration
}

func (o *deployOptions) register(fs *flag.FlagSet) {
	fs.BoolVar(&o.wait, "wait", false, "follow the deployment until its result; exit 0 only if it SUCCEEDED")
	fs.DurationVar(&o.interval, "interval", 5*time.Second, "how often --wait polls")
	fs.DurationVar(&o.timeout, "timeout", 0, "with --wait, give up after this long (exit 1); 0 waits for the result")
}

// startDeployment starts the deploy state machine for one target with a CLI request.
// startDeployment starts the state machine with a request from source (workflow.SourceCLI or
// workflow.SourceRollback), which also prefixes the execution name.
func (e *Env) startDeployment(ctx context.Context, t target, img result.Image, note, source string, dryRun bool) (*DeployView, error) {
	c, err := e.Clients(ctx)
	if err != nil {
		return nil, err
	}
	if t.Route == nil {
		return nil, NotFoundf("no route targets %s: greenlight deploys only services in the routes (add it with `greenlight routes put`)", t.Key())
	}
	if img.Repository != t.Route.Repository {
		return nil, Usagef("--image is from repository %q, but route %s deploys %q to %s", img.Repository, t.Route.Name, t.Route.Repository, t.Key())
	}
	sm, err := e.StateMachineARN(ctx)
	if err != nil {
		return nil, err
	}
	req := workflow.Request{
		Source: source, RequestedBy: e.requestedBy(ctx, c), Route: t.Route.Name,
		Cluster: t.Cluster, Service: t.Service, Image: img, Note: note,
	}
	in := RequestInput{Request: req}
	view := &DeployView{Service: t.Key(), Route: t.Route.Name, Image: img, Input: in, DryRun: dryRun}
	if dryRun {
		return view, nil
	}
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	name := executionName(source, t, img, e.Now())
	out, err := c.SFN.StartExecution(ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(sm), Name: aws.String(name), Input: aws.String(string(b))})
	if err != nil {
		var nf *sfntypes.StateMachineDoesNotExist
		if errors.As(err, &nf) {
			return nil, NotFoundf("state machine %s does not exist: check --stack or --state-machine-arn", sm)
		}
		return nil, AWSError("start the deployment (states:StartExecution)", err)
	}
	view.ExecutionARN = aws.ToString(out.ExecutionArn)
	view.ConsoleURL = consoleURL(c.Region, view.ExecutionARN)
	view.Status = string(sfntypes.ExecutionStatusRunning)
	return view, nil
}

// waitResult follows the execution until the ledger has its result (finalize writes it
// before the post-deploy watch, so the verdict is known without waiting for the watch) or
// the execution ends without one.
func (e *Env) waitResult(ctx context.Context, t target, view *DeployView, o deployOptions) error {
	c, err := e.Clients(ctx)
	if err != nil {
		return err
	}
	lg, err := e.Ledger(ctx)
	if err != nil {
		return err
	}
	start := e.Now()
	name := view.ExecutionARN[strings.LastIndex(view.ExecutionARN, ":")+1:]
	last := ""
	progress := func(s string) {
		if s != last && !e.JSON() {
			fmt.Fprintf(e.Stderr, "%s  %s\n", e.Now().UTC().Format("15:04:05"), s)
		}
		last = s
	}
	for {
		hist, err := lg.History(ctx, t.Key(), 10)
		if err != nil {
			return AWSError("read the result from the ledger", err)
		}
		for i := range hist {
			r := hist[i]
			if r.ExecutionARN == view.ExecutionARN || strings.HasPrefix(r.ID, name+"/") {
				view.Result = &r
				view.Status = string(r.Outcome)
				return nil
			}
		}
		ex, err := c.SFN.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(view.ExecutionARN)})
		if err != nil {
			return AWSError("follow the execution (states:DescribeExecution)", err)
		}
		if ex.Status != sfntypes.ExecutionStatusRunning {
			view.Status = string(ex.Status)
			// one more look: the result may have landed just before the end
			if hist, err := lg.History(ctx, t.Key(), 10); err == nil {
				for i := range hist {
					if hist[i].ExecutionARN == view.ExecutionARN || strings.HasPrefix(hist[i].ID, name+"/") {
						view.Result = &hist[i]
						view.Status = string(hist[i].Outcome)
						return nil
					}
				}
			}
			return nil
		}
		state := "RUNNING"
		if h, err := lg.Lock(ctx, t.Key()); err == nil && h != nil {
			if h.Execution == view.ExecutionARN {
				state = "deploying " + h.Image.String()
			} else {
				state = "waiting for the lock held by " + shortExecution(h.Execution)
			}
		}
		progress(state)
		if o.timeout > 0 && e.Now().Sub(start) >= o.timeout {
			view.Status = "TIMEOUT"
			return Failedf("no result after %s; the deployment goes on: follow it with `greenlight status --service %s --watch`", Duration(o.timeout), t.Key())
		}
		if err := e.Sleep(ctx, o.interval); err != nil {
			return err
		}
	}
}

func shortExecution(arn string) string {
	if i := strings.LastIndex(arn, ":"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// verdict turns a waited-for view into the exit code: 0 only for SUCCEEDED.
func verdict(view *DeployView) error {
	if view.Result != nil && view.Result.Outcome == result.Succeeded {
		return nil
	}
	return silent{ExitFailed}
}

func (e *Env) printDeploy(w io.Writer, view *DeployView, waited bool) {
	if view.DryRun {
		b, _ := json.MarshalIndent(view.Input, "", "  ")
		fmt.Fprintf(w, "Dry run: would start the deploy state machine for %s (route %s) with:\n%s\n", view.Service, view.Route, b)
		return
	}
	fmt.Fprintf(w, "Started %s → %s (route %s)\n", view.Image.String(), view.Service, view.Route)
	fmt.Fprintf(w, "  execution  %s\n  console    %s\n", view.ExecutionARN, view.ConsoleURL)
	if !waited {
		fmt.Fprintf(w, "Follow it with: greenlight status --service %s --watch\n", view.Service)
		return
	}
	if r := view.Result; r != nil {
		fmt.Fprintf(w, "%s %s in %s", e.Paint(OutcomeStyle(string(r.Outcome)), string(r.Outcome)), r.Image.String(), Seconds(r.DurationSeconds))
		if r.Reason != nil {
			fmt.Fprintf(w, ": %s", reasonLabel(r.Reason, 200))
		}
		fmt.Fprintln(w)
		for _, warn := range r.Warnings {
			fmt.Fprintf(w, "  warning: %s\n", warn)
		}
		return
	}
	fmt.Fprintf(w, "%s: the execution ended %s without a result; see the console link above\n", e.Paint(Red, "FAILED"), view.Status)
}

// Deploy is `greenlight deploy`.
func Deploy() *Command {
	var service, image string
	var dryRun bool
	var o deployOptions
	return &Command{
		Name:    "deploy",
		Summary: "deploy an image to a service through the same pipeline a push uses",
		Usage:   "deploy --service CLUSTER/SERVICE --image REPO:TAG|REPO@DIGEST [--wait]",
		Description: `Starts the deploy state machine exactly as an ECR push would (same route, same lock and
queue, preflight, smoke tests, alarms and rollback), for redeploys and promotions. A tag is
resolved to its digest in ECR first, and the deployment pins the digest. Prints the
execution ARN and its console link; --wait follows it to the result and exits 0 only if the
outcome is SUCCEEDED.`,
		Examples: []string{
			"greenlight deploy --service prod/web --image web:v1.4.2",
			"greenlight deploy --service prod/web --image web@sha256:7f5b2640fe6f… --wait",
			"greenlight deploy --service web --image 111122223333.dkr.ecr.eu-west-1.amazonaws.com/web:v1.4.2 --dry-run",
		},
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&service, "service", "", "CLUSTER/SERVICE (or a service name unique in the routes)")
			fs.StringVar(&image, "image", "", "REPO:TAG or REPO@sha256:DIGEST (an ECR registry host in front is accepted)")
			fs.BoolVar(&dryRun, "dry-run", false, "resolve everything and print the execution input, start nothing")
			o.register(fs)
		},
		Run: func(ctx context.Context, e *Env, _ []string) error {
			ref, err := parseImageRef(image)
			if err != nil {
				return err
			}
			if o.interval <= 0 {
				return Usagef("--interval must be positive")
			}
			t, err := e.target(ctx, service)
			if err != nil {
				return err
			}
			if t.Route != nil && ref.Repository != t.Route.Repository {
				return Usagef("--image is from repository %q, but route %s deploys %q to %s", ref.Repository, t.Route.Name, t.Route.Repository, t.Key())
			}
			c, err := e.Clients(ctx)
			if err != nil {
				return err
			}
			img, err := e.resolveImage(ctx, c, ref)
			if err != nil {
				return err
			}
			view, err := e.startDeployment(ctx, t, img, "", workflow.SourceCLI, dryRun)
			if err != nil {
				return err
			}
			if o.wait && !dryRun {
				if err := e.waitResult(ctx, t, view, o); err != nil {
					return err
				}
			}
			if err := e.Emit(view, func(w io.Writer) { e.printDeploy(w, view, o.wait && !dryRun) }); err != nil {
				return err
			}
			if o.wait && !dryRun {
				return verdict(view)
			}
			return nil
		},
	}
}
