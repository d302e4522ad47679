package rehearsal

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/result"
)

// The invariants every scenario is checked against once its executions have ended,
// whatever it injected: what must hold of greenlight whatever goes wrong.
const (
	InvariantOneResult   = "exactly one result per target deployment"
	InvariantNoLock      = "no lock left held"
	InvariantNoDuplicate = "no duplicate chat message per channel"
	InvariantECSAgrees   = "ledger and ECS agree on what runs"
)

// InvariantReport is one invariant's verdict on a scenario.
type InvariantReport struct {
	Name   string `json:"name"`
	Held   bool   `json:"held"`
	Detail string `json:"detail,omitempty"`
}

// checkInvariants judges what a scenario left behind. It only reads o.
func checkInvariants(o *Observed) []InvariantReport {
	return []InvariantReport{
		verdict(InvariantOneResult, oneResult(o)),
		verdict(InvariantNoLock, noLock(o)),
		verdict(InvariantNoDuplicate, noDuplicateChat(o)),
		verdict(InvariantECSAgrees, ecsAgrees(o)),
	}
}

func verdict(name string, problems []string) InvariantReport {
	if len(problems) > 0 {
		return InvariantReport{Name: name, Detail: strings.Join(problems, "; ")}
	}
	return InvariantReport{Name: name, Held: true}
}

// oneResult: every push's execution published exactly one result for its target (by result
// ID, REGRESSED follow-ups aside), any other execution that published did too, no result
// ID came with two outcomes, and the ledger holds exactly one record per published result,
// with the same outcome, and none that was never published.
func oneResult(o *Observed) []string {
	var problems []string
	type key struct{ execution, target string }
	ids := map[key]map[string]bool{}
	outcomes := map[string]result.Outcome{}
	var order []key
	for _, r := range o.Published {
		if r.Outcome == result.Regressed {
			continue
		}
		k := key{r.ExecutionARN, r.Cluster + "/" + r.Service}
		if ids[k] == nil {
			ids[k] = map[string]bool{}
			order = append(order, k)
		}
		ids[k][r.ID] = true
		if prev, ok := outcomes[r.ID]; ok && prev != r.Outcome {
			problems = append(problems, fmt.Sprintf("result %s was published as %s and as %s", r.ID, prev, r.Outcome))
		}
		outcomes[r.ID] = r.Outcome
	}
	pushed := map[string]bool{}
	for _, p := range o.Pushes {
		pushed[p.Execution] = true
		n := 0
		for k, set := range ids {
			if k.execution == p.Execution {
				n += len(set)
			}
		}
		if n != 1 {
			problems = append(problems, fmt.Sprintf("push %s (execution %s): %d results on the result topic; want 1", p.Label, shortARN(p.Execution), n))
		}
	}
	for _, k := range order {
		if !pushed[k.execution] && len(ids[k]) != 1 {
			problems = append(problems, fmt.Sprintf("execution %s published %d results for %s; want 1", shortARN(k.execution), len(ids[k]), k.target))
		}
	}
	if o.End.Error != "" {
		return append(problems, "the ledger could not be read: "+o.End.Error)
	}
	recorded := map[string]int{}
	recOutcome := map[string]result.Outcome{}
	for _, r := range o.End.Records {
		recorded[r.ID]++
		recOutcome[r.ID] = r.Outcome
	}
	for id, out := range outcomes {
		var named bool
		for _, r := range o.Published {
			if r.ID == id && r.Cluster != "" && r.Service != "" {
				named = true
			}
		}
		switch {
		case !named:
			// A result without a service (a resolve failure) has no ledger record.
		case recorded[id] != 1:
			problems = append(problems, fmt.Sprintf("result %s (%s): %d ledger records; want 1", id, out, recorded[id]))
		case recOutcome[id] != out && recOutcome[id] != result.Regressed:
			problems = append(problems, fmt.Sprintf("result %s: published %s, recorded %s", id, out, recOutcome[id]))
		}
	}
	for id := range recorded {
		if _, ok := outcomes[id]; !ok && !publishedAs(o, id, result.Regressed) {
			problems = append(problems, fmt.Sprintf("the ledger records result %s (%s), which was never published", id, recOutcome[id]))
		}
	}
	sort.Strings(problems)
	return problems
}

func publishedAs(o *Observed, id string, out result.Outcome) bool {
	for _, r := range o.Published {
		if r.ID == id && r.Outcome == out {
			return true
		}
	}
	return false
}

func noLock(o *Observed) []string {
	if o.End.Error != "" {
		return []string{"the ledger could not be read: " + o.End.Error}
	}
	if o.End.Lock != "" {
		return []string{o.End.Lock}
	}
	return nil
}

