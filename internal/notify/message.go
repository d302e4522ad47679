package notify

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Tone is the colour family of an outcome.
type Tone string

// Tones. Platforms map them to their own colours.
const (
	ToneGood    Tone = "good"    // green: SUCCEEDED
	ToneBad     Tone = "bad"     // red: ROLLED_BACK, FAILED, REGRESSED
	ToneWarning Tone = "warning" // amber: BLOCKED
	ToneNeutral Tone = "neutral" // grey: SUPERSEDED, SKIPPED
)

// Style is how an outcome is announced.
type Style struct {
	Emoji string
	Words string // "Rolled back"
	Tone  Tone
	// EventType is the Amazon Q Developer metadata.eventType (custom actions match on it).
	EventType string
}

var styles = map[result.Outcome]Style{
	result.Succeeded:  {"✅", "Deployed", ToneGood, "GreenlightDeploymentSucceeded"},
	result.RolledBack: {"⏪", "Rolled back", ToneBad, "GreenlightDeploymentRolledBack"},
	result.Failed:     {"❌", "Deployment failed", ToneBad, "GreenlightDeploymentFailed"},
	result.Regressed:  {"📉", "Regressed after deploy", ToneBad, "GreenlightDeploymentRegressed"},
	result.Blocked:    {"🚧", "Blocked", ToneWarning, "GreenlightDeploymentBlocked"},
	result.Superseded: {"⏭️", "Superseded", ToneNeutral, "GreenlightDeploymentSuperseded"},
	result.Skipped:    {"➖", "Skipped", ToneNeutral, "GreenlightDeploymentSkipped"},
}

// StyleOf returns the style of an outcome; an outcome this version does not know yet is
// announced by its name, in grey.
func StyleOf(o result.Outcome) Style {
	if s, ok := styles[o]; ok {
		return s
	}
	w := strings.ToLower(strings.ReplaceAll(string(o), "_", " "))
	if w == "" {
		w = "unknown outcome"
	}
	return Style{"ℹ️", strings.ToUpper(w[:1]) + w[1:], ToneNeutral, "GreenlightDeployment"}
}

// Message is what every chat renderer says, in order: the headline (outcome first), the
// reason's summary verbatim, its details, the evidence, the facts, warnings, links, footer.
// Every text is plain (renderers escape it for their markup).
type Message struct {
	Outcome result.Outcome
	Style   Style
	// Subject is the service and where it runs: "web (prod)".
	Subject string
	// Headline is "⏪ Rolled back: web (prod)".
	Headline string
	// Summary is reason.summary verbatim: it already says why, with numbers. Empty on success.
	Summary  string
	Details  []string
	Evidence []Section
	Facts    []Fact
	Warnings []string
	Links    []Link
	Footer   string
}

// Section is one kind of evidence: "Failed checks (2 of 6)", "Alarm", "ECS said".
type Section struct {
	Title string
	Lines []Line
}

// Line is one piece of evidence; Code, when set, is a preformatted excerpt (a response body)
// shown under it.
type Line struct {
	Text string
	Code string
}

// Fact is a name/value pair: Image, Previous image, Duration, Stage reached …
type Fact struct {
	Name  string
	Value string
}

// Link is a console URL for a person to follow.
type Link struct {
	Text string
	URL  string
}

// How much evidence a message carries before any platform limit applies.
const (
	maxChecksShown  = 3
	maxAlarmsShown  = 3
	maxSeriesShown  = 12
	maxTasksShown   = 3
	maxHooksShown   = 3
	maxDetailsShown = 5
	maxWarnings     = 5
	maxCodeChars    = 400
	maxLineChars    = 1000
	// A body excerpt longer than this (or on several lines) is shown in full under the
	// check's line; shorter ones are already in CheckEvidence.Summary.
	inlineBodyChars = 60
)

