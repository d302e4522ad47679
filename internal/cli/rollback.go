package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// RollbackView is the JSON of `rollback`.
type RollbackView struct {
	Service string `json:"service"`
	// Action is "stop-deployment" (ECS rolls the running deployment back to the revision that
	// was serving), "redeploy" (a normal deployment of an earlier good image) or "none".
	Action string `json:"action"`
	// For stop-deployment:
	ServiceDeploymentARN string `json:"serviceDeploymentArn,omitempty"`
	ECSStatus            string `json:"ecsStatus,omitempty"`
	// For redeploy: what was chosen and why, and the deployment started.
	From   *result.Image `json:"from,omitempty"`
	To     *result.Image `json:"to,omitempty"`
	Basis  string        `json:"basis,omitempty"`
	Deploy *DeployView   `json:"deploy,omitempty"`
	// Message says what happened in words.
	Message string `json:"message"`
}

// Rollback is `greenlight rollback`.
func Rollback() *Command {
	var service, to string
	var yes, dryRun bool
	var o deployOptions
	return &Command{
		Name:    "rollback",
		Summary: "roll a service back: stop the running deployment, or redeploy the last good image",
		Usage:   "rollback --service CLUSTER/SERVICE [--to DIGEST|RESULT-ID] [--yes] [--wait]",
		Description: `While a deployment is running (ECS reports an active service deployment), asks ECS to roll
it back (StopServiceDeployment ROLLBACK): traffic returns to the revision that was serving.

Otherwise deploys an earlier image through the normal blue/green path (smoke tests, alarms
and all): the last SUCCEEDED deployment in the ledger whose digest differs from the current
one and that no REGRESSED follow-up marked bad, or the one named with --to (a digest, or a
result ID from 'greenlight history').

Asks for confirmation unless --yes. --wait follows the rollback to its end and exits 0 only
if it succeeded.`,
		Examples: []string{
			"greenlight rollback --service prod/web",
			"greenlight rollback --service prod/web --to sha256:7f5b2640fe6f… --yes --wait",
			"greenlight rollback --service prod/web --to cli-prod-web-7f5b2640fe6f-20261120T100000/prod/web",
		},
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&service, "service", "", "CLUSTER/SERVICE (or a service name unique in the routes)")
			fs.StringVar(&to, "to", "", "after a deployment: the digest (sha256:…) or result ID to go back to; default the last good one")
			fs.BoolVar(&yes, "yes", false, "do it without asking")
			fs.BoolVar(&dryRun, "dry-run", false, "say what would be done, do nothing")
			o.register(fs)
		},
		Run: func(ctx context.Context, e *Env, _ []string) error {
			if o.interval <= 0 {
				return Usagef("--interval must be positive")
			}
			t, err := e.target(ctx, service)
			if err != nil {
				return err
			}
			c, err := e.Clients(ctx)
			if err != nil {
				return err
			}
			lg, err := e.Ledger(ctx)
			if err != nil {
				return err
			}
			sd, err := latestDeployment(ctx, c.ECS, t)
			if err != nil {
				return err
			}
			if sd != nil && IsActive(string(sd.Status)) {
				if to != "" {
					return Usagef("--to applies after a deployment; %s is deploying now (%s), and rolling it back returns to the revision that was serving", t.Key(), sd.Status)
				}
				return e.stopDeployment(ctx, c, lg, t, sd, yes, dryRun, o)
			}
			if h, err := lg.Lock(ctx, t.Key()); err != nil {
				return AWSError("read the lock", err)
			} else if h != nil && !h.LeaseUntil.Before(e.Now()) {
				return Failedf("%s is being deployed by %s (%s), but ECS has not started the service deployment yet (preflight or waiting); run rollback again once it has, or stop the execution: aws stepfunctions stop-execution --execution-arn %s",
					t.Key(), shortExecution(h.Execution), h.Image.String(), h.Execution)
			}
			return e.redeploy(ctx, c, lg, t, to, yes, dryRun, o)
		},
	}
}

