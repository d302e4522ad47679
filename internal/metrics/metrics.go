package metrics

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Namespace is the CloudWatch namespace of every greenlight metric.
const Namespace = "Greenlight"

// Metric names.
const (
	Deployments     = "Deployments"
	Rollbacks       = "Rollbacks"
	Regressions     = "Regressions"
	DurationSeconds = "DurationSeconds"
	LeadTimeSeconds = "LeadTimeSeconds"
	StageSeconds    = "StageSeconds"
)

// Dimension names.
const (
	DimService    = "Service"
	DimOutcome    = "Outcome"
	DimReasonKind = "ReasonKind"
	DimStage      = "Stage"
)

// EMF units used here (the specification's unit list is CloudWatch's StandardUnit).
const (
	UnitCount   = "Count"
	UnitSeconds = "Seconds"
)

// Record is one EMF document: the _aws metadata plus the root members it references and a
// few context properties (searchable with Logs Insights, not metrics).
type Record map[string]any

// Metadata is the _aws member.
type Metadata struct {
	Timestamp         int64       `json:"Timestamp"`
	CloudWatchMetrics []Directive `json:"CloudWatchMetrics"`
}

// Directive is an EMF MetricDirective.
type Directive struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []Definition `json:"Metrics"`
}

// Definition is an EMF MetricDefinition.
type Definition struct {
	Name string `json:"Name"`
	Unit string `json:"Unit,omitempty"`
}

// ranECS reports whether the result followed an ECS service deployment, so its duration
// means "how long a deployment takes" rather than "how long it took to decide to skip".
func ranECS(r result.Result) bool {
	return r.ServiceDeploymentARN != "" && (r.Outcome == result.Succeeded || r.Outcome == result.RolledBack || r.Outcome == result.Failed)
}

// Records returns the EMF documents for one result: the main one, then one per stage with a
// duration, in the order the stages ran. now is used only when the result has no FinishedAt.
func Records(r result.Result, now time.Time) []Record {
	at := r.FinishedAt
	if at.IsZero() {
		at = now
	}
	service := r.Cluster + "/" + r.Service
	main := Record{
		DimService:  service,
		DimOutcome:  string(r.Outcome),
		Deployments: 1,
		// context: not dimensions, but kept on the log line for Logs Insights
		"ResultId": r.ID,
	}
	addContext(main, r)
	directives := []Directive{{
		Namespace:  Namespace,
		Dimensions: [][]string{{DimService}, {DimOutcome}, {DimService, DimOutcome}},
		Metrics:    []Definition{{Name: Deployments, Unit: UnitCount}},
	}}
	if ranECS(r) {
		main[DurationSeconds] = round(r.DurationSeconds)
		directives = append(directives, Directive{
			Namespace:  Namespace,
			Dimensions: [][]string{{DimService}, {DimService, DimOutcome}},
			Metrics:    []Definition{{Name: DurationSeconds, Unit: UnitSeconds}},
		})
	}
	if r.Outcome == result.Succeeded && !r.Trigger.PushedAt.IsZero() && !r.FinishedAt.IsZero() && r.FinishedAt.After(r.Trigger.PushedAt) {
		main[LeadTimeSeconds] = round(r.FinishedAt.Sub(r.Trigger.PushedAt).Seconds())
		directives = append(directives, Directive{
			Namespace: Namespace, Dimensions: [][]string{{DimService}},
			Metrics: []Definition{{Name: LeadTimeSeconds, Unit: UnitSeconds}},
		})
	}
	switch r.Outcome {
	case result.RolledBack:
		kind := result.KindUnknown
		if r.Reason != nil && r.Reason.Kind != "" {
			kind = r.Reason.Kind
		}
		main[DimReasonKind] = string(kind)
		main[Rollbacks] = 1
		directives = append(directives, Directive{
			Namespace: Namespace, Dimensions: [][]string{{DimReasonKind}, {DimService}},
			Metrics: []Definition{{Name: Rollbacks, Unit: UnitCount}},
		})
	case result.Regressed:
		main[Regressions] = 1
		directives = append(directives, Directive{
			Namespace: Namespace, Dimensions: [][]string{{DimService}},
			Metrics: []Definition{{Name: Regressions, Unit: UnitCount}},
		})
	}
	main["_aws"] = Metadata{Timestamp: at.UnixMilli(), CloudWatchMetrics: directives}
	out := []Record{main}

	if ranECS(r) {
		for _, st := range r.Stages {
			if st.Seconds <= 0 || st.Name == "" {
				continue
			}
			rec := Record{
				DimService: service, DimStage: st.Name, StageSeconds: round(st.Seconds),
				"ResultId": r.ID, DimOutcome: string(r.Outcome),
				"_aws": Metadata{Timestamp: at.UnixMilli(), CloudWatchMetrics: []Directive{{
					Namespace: Namespace, Dimensions: [][]string{{DimStage}, {DimService, DimStage}},
					Metrics: []Definition{{Name: StageSeconds, Unit: UnitSeconds}},
				}}},
			}
			out = append(out, rec)
		}
	}
	return out
}