// Compose turns a result into the Message every renderer draws. It is pure: the same result
// always gives the same message.
func Compose(r result.Result) Message {
	st := StyleOf(r.Outcome)
	m := Message{Outcome: r.Outcome, Style: st, Subject: subject(r)}
	m.Headline = st.Emoji + " " + st.Words + ": " + m.Subject
	if r.Reason != nil {
		m.Summary = clean(r.Reason.Summary)
		var details []string
		isRedundant := redundancy(r)
		for _, d := range r.Reason.Details {
			if !isRedundant(d) {
				details = append(details, d)
			}
		}
		for i, d := range details {
			if i == maxDetailsShown {
				m.Details = append(m.Details, fmt.Sprintf("… and %d more", len(details)-i))
				break
			}
			m.Details = append(m.Details, truncateChars(clean(d), maxLineChars))
		}
		if r.Reason.Evidence != nil {
			m.Evidence = evidenceSections(*r.Reason.Evidence)
		}
	}
	if showECS(r) {
		if s := ecsSaid(r); s != nil {
			m.Evidence = append(m.Evidence, *s)
		}
	}
	m.Facts = facts(r)
	for i, w := range r.Warnings {
		if i == maxWarnings {
			m.Warnings = append(m.Warnings, fmt.Sprintf("… and %d more warnings", len(r.Warnings)-i))
			break
		}
		m.Warnings = append(m.Warnings, truncateChars(clean(w), maxLineChars))
	}
	m.Links = links(r.Links)
	m.Footer = footer(r)
	return m
}

// showECS: ECS's own words belong to rollbacks and failures; on success they add nothing,
// and a REGRESSED follow-up comes after ECS finished successfully.
func showECS(r result.Result) bool {
	return r.Outcome != result.Succeeded && r.Outcome != result.Regressed
}

// redundancy returns a test for reason details that repeat what an evidence section shows:
// a check's or alarm's summary, a stopped task's line, or ECS's words (shown last). The
// summaries are computed once: evidence can hold hundreds of checks and thousands of
// datapoints.
func redundancy(r result.Result) func(string) bool {
	ecs := showECS(r) && (r.ECSStatusReason != "" || (r.Reason.Evidence != nil && r.Reason.Evidence.ECSRollbackReason != ""))
	shown := map[string]bool{}
	var taskPrefixes []string
	if ev := r.Reason.Evidence; ev != nil {
		for _, c := range ev.SmokeChecks {
			if !c.Passed {
				shown[c.Summary()] = true
			}
		}
		for _, a := range ev.Alarms {
			shown[a.Summary()] = true
		}
		for _, t := range ev.StoppedTasks {
			if id := lastSegment(t.TaskARN, "/"); id != "" {
				taskPrefixes = append(taskPrefixes, id+": ")
			}
		}
	}
	return func(d string) bool {
		if ecs && (strings.HasPrefix(d, "ECS: ") || strings.HasPrefix(d, "ECS rollback reason: ")) {
			return true
		}
		if shown[d] {
			return true
		}
		for _, p := range taskPrefixes {
			if strings.HasPrefix(d, p) {
				return true
			}
		}
		return false
	}
}

func clean(s string) string { return validUTF8(strings.TrimSpace(s)) }

func subject(r result.Result) string {
	svc := r.Service
	if svc == "" {
		svc = r.Image.Repository
	}
	if svc == "" {
		svc = "unknown service"
	}
	switch {
	case r.Environment != "":
		return clean(svc + " (" + r.Environment + ")")
	case r.Cluster != "":
		return clean(svc + " (cluster " + r.Cluster + ")")
	}
	return clean(svc)
}

func evidenceSections(e result.Evidence) []Section {
	var out []Section
	if s := checksSection(e.SmokeChecks); s != nil {
		out = append(out, *s)
	}
	if s := alarmsSection(e.Alarms); s != nil {
		out = append(out, *s)
	}
	if s := tasksSection(e.StoppedTasks); s != nil {
		out = append(out, *s)
	}
	if cb := e.CircuitBreaker; cb != nil {
		t := fmt.Sprintf("%d failed tasks, threshold %d", cb.FailureCount, cb.Threshold)
		if cb.Status != "" {
			t += " (" + cb.Status + ")"
		}
		out = append(out, Section{Title: "Circuit breaker", Lines: []Line{{Text: t}}})
	}
	if s := hooksSection(e.Hooks); s != nil {
		out = append(out, *s)
	}
	if er := e.Error; er != nil {
		t := er.Name
		if er.Step != "" {
			t = "in step " + er.Step + ": " + t
		}
		if er.Message != "" {
			t += ": " + oneLine(er.Message)
		}
		out = append(out, Section{Title: "Error", Lines: []Line{{Text: truncateChars(clean(t), maxLineChars)}}})
	}
	return out
}