func (e *Env) stopDeployment(ctx context.Context, c *Clients, lg *ledger.Table, t target, sd *ecstypes.ServiceDeployment, yes, dryRun bool, o deployOptions) error {
	arn := aws.ToString(sd.ServiceDeploymentArn)
	view := RollbackView{Service: t.Key(), Action: "stop-deployment", ServiceDeploymentARN: arn, ECSStatus: string(sd.Status)}
	switch sd.Status {
	case ecstypes.ServiceDeploymentStatusRollbackRequested, ecstypes.ServiceDeploymentStatusRollbackInProgress, ecstypes.ServiceDeploymentStatusStopRequested:
		view.Action = "none"
		view.Message = fmt.Sprintf("%s is already being rolled back or stopped (%s): nothing to do", t.Key(), sd.Status)
		if o.wait {
			return e.waitStop(ctx, c, t, &view, o)
		}
		return e.Emit(view, func(w io.Writer) { fmt.Fprintln(w, view.Message) })
	}
	stage := orDash(string(sd.LifecycleStage))
	if dryRun {
		view.Message = fmt.Sprintf("would ask ECS to roll back %s deployment %s (%s, stage %s)", t.Key(), lastPart(arn), sd.Status, stage)
		return e.Emit(view, func(w io.Writer) { fmt.Fprintln(w, "Dry run: "+view.Message) })
	}
	if err := e.Confirm(fmt.Sprintf("Roll back %s deployment %s (%s, stage %s)? ECS returns traffic to the revision that was serving.", t.Key(), lastPart(arn), sd.Status, stage), yes); err != nil {
		return err
	}
	by := "cli:" + e.requestedBy(ctx, c)
	if _, err := lg.ClaimStop(ctx, arn, by); err != nil {
		return AWSError("record the rollback request in the ledger", err)
	}
	if _, err := c.ECS.StopServiceDeployment(ctx, &ecs.StopServiceDeploymentInput{ServiceDeploymentArn: aws.String(arn), StopType: ecstypes.StopServiceDeploymentStopTypeRollback}); err != nil {
		_ = lg.UnclaimStop(ctx, arn)
		return AWSError("ask ECS to roll back (ecs:StopServiceDeployment)", err)
	}
	view.ECSStatus = string(ecstypes.ServiceDeploymentStatusRollbackRequested)
	view.Message = fmt.Sprintf("asked ECS to roll back %s deployment %s", t.Key(), lastPart(arn))
	if o.wait {
		return e.waitStop(ctx, c, t, &view, o)
	}
	return e.Emit(view, func(w io.Writer) {
		fmt.Fprintf(w, "Asked ECS to roll back %s (deployment %s, was %s at %s).\nFollow it with: greenlight status --service %s --watch\n", t.Key(), lastPart(arn), sd.Status, stage, t.Key())
	})
}

// waitStop polls the service deployment until it is terminal; 0 only for ROLLBACK_SUCCESSFUL.
func (e *Env) waitStop(ctx context.Context, c *Clients, t target, view *RollbackView, o deployOptions) error {
	start := e.Now()
	last := ""
	for {
		out, err := c.ECS.DescribeServiceDeployments(ctx, &ecs.DescribeServiceDeploymentsInput{ServiceDeploymentArns: []string{view.ServiceDeploymentARN}})
		if err != nil {
			return AWSError("follow the rollback (ecs:DescribeServiceDeployments)", err)
		}
		if len(out.ServiceDeployments) == 0 {
			return NotFoundf("service deployment %s is gone", view.ServiceDeploymentARN)
		}
		sd := out.ServiceDeployments[0]
		view.ECSStatus = string(sd.Status)
		if s := string(sd.Status) + " " + string(sd.LifecycleStage); s != last && !e.JSON() {
			fmt.Fprintf(e.Stderr, "%s  %s\n", e.Now().UTC().Format("15:04:05"), s)
			last = s
		}
		if !IsActive(string(sd.Status)) {
			break
		}
		if o.timeout > 0 && e.Now().Sub(start) >= o.timeout {
			return Failedf("the rollback of %s has not finished after %s (%s)", t.Key(), Duration(o.timeout), sd.Status)
		}
		if err := e.Sleep(ctx, o.interval); err != nil {
			return err
		}
	}
	view.Message = fmt.Sprintf("%s deployment %s ended %s", t.Key(), lastPart(view.ServiceDeploymentARN), view.ECSStatus)
	if err := e.Emit(view, func(w io.Writer) {
		fmt.Fprintf(w, "%s: %s\n", e.Paint(OutcomeStyle(view.ECSStatus), view.ECSStatus), view.Message)
	}); err != nil {
		return err
	}
	if view.ECSStatus != string(ecstypes.ServiceDeploymentStatusRollbackSuccessful) {
		return silent{ExitFailed}
	}
	return nil
}