// noDuplicateChat: no channel got the same message twice, nor more messages than there are
// results to tell.
func noDuplicateChat(o *Observed) []string {
	var problems []string
	by := map[string][]ChatMessage{}
	var channels []string
	for _, m := range o.Chat {
		if by[m.Channel] == nil {
			channels = append(channels, m.Channel)
		}
		by[m.Channel] = append(by[m.Channel], m)
	}
	results := map[string]bool{}
	for _, r := range o.Published {
		results[r.ID+"/"+string(r.Outcome)] = true
	}
	for _, ch := range channels {
		ms := by[ch]
		for i := range ms {
			for j := i + 1; j < len(ms); j++ {
				if bytes.Equal(ms[i].Body, ms[j].Body) {
					first, _, _ := strings.Cut(ms[i].Text, "\n")
					problems = append(problems, fmt.Sprintf("channel %s got the same message twice (%q, at %s and %s)", ch, first,
						ms[i].At.Format("15:04:05.000"), ms[j].At.Format("15:04:05.000")))
				}
			}
		}
		if len(ms) > len(results) {
			problems = append(problems, fmt.Sprintf("channel %s got %d messages for %d results", ch, len(ms), len(results)))
		}
	}
	return problems
}

// ecsAgrees: the image the service runs (its task definition's, and every running task's)
// is the one of the newest SUCCEEDED record in the ledger, when there is one.
func ecsAgrees(o *Observed) []string {
	e := o.End
	if e.Error != "" {
		return []string{"the end state could not be read: " + e.Error}
	}
	var newest *result.Result
	for i := range e.Records { // newest first
		if e.Records[i].Outcome == result.Succeeded {
			newest = &e.Records[i]
			break
		}
	}
	if newest == nil {
		return nil
	}
	var problems []string
	if e.Digest != newest.Image.Digest {
		problems = append(problems, fmt.Sprintf("the service runs %s (task definition %s), the ledger's newest SUCCEEDED record (%s) deployed %s",
			shortDigest(e.Digest), shortARN(e.TaskDefinition), newest.ID, shortDigest(newest.Image.Digest)))
	}
	for _, d := range e.RunningDigests {
		if d != newest.Image.Digest {
			problems = append(problems, fmt.Sprintf("a running task runs %s; the ledger says %s", shortDigest(d), shortDigest(newest.Image.Digest)))
			break
		}
	}
	return problems
}

func shortDigest(d string) string {
	if s := result.ShortDigest(d); s != "" {
		return s
	}
	return "(no digest)"
}

// readEnd reads what the ledger and ECS hold at the end of the scenario.
func (r *scenarioRun) readEnd(ctx context.Context) EndState {
	var e EndState
	fail := func(err error) EndState {
		e.Error = err.Error()
		return e
	}
	tbl := ledger.New(r.l.c.ddb, r.st.table)
	key := clusterName + "/" + serviceName
	recs, err := tbl.History(ctx, key, 0)
	if err != nil {
		return fail(err)
	}
	e.Records = recs
	h, err := tbl.Lock(ctx, key)
	if err != nil {
		return fail(err)
	}
	if h != nil {
		e.Lock = fmt.Sprintf("the lock on %s is held by job %s (execution %s, lease until %s)", key, h.JobID, shortARN(h.Execution), h.LeaseUntil.Format(time.RFC3339))
	}
	td, err := r.em.ServiceTaskDefinition(clusterName, serviceName)
	if err != nil {
		return fail(err)
	}
	e.TaskDefinition = td
	images := map[string]string{}
	imageOf := func(arn string) (string, error) {
		if img, ok := images[arn]; ok {
			return img, nil
		}
		out, err := r.l.c.ecs.DescribeTaskDefinition(ctx, &ecs.DescribeTaskDefinitionInput{TaskDefinition: aws.String(arn)})
		if err != nil {
			return "", fmt.Errorf("describe task definition %s: %w", arn, err)
		}
		img, ok := deploy.ContainerImage(out.TaskDefinition, r.l.o.container)
		if !ok {
			return "", fmt.Errorf("task definition %s has no container %s", arn, r.l.o.container)
		}
		images[arn] = img
		return img, nil
	}
	if e.Image, err = imageOf(td); err != nil {
		return fail(err)
	}
	_, _, e.Digest = deploy.ParseImage(e.Image)
	tasks, err := r.em.Tasks(clusterName, serviceName)
	if err != nil {
		return fail(err)
	}
	for _, t := range tasks {
		if t.LastStatus != "RUNNING" {
			continue
		}
		img, err := imageOf(t.TaskDefinitionARN)
		if err != nil {
			return fail(err)
		}
		_, _, d := deploy.ParseImage(img)
		e.RunningDigests = append(e.RunningDigests, d)
	}
	return e
}