func checksSection(checks []result.CheckEvidence) *Section {
	var failed []result.CheckEvidence
	for _, c := range checks {
		if !c.Passed {
			failed = append(failed, c)
		}
	}
	if len(failed) == 0 {
		return nil
	}
	stages := map[string]bool{}
	for _, c := range checks {
		stages[c.Stage] = true
	}
	s := &Section{Title: fmt.Sprintf("Failed checks (%d of %d)", len(failed), len(checks))}
	for i, c := range failed {
		if i == maxChecksShown {
			s.Lines = append(s.Lines, Line{Text: fmt.Sprintf("… and %d more failed checks", len(failed)-i)})
			break
		}
		t := c.Check + ": " + c.Summary()
		if len(stages) > 1 && c.Stage != "" {
			t += " at " + c.Stage
		}
		l := Line{Text: truncateChars(clean(t), maxLineChars)}
		body := clean(c.BodyExcerpt)
		if body != "" && (len(oneLine(body)) > inlineBodyChars || strings.Contains(body, "\n")) {
			l.Code = truncateChars(body, maxCodeChars)
		}
		s.Lines = append(s.Lines, l)
	}
	return s
}

func alarmsSection(alarms []result.AlarmEvidence) *Section {
	if len(alarms) == 0 {
		return nil
	}
	// Firing alarms first; otherwise keep the order the evidence gives.
	sorted := append([]result.AlarmEvidence(nil), alarms...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].State == "ALARM" && sorted[j].State != "ALARM" })
	title := "Alarm"
	if len(alarms) > 1 {
		title = "Alarms"
	}
	s := &Section{Title: title}
	for i, a := range sorted {
		if i == maxAlarmsShown {
			s.Lines = append(s.Lines, Line{Text: fmt.Sprintf("… and %d more alarms", len(sorted)-i)})
			break
		}
		t := a.Summary()
		if a.State != "" && a.State != "ALARM" {
			t += " (now " + a.State + ")"
		}
		s.Lines = append(s.Lines, Line{Text: truncateChars(clean(t), maxLineChars)})
		if series := datapointSeries(a); series != "" {
			s.Lines = append(s.Lines, Line{Text: series})
		}
	}
	return s
}

// datapointSeries renders the newest datapoints compactly:
// "Datapoints (60 s, 10:01–10:05 UTC): 0, 0, 1.2, 48, 52".
func datapointSeries(a result.AlarmEvidence) string {
	dps := a.Datapoints
	if len(dps) == 0 {
		return ""
	}
	shown := dps
	if len(shown) > maxSeriesShown {
		shown = shown[len(shown)-maxSeriesShown:]
	}
	vals := make([]string, len(shown))
	for i, d := range shown {
		vals[i] = formatNumber(d.Value)
	}
	var meta []string
	if a.PeriodSeconds > 0 {
		meta = append(meta, fmt.Sprintf("%d s", a.PeriodSeconds))
	}
	first, last := shown[0].At, shown[len(shown)-1].At
	if !first.IsZero() && !last.IsZero() {
		meta = append(meta, first.UTC().Format("15:04")+"–"+last.UTC().Format("15:04")+" UTC")
	}
	if len(dps) > len(shown) {
		meta = append(meta, fmt.Sprintf("last %d of %d", len(shown), len(dps)))
	}
	head := "Datapoints"
	if len(meta) > 0 {
		head += " (" + strings.Join(meta, ", ") + ")"
	}
	return head + ": " + strings.Join(vals, ", ")
}

func tasksSection(tasks []result.StoppedTask) *Section {
	if len(tasks) == 0 {
		return nil
	}
	s := &Section{Title: fmt.Sprintf("Stopped tasks (%d)", len(tasks))}
	for i, t := range tasks {
		if i == maxTasksShown {
			s.Lines = append(s.Lines, Line{Text: fmt.Sprintf("… and %d more stopped tasks", len(tasks)-i)})
			break
		}
		text := lastSegment(t.TaskARN, "/")
		if t.StoppedReason != "" {
			text += ": " + oneLine(t.StoppedReason)
		}
		var cs []string
		for _, c := range t.Containers {
			part := c.Name
			if c.ExitCode != nil {
				part += fmt.Sprintf(" exit %d", *c.ExitCode)
			}
			if c.Reason != "" {
				part += " (" + oneLine(c.Reason) + ")"
			}
			cs = append(cs, part)
		}
		if len(cs) > 0 {
			text += "; " + strings.Join(cs, ", ")
		}
		s.Lines = append(s.Lines, Line{Text: truncateChars(clean(text), maxLineChars)})
	}
	return s
}