// pickRollbackTarget chooses what to redeploy from a newest-first history: the record named
// by to (a digest or a result ID), or the last good one before the current image. It is a
// pure function.
func pickRollbackTarget(hist []result.Result, to string) (target *result.Result, current *result.Result, basis string, err error) {
	for i := range hist {
		if hist[i].Outcome == result.Succeeded {
			current = &hist[i]
			break
		}
	}
	switch {
	case to == "":
		exclude := ""
		if current != nil {
			exclude = current.Image.Digest
		}
		lg := ledger.LastGood(hist, exclude)
		if lg == nil {
			return nil, current, "", NotFoundf("no earlier good deployment in the ledger to go back to; name one with --to DIGEST or --to RESULT-ID (see greenlight history)")
		}
		return lg, current, "last good deployment " + lg.ID, nil
	case strings.HasPrefix(to, "sha256:"):
		if !digestRE.MatchString(to) {
			return nil, current, "", Usagef("--to %q: a digest is sha256: and 64 hex digits", to)
		}
		for i := range hist {
			if hist[i].Image.Digest == to && hist[i].Outcome == result.Succeeded {
				return &hist[i], current, "digest " + result.ShortDigest(to) + ", deployed by " + hist[i].ID, nil
			}
		}
		for i := range hist {
			if hist[i].Image.Digest == to {
				return &hist[i], current, "digest " + result.ShortDigest(to) + " (its last deployment ended " + string(hist[i].Outcome) + ")", nil
			}
		}
		return nil, current, "digest " + result.ShortDigest(to), nil // not in the ledger: ECR decides
	default:
		for i := range hist {
			if hist[i].ID == to {
				if hist[i].Image.Digest == "" {
					return nil, current, "", Failedf("result %s has no image digest to redeploy", to)
				}
				return &hist[i], current, "result " + to + " (" + string(hist[i].Outcome) + ")", nil
			}
		}
		return nil, current, "", NotFoundf("no deployment with ID %q in the ledger (the last 100): see greenlight history", to)
	}
}

func (e *Env) redeploy(ctx context.Context, c *Clients, lg *ledger.Table, t target, to string, yes, dryRun bool, o deployOptions) error {
	hist, err := lg.History(ctx, t.Key(), 100)
	if err != nil {
		return AWSError("read history", err)
	}
	chosen, current, basis, err := pickRollbackTarget(hist, to)
	if err != nil {
		return err
	}
	var img result.Image
	if chosen != nil {
		img = result.Image{Repository: chosen.Image.Repository, Tag: chosen.Image.Tag, Digest: chosen.Image.Digest}
	} else {
		repo := ""
		if t.Route != nil {
			repo = t.Route.Repository
		}
		img = result.Image{Repository: repo, Digest: to}
	}
	if t.Route != nil && img.Repository == "" {
		img.Repository = t.Route.Repository
	}
	// The image must still be in ECR (lifecycle policies delete old images).
	resolved, err := e.resolveImage(ctx, c, imageRef{Repository: img.Repository, Digest: img.Digest})
	if err != nil {
		return err
	}
	if img.Tag != "" {
		resolved.Tag = img.Tag
	}
	view := RollbackView{Service: t.Key(), Action: "redeploy", To: &resolved, Basis: basis}
	from := "-"
	if current != nil {
		view.From = &current.Image
		from = current.Image.String()
		if current.Image.Digest == resolved.Digest {
			return Failedf("%s already runs %s (%s): nothing to roll back to; name another with --to", t.Key(), resolved.String(), basis)
		}
	}
	note := fmt.Sprintf("rollback from %s to %s (%s)", from, resolved.String(), basis)
	if !dryRun {
		if err := e.Confirm(fmt.Sprintf("Deploy %s to %s through the normal blue/green path (%s; now %s)?", resolved.String(), t.Key(), basis, from), yes); err != nil {
			return err
		}
	}
	dv, err := e.startDeployment(ctx, t, resolved, note, workflow.SourceRollback, dryRun)
	if err != nil {
		return err
	}
	view.Deploy = dv
	view.Message = note
	if o.wait && !dryRun {
		if err := e.waitResult(ctx, t, dv, o); err != nil {
			return err
		}
	}
	if err := e.Emit(view, func(w io.Writer) {
		fmt.Fprintf(w, "Rollback of %s: %s → %s (%s)\n", t.Key(), from, resolved.String(), basis)
		e.printDeploy(w, dv, o.wait && !dryRun)
	}); err != nil {
		return err
	}
	if o.wait && !dryRun {
		return verdict(dv)
	}
	return nil
}
