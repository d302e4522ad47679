package reconcile

import (
	"fmt"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// Image is one image of an ECR repository as DescribeImages reports it.
type Image struct {
	Digest   string
	Tags     []string
	PushedAt time.Time
}

// ServiceState is what the ledger says about one service.
type ServiceState struct {
	// History is the service's deployment records, newest first.
	History []result.Result
	// Err is why the history could not be read; the service is then left alone.
	Err error
}

// Input is everything Plan decides from.
type Input struct {
	Routes *routes.Document
	// Images are the tagged images per repository; ImageErrs the repositories whose listing
	// failed (their services are left alone: the newest image is not known).
	Images    map[string][]Image
	ImageErrs map[string]error
	// Services is the ledger state per target key (cluster/service).
	Services map[string]ServiceState
	Now      time.Time
	// Grace leaves images pushed less than this long ago alone: their event is probably
	// still on its way.
	Grace time.Duration
}

// Action is what reconciliation does for a service.
type Action string

// Actions.
const (
	ActionStart Action = "start" // start the state machine for the image
	ActionSkip  Action = "skip"  // nothing to do (Reason says why)
)

// Reason says why a service was skipped. The run's summary counts skips by reason.
type Reason string

// Skip reasons. The first group is Plan's; the second comes from the I/O around it.
const (
	ReasonNoImage  Reason = "no-matching-image" // no image in the repository has a tag the route matches
	ReasonGrace    Reason = "grace-period"      // the newest image was pushed within the grace period
	ReasonDeployed Reason = "already-deployed"  // a deployment record has the digest
	ReasonNotNewer Reason = "not-newer"         // not newer than what greenlight last deployed to the service
	// ReasonNoHistory: greenlight has never deployed the service, so nothing says which push
	// it missed (reconciliation starts after the service's first greenlight deployment).
	ReasonNoHistory   Reason = "no-history"
	ReasonECRError    Reason = "ecr-error"    // the repository could not be listed
	ReasonLedgerError Reason = "ledger-error" // the history or the digest marker could not be read or written

	ReasonRunning    Reason = "already-running" // the service already runs the digest
	ReasonSeen       Reason = "already-seen"    // the digest marker is held by a push or another reconciliation
	ReasonStarted    Reason = "already-started" // the reconcile execution exists (a retried or overlapping run)
	ReasonECSError   Reason = "ecs-error"       // the service's running image could not be read
	ReasonStartError Reason = "start-error"     // states:StartExecution failed (the next run tries again)
)

// IsError reports whether the reason is a failure to look or act rather than a decision.
func (r Reason) IsError() bool {
	switch r {
	case ReasonECRError, ReasonLedgerError, ReasonECSError, ReasonStartError:
		return true
	}
	return false
}

// Decision is what reconciliation does for one service (route target).
type Decision struct {
	Route  string        `json:"route,omitempty"`
	Target routes.Target `json:"target"`
	// Image is the newest matching image (repository, tag, digest), when there is one.
	Image    result.Image `json:"image,omitzero"`
	PushedAt time.Time    `json:"pushedAt,omitzero"`
	Action   Action       `json:"action"`
	Reason   Reason       `json:"reason,omitempty"`
	// Detail says in words what was compared.
	Detail string `json:"detail,omitempty"`
	// ExecutionARN is the reconcile execution (started, or found already started).
	ExecutionARN string `json:"executionArn,omitempty"`
}

func (d Decision) skip(r Reason, format string, a ...any) Decision {
	d.Action, d.Reason, d.Detail = ActionSkip, r, fmt.Sprintf(format, a...)
	return d
}

// candidate is one (image, tag) a route would deploy to the service.
type candidate struct {
	repo     string
	tag      string
	digest   string
	pushedAt time.Time
}

// newer orders candidates: later imagePushedAt first; on a tie the lexically greatest tag
// (then repository) wins, so the choice never depends on listing order.
func (c candidate) newer(o candidate) bool {
	if !c.pushedAt.Equal(o.pushedAt) {
		return c.pushedAt.After(o.pushedAt)
	}
	if c.tag != o.tag {
		return c.tag > o.tag
	}
	return c.repo > o.repo
}

// Plan decides, for every service a route targets (in document order, each once), whether
// reconciliation deploys the newest image matching its routes:
//
//  1. the newest image whose tag matches a route naming the service, by imagePushedAt (ties:
//     the lexically greatest tag) — none: no-matching-image; a listing failed: ecr-error;
//  2. pushed less than Grace ago: grace-period (the event is probably on its way);
//  3. a deployment record has the digest: already-deployed;
//  4. no deployment record at all: no-history (nothing says a push was missed);
//  5. not pushed after the newest record's image (for cli, rollback and regression-rollback
//     records: after the record started, since a person or greenlight chose that image then):
//     not-newer — an older image is never deployed over a newer one;
//  6. otherwise start, with the route that a push of that tag would have used (the first in
//     the document that matches and names the service).
//
// The digest marker, the running image and the execution are checked by Run, which may still
// turn a start into a skip.
func Plan(in Input) []Decision {
	if in.Routes == nil {
		return nil
	}
	var order []string
	naming := map[string][]int{} // target key -> indexes of the routes that name it
	targets := map[string]routes.Target{}
	for i, r := range in.Routes.Routes {
		for _, t := range r.Targets {
			k := t.Key()
			if _, ok := naming[k]; !ok {
				order = append(order, k)
				targets[k] = t
			}
			if l := naming[k]; len(l) == 0 || l[len(l)-1] != i {
				naming[k] = append(naming[k], i)
			}
		}
	}
	pushedAt := map[string]time.Time{} // repository@digest -> imagePushedAt
	for repo, imgs := range in.Images {
		for _, im := range imgs {
			pushedAt[repo+"@"+im.Digest] = im.PushedAt
		}
	}
	out := make([]Decision, 0, len(order))
	for _, k := range order {
		out = append(out, planService(in, targets[k], naming[k], pushedAt))
	}
	return out
}

func planService(in Input, t routes.Target, routeIdx []int, pushedAt map[string]time.Time) Decision {
	d := Decision{Target: t}
	var best *candidate
	for _, i := range routeIdx {
		r := &in.Routes.Routes[i]
		if err, ok := in.ImageErrs[r.Repository]; ok {
			d.Route = r.Name
			return d.skip(ReasonECRError, "cannot list repository %s (route %s): %v", r.Repository, r.Name, err)
		}
		for _, im := range in.Images[r.Repository] {
			for _, tag := range im.Tags {
				if !r.MatchesTag(tag) {
					continue
				}
				c := candidate{repo: r.Repository, tag: tag, digest: im.Digest, pushedAt: im.PushedAt}
				if best == nil || c.newer(*best) {
					best = &c
				}
			}
		}
	}
	if best == nil {
		d.Route = in.Routes.Routes[routeIdx[0]].Name
		return d.skip(ReasonNoImage, "no image in %s has a tag its routes match", repoList(in.Routes, routeIdx))
	}
	for _, i := range routeIdx { // the route (and its container) a push of this tag would have used
		r := &in.Routes.Routes[i]
		if r.Repository == best.repo && r.MatchesTag(best.tag) {
			d.Route = r.Name
			for _, rt := range r.Targets {
				if rt.Key() == t.Key() {
					d.Target = rt
					break
				}
			}
			break
		}
	}
	d.Image = result.Image{Repository: best.repo, Tag: best.tag, Digest: best.digest}
	d.PushedAt = best.pushedAt.UTC()
	name := best.repo + ":" + best.tag
	if age := in.Now.Sub(best.pushedAt); age < in.Grace {
		return d.skip(ReasonGrace, "%s was pushed %s ago, within the %s grace period: its event is probably on its way",
			name, age.Round(time.Second), in.Grace)
	}
	st := in.Services[t.Key()]
	if st.Err != nil {
		return d.skip(ReasonLedgerError, "cannot read the deployment history of %s: %v", t.Key(), st.Err)
	}
	for _, r := range st.History {
		if r.Image.Digest == best.digest {
			return d.skip(ReasonDeployed, "%s@%s is in the ledger: %s %s", name, result.ShortDigest(best.digest), r.ID, r.Outcome)
		}
	}
	var newest *result.Result
	var newestAt time.Time
	for i := range st.History {
		r := &st.History[i]
		if r.Image.Digest == "" {
			continue
		}
		at := recordTime(*r, pushedAt)
		if newest == nil || at.After(newestAt) {
			newest, newestAt = r, at
		}
	}
	if newest == nil {
		return d.skip(ReasonNoHistory, "greenlight has not deployed %s yet: reconciliation starts after its first deployment", t.Key())
	}
	if !best.pushedAt.After(newestAt) {
		return d.skip(ReasonNotNewer, "%s (pushed %s) is not newer than %s in %s (%s %s): never deploy an older image over a newer one",
			name, d.PushedAt.Format(time.RFC3339), newest.Image.String(), newest.ID, recordTimeWord(*newest), newestAt.UTC().Format(time.RFC3339))
	}
	d.Action = ActionStart
	d.Detail = fmt.Sprintf("%s@%s (pushed %s) is newer than %s in %s and greenlight never saw it",
		name, result.ShortDigest(best.digest), d.PushedAt.Format(time.RFC3339), newest.Image.String(), newest.ID)
	return d
}

// operatorChoice reports whether a record's image was chosen by a person or by greenlight
// (not pushed): its time is when that choice was made.
func operatorChoice(source string) bool {
	return source == workflow.SourceCLI || workflow.IsRollback(source)
}

// recordTime is what a deployment record's time means for "newer": when its image was
// pushed (ECR's imagePushedAt when the image is still listed, else the trigger's push time),
// or, for an image a person or greenlight chose, when the deployment started.
func recordTime(r result.Result, pushedAt map[string]time.Time) time.Time {
	if operatorChoice(r.Trigger.Source) {
		return r.StartedAt
	}
	if t, ok := pushedAt[r.Image.Repository+"@"+r.Image.Digest]; ok {
		return t
	}
	if !r.Trigger.PushedAt.IsZero() {
		return r.Trigger.PushedAt
	}
	return r.StartedAt
}

func recordTimeWord(r result.Result) string {
	if operatorChoice(r.Trigger.Source) {
		return r.Trigger.Source + " deployment started"
	}
	return "pushed"
}

func repoList(doc *routes.Document, idx []int) string {
	seen := map[string]bool{}
	s := ""
	for _, i := range idx {
		r := doc.Routes[i].Repository
		if seen[r] {
			continue
		}
		seen[r] = true
		if s != "" {
			s += ", "
		}
		s += r
	}
	return s
}

// CheckRunning turns a start into an already-running skip when the service's container
// already runs the digest (image is the container's image reference in the service's
// current task definition).
func CheckRunning(d Decision, image string) Decision {
	if d.Action != ActionStart {
		return d
	}
	if deploy.PinsDigest(image, d.Image.Repository, d.Image.Digest) {
		return d.skip(ReasonRunning, "%s already runs %s@%s in container %s", d.Target.Key(), d.Image.Repository, d.Image.ShortDigest(), d.Target.Container)
	}
	return d
}