func hooksSection(hooks []result.HookExecution) *Section {
	var bad []result.HookExecution
	for _, h := range hooks {
		if h.Status != "SUCCEEDED" {
			bad = append(bad, h)
		}
	}
	if len(bad) == 0 {
		return nil
	}
	s := &Section{Title: "Lifecycle hooks"}
	for i, h := range bad {
		if i == maxHooksShown {
			s.Lines = append(s.Lines, Line{Text: fmt.Sprintf("… and %d more hooks", len(bad)-i)})
			break
		}
		t := h.Stage + " hook"
		if h.Stage == "" {
			t = "hook"
		}
		if name := lastSegment(h.TargetARN, ":"); name != "" {
			t += " " + name
		}
		s.Lines = append(s.Lines, Line{Text: clean(t + ": " + h.Status)})
	}
	return s
}

// ecsSaid keeps ECS's own words verbatim, last, and never alone.
func ecsSaid(r result.Result) *Section {
	var lines []Line
	if r.ECSStatusReason != "" || r.ECSStatus != "" {
		t := r.ECSStatus
		if r.ECSStatusReason != "" {
			if t != "" {
				t += ": "
			}
			t += oneLine(r.ECSStatusReason)
		}
		lines = append(lines, Line{Text: truncateChars(clean(t), maxLineChars)})
	}
	if r.Reason != nil && r.Reason.Evidence != nil {
		if rr := r.Reason.Evidence.ECSRollbackReason; rr != "" && rr != r.ECSStatusReason {
			lines = append(lines, Line{Text: truncateChars(clean("rollback: "+oneLine(rr)), maxLineChars)})
		}
	}
	if len(lines) == 0 {
		return nil
	}
	return &Section{Title: "ECS said", Lines: lines}
}

func facts(r result.Result) []Fact {
	var fs []Fact
	if r.Cluster != "" || r.Service != "" {
		fs = append(fs, Fact{"Service", clean(r.Cluster + "/" + r.Service)})
	}
	if s := r.Image.String(); s != "" {
		fs = append(fs, Fact{"Image", clean(s)})
	}
	if r.PreviousImage != nil {
		if s := r.PreviousImage.String(); s != "" {
			fs = append(fs, Fact{"Previous image", clean(s)})
		}
	}
	if r.DurationSeconds > 0 {
		fs = append(fs, Fact{"Duration", formatDuration(r.DurationSeconds)})
	}
	if r.StageReached != "" {
		fs = append(fs, Fact{"Stage reached", clean(r.StageReached)})
	}
	if p := r.ProductionPercent; p != nil && *p > 0 && *p < 100 {
		// A LINEAR or CANARY deployment that ended midway: how much of production saw it.
		fs = append(fs, Fact{"Production share reached", strconv.FormatFloat(*p, 'f', -1, 64) + " %"})
	}
	if t := trigger(r.Trigger); t != "" {
		fs = append(fs, Fact{"Trigger", t})
	}
	if r.FollowUpOf != "" {
		fs = append(fs, Fact{"Follows", clean(r.FollowUpOf)})
	}
	for i := range fs {
		fs[i].Value = truncateChars(oneLine(fs[i].Value), 300)
	}
	return fs
}

func trigger(t result.Trigger) string {
	var s string
	switch t.Source {
	case "":
		return ""
	case "ecr-push":
		s = "ECR push"
	case "cli":
		s = "greenlight CLI"
	case "reconcile":
		s = "reconciliation"
	case "regression-rollback":
		s = "rollback after regression"
	case "rollback":
		s = "greenlight rollback"
	default:
		s = t.Source
	}
	if t.RequestedBy != "" {
		s += " by " + t.RequestedBy
	}
	return clean(s)
}

