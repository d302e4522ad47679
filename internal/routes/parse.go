package routes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

// Problem is one thing wrong with a routes document.
type Problem struct {
	// Field is the path to the offending value: routes[0].smokeTests.checks[1].path.
	Field string
	// Message says what is wrong and how to fix it.
	Message string
}

func (p Problem) String() string {
	if p.Field == "" {
		return p.Message
	}
	return p.Field + ": " + p.Message
}

// ValidationError lists every problem found; a document with any problem is never used.
type ValidationError struct {
	Problems []Problem
}

func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	if len(lines) == 1 {
		return "invalid routes: " + lines[0]
	}
	return fmt.Sprintf("invalid routes (%d problems):\n  %s", len(lines), strings.Join(lines, "\n  "))
}

// Parse reads a routes document in JSON or YAML, rejects unknown fields (naming them and the
// field that was probably meant), and validates it.
func Parse(b []byte) (*Document, error) {
	trimmed := bytes.TrimSpace(b)
	if len(trimmed) == 0 {
		return nil, &ValidationError{Problems: []Problem{{Message: "the document is empty: start from the example in the README (version, routes, channels)"}}}
	}
	var tree any
	if trimmed[0] == '{' {
		if err := json.Unmarshal(trimmed, &tree); err != nil {
			return nil, &ValidationError{Problems: []Problem{{Message: "not valid JSON: " + jsonSyntaxDetail(trimmed, err)}}}
		}
	} else {
		if err := yaml.Unmarshal(trimmed, &tree); err != nil {
			return nil, &ValidationError{Problems: []Problem{{Message: "not valid YAML or JSON: " + err.Error()}}}
		}
	}
	if _, ok := tree.(map[string]any); !ok {
		return nil, &ValidationError{Problems: []Problem{{Message: "the document must be an object with version, routes and channels"}}}
	}
	var probs []Problem
	checkFields(tree, reflect.TypeOf(Document{}), "", &probs)
	norm, err := json.Marshal(tree)
	if err != nil {
		return nil, &ValidationError{Problems: append(probs, Problem{Message: err.Error()})}
	}
	var d Document
	if err := json.Unmarshal(norm, &d); err != nil {
		if len(probs) == 0 { // checkFields reports wrong kinds; this is the decoder's last word
			probs = append(probs, typeProblem(err))
		}
		return nil, &ValidationError{Problems: probs}
	}
	// Unknown fields and the document's other problems are reported together, so one
	// round of fixes is enough.
	if err := d.Validate(); err != nil {
		var ve *ValidationError
		if errors.As(err, &ve) {
			probs = append(probs, ve.Problems...)
		} else {
			return nil, err
		}
	}
	if len(probs) > 0 {
		return nil, &ValidationError{Problems: probs}
	}
	return &d, nil
}

// MustParse is Parse for tests and embedded defaults; it panics on error.
func MustParse(b []byte) *Document {
	d, err := Parse(b)
	if err != nil {
		panic(err)
	}
	return d
}

// JSON renders the document canonically (what Store writes).
func (d *Document) JSON() ([]byte, error) { return json.MarshalIndent(d, "", "  ") }

func jsonSyntaxDetail(b []byte, err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line := 1 + bytes.Count(b[:min(int(se.Offset), len(b))], []byte("\n"))
		return fmt.Sprintf("%v (line %d)", se, line)
	}
	return err.Error()
}

func typeProblem(err error) Problem {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return Problem{Field: jsonPath(te.Field), Message: fmt.Sprintf("is a %s, want a %s", te.Value, kindWord(te.Type))}
	}
	return Problem{Message: err.Error()}
}

// jsonPath turns encoding/json's "routes.0.targets" into "routes[0].targets".
func jsonPath(f string) string {
	parts := strings.Split(f, ".")
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if p[0] >= '0' && p[0] <= '9' {
			b.WriteString("[" + p + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteString(".")
		}
		b.WriteString(p)
	}
	return b.String()
}

// treeKind names the kind of a decoded JSON/YAML value in kindWord's words.
func treeKind(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case float64, int, int64, uint64:
		return "number"
	case bool:
		return "boolean (true or false)"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func kindWord(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int, reflect.Int32, reflect.Int64, reflect.Float64:
		return "number"
	case reflect.Bool:
		return "boolean (true or false)"
	case reflect.Slice:
		return "list"
	case reflect.Map, reflect.Struct:
		return "object"
	}
	return t.String()
}

var statusSpecType = reflect.TypeOf(StatusSpec{})

