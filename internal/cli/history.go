package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// HistoryView is the JSON of `history`: the ledger's deployment records, newest first, each
// a result.Result exactly as published (the public result contract).
type HistoryView struct {
	Service     string          `json:"service"`
	Deployments []result.Result `json:"deployments"`
}

// History is `greenlight history`.
func History() *Command {
	var service string
	var limit int
	return &Command{
		Name:    "history",
		Summary: "past deployments of a service: when, image, outcome, reason, duration",
		Usage:   "history --service CLUSTER/SERVICE [--limit N]",
		Description: `Lists the service's deployment records from the ledger, newest first: when each started,
the image tag and digest, the outcome, the reason (for anything but success), how long it
took and what triggered it. The ID column is what 'greenlight rollback --to' accepts.`,
		Examples: []string{
			"greenlight history --service prod/web",
			"greenlight history --service web --limit 5",
			"greenlight history --service prod/web -o json | jq -r '.deployments[] | select(.outcome==\"SUCCEEDED\") | .image.digest'",
		},
		Flags: func(fs *flag.FlagSet) {
			fs.StringVar(&service, "service", "", "CLUSTER/SERVICE (or a service name unique in the routes)")
			fs.IntVar(&limit, "limit", 20, "show at most N deployments (1-100)")
		},
		Run: func(ctx context.Context, e *Env, _ []string) error {
			if limit < 1 || limit > 100 {
				return Usagef("--limit %d: use 1-100", limit)
			}
			t, err := e.target(ctx, service)
			if err != nil {
				return err
			}
			lg, err := e.Ledger(ctx)
			if err != nil {
				return err
			}
			hist, err := lg.History(ctx, t.Key(), limit)
			if err != nil {
				return AWSError("read history", err)
			}
			view := HistoryView{Service: t.Key(), Deployments: hist}
			if view.Deployments == nil {
				view.Deployments = []result.Result{}
			}
			return e.Emit(view, func(w io.Writer) {
				if len(hist) == 0 {
					fmt.Fprintf(w, "No deployments of %s in the ledger yet.\n", t.Key())
					return
				}
				tb := &Table{Header: []string{"STARTED", "OUTCOME", "IMAGE", "DIGEST", "DURATION", "TRIGGER", "REASON", "ID"}}
				for _, r := range hist {
					tb.Add(C(Stamp(r.StartedAt)), Cs(OutcomeStyle(string(r.Outcome)), string(r.Outcome)),
						C(imageLabel(r.Image)), C(orDash(r.Image.ShortDigest())), C(Seconds(r.DurationSeconds)),
						C(triggerLabel(r.Trigger)), C(reasonLabel(r.Reason, 60)), Cs(Dim, r.ID))
				}
				tb.Write(e, w)
			})
		},
	}
}

// target resolves --service against the routes when the reference needs them (a bare
// service name) or can use them (to find the route); a missing routes parameter is fine for
// CLUSTER/SERVICE.
func (e *Env) target(ctx context.Context, ref string) (target, error) {
	if ref == "" {
		return target{}, Usagef("--service is required: CLUSTER/SERVICE, e.g. prod/web")
	}
	if strings.Contains(ref, "/") {
		t, err := resolveService(nil, ref)
		if err != nil {
			return t, err
		}
		if doc, err := e.Routes(ctx); err == nil {
			return resolveService(doc, ref)
		}
		return t, nil
	}
	doc, err := e.Routes(ctx)
	if err != nil {
		return target{}, err
	}
	return resolveService(doc, ref)
}

func imageLabel(i result.Image) string {
	if i.Tag != "" {
		return i.Repository + ":" + i.Tag
	}
	if i.Repository == "" {
		return "-"
	}
	return i.Repository
}

func triggerLabel(t result.Trigger) string {
	s := orDash(t.Source)
	if t.RequestedBy != "" {
		by := t.RequestedBy
		if i := strings.LastIndex(by, "/"); i >= 0 {
			by = by[i+1:]
		}
		s += " (" + by + ")"
	}
	return s
}

func reasonLabel(r *result.Reason, max int) string {
	if r == nil {
		return "-"
	}
	s := string(r.Kind)
	if r.Summary != "" {
		s += ": " + r.Summary
	}
	if len([]rune(s)) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}