func links(l result.Links) []Link {
	var out []Link
	add := func(text, u string) {
		if safeURL(u) {
			out = append(out, Link{text, u})
		}
	}
	add("ECS service deployment", l.ServiceDeployment)
	add("Step Functions execution", l.Execution)
	add("ECS service", l.Service)
	return out
}

// safeURL admits only absolute http(s) URLs into a chat message.
func safeURL(u string) bool {
	p, err := url.Parse(u)
	return err == nil && (p.Scheme == "https" || p.Scheme == "http") && p.Host != "" && len(u) <= 2000
}

func footer(r result.Result) string {
	parts := []string{"greenlight"}
	if r.ID != "" {
		parts = append(parts, "result "+r.ID)
	}
	if t := formatTime(r.FinishedAt); t != "" {
		parts = append(parts, "finished "+t)
	}
	return truncateChars(clean(strings.Join(parts, " · ")), 500)
}

func lastSegment(s, sep string) string {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[i+len(sep):]
	}
	return s
}

// Shrink levels: each renderer renders at level 0 and, while the payload is over its
// platform's limit, again at the next level. The last level is small by construction.
const maxShrink = 4

// shrink returns a copy of m reduced to the given level:
// 1 shorter excerpts and lines; 2 no excerpts, two lines per section; 3 only ECS's words as
// evidence; 4 headline, summary, facts and links only.
func (m Message) shrink(level int) Message {
	if level <= 0 {
		return m
	}
	out := m
	codeMax, lineMax, perSection, details, warnings := 200, 500, 0, 3, 3
	summaryMax := 3000
	switch {
	case level == 2:
		codeMax, lineMax, perSection, details, warnings, summaryMax = 0, 200, 2, 1, 1, 1000
	case level >= 3:
		codeMax, lineMax, perSection, details, warnings, summaryMax = 0, 200, 2, 0, 0, 500
	}
	out.Summary = truncateChars(m.Summary, summaryMax)
	out.Details = capLines(m.Details, details, lineMax)
	out.Warnings = capLines(m.Warnings, warnings, lineMax)
	if len(m.Warnings) > warnings {
		out.Warnings = append(out.Warnings, fmt.Sprintf("… (truncated: %d warnings)", len(m.Warnings)))
	}
	var ev []Section
	for _, s := range m.Evidence {
		if level >= 3 && s.Title != "ECS said" {
			continue
		}
		ns := Section{Title: s.Title}
		for i, l := range s.Lines {
			if perSection > 0 && i == perSection {
				ns.Lines = append(ns.Lines, Line{Text: TruncationMarker})
				break
			}
			nl := Line{Text: truncateChars(l.Text, lineMax)}
			if codeMax > 0 {
				nl.Code = truncateChars(l.Code, codeMax)
			}
			ns.Lines = append(ns.Lines, nl)
		}
		ev = append(ev, ns)
	}
	if level >= 3 && len(m.Evidence) > len(ev) {
		ev = append([]Section{{Title: "Evidence", Lines: []Line{{Text: "… (truncated: the full evidence is in the result JSON and the Step Functions execution)"}}}}, ev...)
	}
	out.Evidence = ev
	if level >= 4 {
		out.Summary = truncateChars(m.Summary, 300)
		out.Evidence = []Section{{Title: "Evidence", Lines: []Line{{Text: "… (truncated: the full evidence is in the result JSON and the Step Functions execution)"}}}}
		out.Details, out.Warnings = nil, nil
		out.Facts = nil
		for _, f := range m.Facts {
			out.Facts = append(out.Facts, Fact{f.Name, truncateChars(f.Value, 100)})
		}
		out.Headline = truncateChars(m.Headline, 150)
		out.Footer = truncateChars(m.Footer, 200)
	}
	return out
}

func capLines(in []string, n, lineMax int) []string {
	var out []string
	for i, s := range in {
		if i == n {
			break
		}
		out = append(out, truncateChars(s, lineMax))
	}
	return out
}

// ToneColors are the RGB colours of the tones, for platforms that take any colour.
var ToneColors = map[Tone]int{
	ToneGood:    0x1F883D, // green
	ToneBad:     0xCF222E, // red
	ToneWarning: 0xBF8700, // amber
	ToneNeutral: 0x6E7781, // grey
}