func addContext(rec Record, r result.Result) {
	set := func(k, v string) {
		if v != "" {
			rec[k] = v
		}
	}
	set("Route", r.Route)
	set("Environment", r.Environment)
	set("Repository", r.Image.Repository)
	set("ImageTag", r.Image.Tag)
	set("ImageDigest", r.Image.Digest)
	set("ServiceDeploymentArn", r.ServiceDeploymentARN)
	set("ExecutionArn", r.ExecutionARN)
	set("TriggerSource", r.Trigger.Source)
	if r.Reason != nil {
		set("ReasonSummary", r.Reason.Summary)
		if r.Outcome != result.RolledBack {
			set(DimReasonKind, string(r.Reason.Kind))
		}
	}
}

// round keeps three decimals: milliseconds are the finest anything here is measured in.
func round(f float64) float64 {
	if f < 0 {
		return 0
	}
	return float64(int64(f*1000+0.5)) / 1000
}

// Write prints the result's EMF documents to w, one JSON object per line, each with a single
// Write call so lines never interleave with other log output.
func Write(w io.Writer, r result.Result) error {
	for _, rec := range Records(r, time.Now()) {
		if err := Validate(rec); err != nil {
			return fmt.Errorf("metrics for result %s: %w", r.ID, err)
		}
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		if _, err := w.Write(append(b, '\n')); err != nil {
			return fmt.Errorf("write metrics for result %s: %w", r.ID, err)
		}
	}
	return nil
}

// Validate checks a document against the EMF specification's rules: _aws with a Timestamp
// and at least one directive; each directive with a namespace, at most 30 dimension keys per
// set, 1-100 metrics with names of 1-255 characters and known units; every referenced
// dimension a non-empty string root member, every metric a number (or up to 100 numbers)
// root member.
func Validate(rec Record) error {
	raw, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	awsRaw, ok := doc["_aws"]
	if !ok {
		return fmt.Errorf("emf: no _aws member")
	}
	var md struct {
		Timestamp         *int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  *string    `json:"Namespace"`
			Dimensions [][]string `json:"Dimensions"`
			Metrics    []struct {
				Name              string `json:"Name"`
				Unit              string `json:"Unit"`
				StorageResolution *int   `json:"StorageResolution"`
			} `json:"Metrics"`
		} `json:"CloudWatchMetrics"`
	}
	if err := json.Unmarshal(awsRaw, &md); err != nil {
		return fmt.Errorf("emf: _aws: %w", err)
	}
	if md.Timestamp == nil || *md.Timestamp <= 0 {
		return fmt.Errorf("emf: _aws.Timestamp must be epoch milliseconds")
	}
	if len(md.CloudWatchMetrics) == 0 {
		return fmt.Errorf("emf: _aws.CloudWatchMetrics is empty")
	}
	for i, d := range md.CloudWatchMetrics {
		if d.Namespace == nil || len(*d.Namespace) == 0 || len(*d.Namespace) > 255 {
			return fmt.Errorf("emf: directive %d: Namespace must be 1-255 characters", i)
		}
		if d.Dimensions == nil {
			return fmt.Errorf("emf: directive %d: Dimensions is required (may be [[]])", i)
		}
		for _, set := range d.Dimensions {
			if len(set) > 30 {
				return fmt.Errorf("emf: directive %d: a dimension set has %d keys, at most 30", i, len(set))
			}
			for _, k := range set {
				var v any
				if err := json.Unmarshal(doc[k], &v); err != nil || doc[k] == nil {
					return fmt.Errorf("emf: directive %d: dimension %q has no root member", i, k)
				}
				s, ok := v.(string)
				if !ok || s == "" || len(s) > 1024 {
					return fmt.Errorf("emf: directive %d: dimension %q must be a string of 1-1024 characters", i, k)
				}
			}
		}
		if len(d.Metrics) == 0 || len(d.Metrics) > 100 {
			return fmt.Errorf("emf: directive %d: %d metrics, want 1-100", i, len(d.Metrics))
		}
		for _, m := range d.Metrics {
			if len(m.Name) == 0 || len(m.Name) > 255 {
				return fmt.Errorf("emf: directive %d: metric name %q must be 1-255 characters", i, m.Name)
			}
			if m.Unit != "" && !validUnits[m.Unit] {
				return fmt.Errorf("emf: metric %s: unit %q is not a CloudWatch unit", m.Name, m.Unit)
			}
			if m.StorageResolution != nil && *m.StorageResolution != 1 && *m.StorageResolution != 60 {
				return fmt.Errorf("emf: metric %s: StorageResolution must be 1 or 60", m.Name)
			}
			var v any
			if err := json.Unmarshal(doc[m.Name], &v); err != nil || doc[m.Name] == nil {
				return fmt.Errorf("emf: metric %s has no root member", m.Name)
			}
			switch x := v.(type) {
			case float64:
			case []any:
				if len(x) == 0 || len(x) > 100 {
					return fmt.Errorf("emf: metric %s: %d values, want 1-100", m.Name, len(x))
				}
				for _, e := range x {
					if _, ok := e.(float64); !ok {
						return fmt.Errorf("emf: metric %s: value %v is not a number", m.Name, e)
					}
				}
			default:
				return fmt.Errorf("emf: metric %s: value %v is not a number", m.Name, v)
			}
		}
	}
	return nil
}

var validUnits = func() map[string]bool {
	m := map[string]bool{}
	for _, u := range []string{"Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes",
		"Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
		"Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
		"Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None"} {
		m[u] = true
	}
	return m
}()

// MetricNames lists every metric this package emits, sorted (for the dashboard test).
func MetricNames() []string {
	n := []string{Deployments, Rollbacks, Regressions, DurationSeconds, LeadTimeSeconds, StageSeconds}
	sort.Strings(n)
	return n
}