// checkFields walks the decoded tree beside the Go type and reports values of the wrong
// kind and keys the type does not have (with the closest known name).
func checkFields(v any, t reflect.Type, path string, probs *[]Problem) {
	if t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	if v == nil || t == statusSpecType || t.Kind() == reflect.Interface {
		return
	}
	if got := treeKind(v); got != kindWord(t) {
		*probs = append(*probs, Problem{Field: path, Message: fmt.Sprintf("is a %s, want a %s", got, kindWord(t))})
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		m := v.(map[string]any)
		fields := map[string]reflect.Type{}
		var names []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := strings.Split(f.Tag.Get("json"), ",")[0]
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			fields[tag] = f.Type
			names = append(names, tag)
		}
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			ft, ok := fields[k]
			if !ok {
				msg := "unknown field"
				if s := closest(k, names); s != "" {
					msg += fmt.Sprintf("; did you mean %q?", s)
				} else {
					msg += "; known fields: " + strings.Join(names, ", ")
				}
				*probs = append(*probs, Problem{Field: join(path, k), Message: msg})
				continue
			}
			checkFields(m[k], ft, join(path, k), probs)
		}
	case reflect.Slice:
		for i, e := range v.([]any) {
			checkFields(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i), probs)
		}
	case reflect.Map:
		for k, e := range v.(map[string]any) {
			checkFields(e, t.Elem(), join(path, k), probs)
		}
	}
}

func join(path, k string) string {
	if path == "" {
		return k
	}
	return path + "." + k
}

// closest returns the known name nearest to k (case-insensitive edit distance ≤ 3).
func closest(k string, names []string) string {
	best, bestD := "", 4
	for _, n := range names {
		if d := editDistance(strings.ToLower(k), strings.ToLower(n)); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

var (
	nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	// ECR repository names: lowercase, digits, separators, optional namespaces.
	repoRE = regexp.MustCompile(`^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$`)
	// ECS cluster and service names (or ARNs are not accepted: names keep keys stable).
	ecsNameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$`)
	containerRE  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$`)
	alarmNameRE  = regexp.MustCompile(`^[^\x00-\x1f]{1,255}$`)
	secretARNRE  = regexp.MustCompile(`^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+$`)
	headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	hookStages   = []string{"POST_SCALE_UP", "POST_TEST_TRAFFIC_SHIFT", "PRE_PRODUCTION_TRAFFIC_SHIFT", "POST_PRODUCTION_TRAFFIC_SHIFT"}
	checkMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}
)

// Validate checks every field and returns a *ValidationError listing all problems.
func (d *Document) Validate() error {
	v := &validator{}
	if d.Version != Version {
		v.add("version", fmt.Sprintf("is %d, want %d: add \"version\": %d at the top", d.Version, Version, Version))
	}
	names := map[string]int{}
	for i := range d.Routes {
		r := &d.Routes[i]
		p := fmt.Sprintf("routes[%d]", i)
		switch {
		case r.Name == "":
			v.add(p+".name", "is missing: give the route a short name such as \"web-prod\"")
		case !nameRE.MatchString(r.Name):
			v.add(p+".name", fmt.Sprintf("%q must be 1-64 letters, digits, '.', '_' or '-'", r.Name))
		default:
			if j, dup := names[r.Name]; dup {
				v.add(p+".name", fmt.Sprintf("%q is also the name of routes[%d]: route names must be unique", r.Name, j))
			}
			names[r.Name] = i
		}
		switch {
		case r.Repository == "":
			v.add(p+".repository", "is missing: the ECR repository name, without registry or tag (\"web\")")
		case strings.Contains(r.Repository, ".dkr.ecr.") || strings.ContainsAny(r.Repository, ":@"):
			v.add(p+".repository", fmt.Sprintf("%q: give the repository name only (\"web\"), not an image URI", r.Repository))
		case !repoRE.MatchString(r.Repository):
			v.add(p+".repository", fmt.Sprintf("%q is not an ECR repository name (lowercase letters, digits, '.', '_', '-', '/')", r.Repository))
		}
		if r.TagPattern == "" {
			v.add(p+".tagPattern", "is missing: a regular expression for the tags that deploy, e.g. \"^v\\\\d+\\\\.\\\\d+\\\\.\\\\d+$\" or \".*\" for every tag")
		} else if re, err := compileTag(r.TagPattern); err != nil {
			v.add(p+".tagPattern", fmt.Sprintf("%q is not a valid regular expression: %v", r.TagPattern, unwrapRE(err)))
		} else {
			r.tagRE = re
		}
		if len(r.Targets) == 0 {
			v.add(p+".targets", "is empty: add at least one {cluster, service, container}")
		}
		seen := map[string]int{}
		for j, t := range r.Targets {
			tp := fmt.Sprintf("%s.targets[%d]", p, j)
			v.name(tp+".cluster", t.Cluster, ecsNameRE, "the ECS cluster name (not its ARN)")
			v.name(tp+".service", t.Service, ecsNameRE, "the ECS service name (not its ARN)")
			v.name(tp+".container", t.Container, containerRE, "the container name in the task definition that runs this image")
			if k, dup := seen[t.Key()]; dup {
				v.add(tp, fmt.Sprintf("%s is already targets[%d]: list each service once", t.Key(), k))
			}
			seen[t.Key()] = j
		}
		if r.Concurrency != "" && r.Concurrency != ConcurrencyQueueLatest {
			v.add(p+".concurrency", fmt.Sprintf("%q is not supported: use %q (or leave it out)", r.Concurrency, ConcurrencyQueueLatest))
		}
		if r.DeadlineMinutes < 0 || r.DeadlineMinutes > 7*24*60 {
			v.add(p+".deadlineMinutes", fmt.Sprintf("%d is out of range: 1-10080 minutes, or leave it out for %d", r.DeadlineMinutes, DefaultDeadlineMinutes))
		}
		if r.SmokeTests != nil {
			v.smoke(p+".smokeTests", r.SmokeTests)
		}
		if r.Alarms != nil {
			v.alarms(p+".alarms", r.Alarms)
		}
		for j, c := range r.Notify {
			if _, ok := d.Channels[c]; !ok {
				v.add(fmt.Sprintf("%s.notify[%d]", p, j), fmt.Sprintf("channel %q is not defined: add it under \"channels\" or remove it here (defined: %s)", c, strings.Join(channelNames(d.Channels), ", ")))
			}
		}
	}
	for _, name := range channelNames(d.Channels) {
		if name == ReservedChannel {
			v.add("channels."+name, fmt.Sprintf("%q is reserved for the Amazon Q Developer message greenlight sends to its chat topic: rename this channel", name))
		}
		v.channel("channels."+name, d.Channels[name])
	}
	if len(v.probs) > 0 {
		return &ValidationError{Problems: v.probs}
	}
	return nil
}

type validator struct{ probs []Problem }

func (v *validator) add(field, msg string) {
	v.probs = append(v.probs, Problem{Field: field, Message: msg})
}

func (v *validator) name(field, val string, re *regexp.Regexp, what string) {
	if val == "" {
		v.add(field, "is missing: "+what)
	} else if !re.MatchString(val) {
		v.add(field, fmt.Sprintf("%q is not valid: %s", val, what))
	}
}

func (v *validator) smoke(p string, s *SmokeTests) {
	if s.Port < 0 || s.Port > 65535 {
		v.add(p+".port", fmt.Sprintf("%d is not a port (1-65535), or leave it out to use the service's container port", s.Port))
	}
	for i, st := range s.Stages {
		if !contains(hookStages, st) {
			v.add(fmt.Sprintf("%s.stages[%d]", p, i), fmt.Sprintf("%q is not a stage the hook can check at: use %s", st, strings.Join(hookStages, ", ")))
		}
	}
	if s.TestListenerURL != "" {
		u, err := url.Parse(s.TestListenerURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(p+".testListenerUrl", fmt.Sprintf("%q is not an http(s) base URL such as \"http://my-alb-123.eu-west-1.elb.amazonaws.com:8080\"", s.TestListenerURL))
		}
	}
	v.rng(p+".attempts", s.Attempts, 0, 10)
	v.rng(p+".intervalSeconds", s.IntervalSeconds, 0, 60)
	v.rng(p+".patienceSeconds", s.PatienceSeconds, 0, 24*3600)
	v.rng(p+".callBackDelaySeconds", s.CallBackDelaySeconds, 0, 900)
	v.rng(p+".parallelism", s.Parallelism, 0, 100)
	v.rng(p+".minHealthyPercent", s.MinHealthyPercent, 0, 100)
	if len(s.Checks) == 0 {
		v.add(p+".checks", "is empty: add at least one check, e.g. {\"name\": \"health\", \"path\": \"/health\", \"expectStatus\": 200}")
	}
	names := map[string]int{}
	for i, c := range s.Checks {
		cp := fmt.Sprintf("%s.checks[%d]", p, i)
		if c.Name == "" {
			v.add(cp+".name", "is missing: name the check (it appears in results and chat)")
		} else if j, dup := names[c.Name]; dup {
			v.add(cp+".name", fmt.Sprintf("%q is also checks[%d]: check names must be unique", c.Name, j))
		} else {
			names[c.Name] = i
		}
		if c.Method != "" && !contains(checkMethods, c.Method) {
			v.add(cp+".method", fmt.Sprintf("%q is not supported: use one of %s (upper case)", c.Method, strings.Join(checkMethods, ", ")))
		}
		if !strings.HasPrefix(c.Path, "/") || strings.Contains(c.Path, "://") {
			v.add(cp+".path", fmt.Sprintf("%q must be a path starting with \"/\" (the host is always the green task)", c.Path))
		}
		for h := range c.Headers {
			if !headerNameRE.MatchString(h) {
				v.add(cp+".headers", fmt.Sprintf("%q is not a valid header name", h))
			} else if strings.EqualFold(h, "Host") {
				v.add(cp+".headers."+h, "setting Host is not allowed: checks always address the green task itself")
			}
		}
		v.rng(cp+".maxLatencyMs", c.MaxLatencyMs, 0, 600000)
		v.rng(cp+".timeoutMs", c.TimeoutMs, 0, 600000)
		for f := range c.JSONEquals {
			if f == "" || strings.HasPrefix(f, ".") || strings.HasSuffix(f, ".") || strings.Contains(f, "..") {
				v.add(cp+".jsonEquals", fmt.Sprintf("%q is not a dotted field path such as \"status\" or \"build.version\"", f))
			}
		}
	}
}

func (v *validator) alarms(p string, a *Alarms) {
	if len(a.Names) == 0 {
		v.add(p+".names", "is empty: list the CloudWatch alarm names that guard this route, or remove \"alarms\"")
	}
	for i, n := range a.Names {
		if !alarmNameRE.MatchString(n) {
			v.add(fmt.Sprintf("%s.names[%d]", p, i), fmt.Sprintf("%q is not a CloudWatch alarm name (the name, not the ARN)", n))
		} else if strings.HasPrefix(n, "arn:") {
			v.add(fmt.Sprintf("%s.names[%d]", p, i), fmt.Sprintf("%q is an ARN: give the alarm's name", n))
		}
	}
	if a.WhenAlreadyFiring != "" && a.WhenAlreadyFiring != WhenFiringBlock && a.WhenAlreadyFiring != WhenFiringWarn {
		v.add(p+".whenAlreadyFiring", fmt.Sprintf("%q: use \"block\" (refuse to deploy while an alarm is in ALARM) or \"warn\" (deploy and say so)", a.WhenAlreadyFiring))
	}
	v.rng(p+".postDeployWatchMinutes", a.PostDeployWatchMinutes, 0, 24*60)
	if a.RollbackOnRegression && a.PostDeployWatchMinutes == 0 {
		v.add(p+".rollbackOnRegression", "needs postDeployWatchMinutes > 0: regressions are only seen during the post-deploy watch")
	}
}

func (v *validator) channel(p string, c Channel) {
	if !contains(ChannelTypes, c.Type) {
		v.add(p+".type", fmt.Sprintf("%q: use one of %s", c.Type, strings.Join(ChannelTypes, ", ")))
	}
	switch {
	case c.WebhookSecretArn == "":
		v.add(p+".webhookSecretArn", "is missing: store the webhook URL in Secrets Manager and give the secret's ARN")
	case strings.HasPrefix(c.WebhookSecretArn, "http"):
		v.add(p+".webhookSecretArn", "is a URL: webhook URLs are secrets; store it in Secrets Manager with `aws secretsmanager create-secret --secret-string <url>` and give the secret's ARN")
	case !secretARNRE.MatchString(c.WebhookSecretArn):
		v.add(p+".webhookSecretArn", fmt.Sprintf("%q is not a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>)", c.WebhookSecretArn))
	}
	if c.SigningSecretArn != "" {
		if c.Type != "webhook" {
			v.add(p+".signingSecretArn", "only applies to type \"webhook\"")
		} else if !secretARNRE.MatchString(c.SigningSecretArn) {
			v.add(p+".signingSecretArn", fmt.Sprintf("%q is not a Secrets Manager secret ARN", c.SigningSecretArn))
		}
	}
	for i, o := range c.Outcomes {
		if !result.Outcome(o).Valid() {
			v.add(fmt.Sprintf("%s.outcomes[%d]", p, i), fmt.Sprintf("%q is not an outcome: use %s", o, outcomeList()))
		}
	}
}

func (v *validator) rng(field string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(field, fmt.Sprintf("%d is out of range %d-%d", n, lo, hi))
	}
}

func outcomeList() string {
	s := make([]string, len(result.Outcomes))
	for i, o := range result.Outcomes {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

func channelNames(m map[string]Channel) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func unwrapRE(err error) string {
	return strings.TrimPrefix(err.Error(), "error parsing regexp: ")
}
