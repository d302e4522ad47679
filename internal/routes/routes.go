package routes

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Version is the routes document version this package reads and writes.
const Version = 1

// Document is the whole routes document.
type Document struct {
	Version  int                `json:"version"`
	Routes   []Route            `json:"routes"`
	Channels map[string]Channel `json:"channels,omitempty"`
}

// Route maps pushes of a repository whose tag matches TagPattern to ECS services.
type Route struct {
	Name       string `json:"name"`
	Repository string `json:"repository"`
	// TagPattern is a Go (RE2) regular expression matched against the whole tag.
	TagPattern string `json:"tagPattern"`
	// Environment is a label for people and chat ("prod", "staging").
	Environment string   `json:"environment,omitempty"`
	Targets     []Target `json:"targets"`
	// Concurrency is how pushes that arrive during a deployment of the same service are
	// handled. Only "queue-latest" exists: they wait, and when the running one ends only the
	// newest deploys; the ones in between end SUPERSEDED.
	Concurrency string `json:"concurrency,omitempty"`
	// DeadlineMinutes ends a deployment that has not finished as FAILED (ECS is asked to roll
	// back). Default 120.
	DeadlineMinutes int         `json:"deadlineMinutes,omitempty"`
	SmokeTests      *SmokeTests `json:"smokeTests,omitempty"`
	Alarms          *Alarms     `json:"alarms,omitempty"`
	// Notify names channels in the document's channels map.
	Notify []string `json:"notify,omitempty"`

	tagRE *regexp.Regexp
}

// Target is one ECS service and the container in it that runs the route's image.
type Target struct {
	Cluster   string `json:"cluster"`
	Service   string `json:"service"`
	Container string `json:"container"`
}

// Key is "cluster/service", the identity greenlight serializes and records deployments by.
func (t Target) Key() string { return t.Cluster + "/" + t.Service }

// SmokeTests configure the lifecycle hook's checks against green.
type SmokeTests struct {
	// Port is the container port to probe on each green task; default: the container port
	// of the service's load balancer entry for the route's container.
	Port int `json:"port,omitempty"`
	// Stages are the hook stages that run the checks; default both POST_SCALE_UP and
	// POST_TEST_TRAFFIC_SHIFT (only those the service's hook is registered for are called).
	Stages []string `json:"stages,omitempty"`
	// TestListenerURL is the test listener's base URL (http://alb-dns:8080) used at
	// POST_TEST_TRAFFIC_SHIFT; hookDetails.testListenerUrl overrides it.
	TestListenerURL string `json:"testListenerUrl,omitempty"`
	// Attempts is how many times a failing check is tried within one hook invocation before
	// it counts as failed (default 1), IntervalSeconds apart (default 2).
	Attempts        int `json:"attempts,omitempty"`
	IntervalSeconds int `json:"intervalSeconds,omitempty"`
	// PatienceSeconds is how long green may stay unready (no tasks yet, connection refused)
	// before the hook fails; until then it answers IN_PROGRESS. Default 300.
	PatienceSeconds int `json:"patienceSeconds,omitempty"`
	// CallBackDelaySeconds is what IN_PROGRESS asks ECS to wait. Default 15.
	CallBackDelaySeconds int `json:"callBackDelaySeconds,omitempty"`
	// Parallelism bounds concurrent probes. Default 10.
	Parallelism int `json:"parallelism,omitempty"`
	// MinHealthyPercent of green tasks must pass every check. Default 100.
	MinHealthyPercent int     `json:"minHealthyPercent,omitempty"`
	Checks            []Check `json:"checks"`
}

// Check is one declarative HTTP check.
type Check struct {
	Name    string            `json:"name"`
	Method  string            `json:"method,omitempty"` // default GET
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers,omitempty"`
	Body    string            `json:"body,omitempty"`
	// ExpectStatus: 200, [200, 204], "2xx" or "200-299". Default "2xx".
	ExpectStatus StatusSpec `json:"expectStatus,omitempty"`
	BodyContains string     `json:"bodyContains,omitempty"`
	// JSONEquals maps a dotted field path ("status", "build.version", "items.0.id") to the
	// value it must equal.
	JSONEquals   map[string]any `json:"jsonEquals,omitempty"`
	MaxLatencyMs int            `json:"maxLatencyMs,omitempty"`
	// TimeoutMs bounds one request. Default 5000.
	TimeoutMs int `json:"timeoutMs,omitempty"`
}

// Alarms are the CloudWatch alarms that guard the route's deployments.
type Alarms struct {
	Names []string `json:"names"`
	// WhenAlreadyFiring: "block" (default) refuses to deploy while one is in ALARM, since
	// ECS would ignore alarms for the whole deployment; "warn" deploys and says so.
	WhenAlreadyFiring string `json:"whenAlreadyFiring,omitempty"`
	// PostDeployWatchMinutes keeps watching after SUCCESSFUL; an alarm then publishes a
	// REGRESSED follow-up. 0 turns the watch off.
	PostDeployWatchMinutes int `json:"postDeployWatchMinutes,omitempty"`
	// RollbackOnRegression redeploys the previous good revision after a REGRESSED.
	RollbackOnRegression bool `json:"rollbackOnRegression,omitempty"`
}

// Channel is a chat destination.
type Channel struct {
	// Type is slack, teams, googlechat, discord or webhook.
	Type string `json:"type"`
	// WebhookSecretArn names the Secrets Manager secret holding the webhook URL (the whole
	// secret string, or its "url" key when it is JSON).
	WebhookSecretArn string `json:"webhookSecretArn"`
	// SigningSecretArn (webhook only) holds the HMAC key for the X-Greenlight-Signature header.
	SigningSecretArn string `json:"signingSecretArn,omitempty"`
	// Outcomes to send; default every outcome but SKIPPED.
	Outcomes []string `json:"outcomes,omitempty"`
}

// ReservedChannel is the name greenlight's Amazon Q Developer message is recorded under.
const ReservedChannel = "amazon-q"

// Channel types.
var ChannelTypes = []string{"slack", "teams", "googlechat", "discord", "webhook"}

// Defaults.
const (
	DefaultDeadlineMinutes      = 120
	DefaultPatienceSeconds      = 300
	DefaultCallBackDelaySeconds = 15
	DefaultParallelism          = 10
	DefaultMinHealthyPercent    = 100
	DefaultAttempts             = 1
	DefaultIntervalSeconds      = 2
	DefaultTimeoutMs            = 5000
	ConcurrencyQueueLatest      = "queue-latest"
	WhenFiringBlock             = "block"
	WhenFiringWarn              = "warn"
)

// MatchesTag reports whether tag matches the whole TagPattern.
func (r *Route) MatchesTag(tag string) bool {
	if r.tagRE == nil {
		re, err := compileTag(r.TagPattern)
		if err != nil {
			return false
		}
		r.tagRE = re
	}
	return r.tagRE.MatchString(tag)
}

// Deadline is DeadlineMinutes (or its default) as a duration.
func (r Route) Deadline() time.Duration {
	if r.DeadlineMinutes > 0 {
		return time.Duration(r.DeadlineMinutes) * time.Minute
	}
	return DefaultDeadlineMinutes * time.Minute
}

// compileTag anchors the pattern so it must match the whole tag. Errors are reported for
// the pattern as written.
func compileTag(p string) (*regexp.Regexp, error) {
	if _, err := regexp.Compile(p); err != nil {
		return nil, err
	}
	return regexp.Compile(`^(?:` + p + `)$`)
}

// Match returns the routes whose repository is repo and whose pattern matches tag, in
// document order.
func (d *Document) Match(repo, tag string) []Route {
	var out []Route
	for i := range d.Routes {
		r := &d.Routes[i]
		if r.Repository == repo && r.MatchesTag(tag) {
			out = append(out, *r)
		}
	}
	return out
}

// Route returns the route with the given name.
func (d *Document) Route(name string) (Route, bool) {
	for _, r := range d.Routes {
		if r.Name == name {
			return r, true
		}
	}
	return Route{}, false
}

// RouteFor returns the first route with a target for cluster/service.
func (d *Document) RouteFor(cluster, service string) (Route, Target, bool) {
	for _, r := range d.Routes {
		for _, t := range r.Targets {
			if t.Cluster == cluster && t.Service == service {
				return r, t, true
			}
		}
	}
	return Route{}, Target{}, false
}

// Repositories lists the distinct repositories the routes deploy from.
func (d *Document) Repositories() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range d.Routes {
		if !seen[r.Repository] {
			seen[r.Repository] = true
			out = append(out, r.Repository)
		}
	}
	return out
}

// StatusSpec is a set of acceptable HTTP status codes, written as 200, [200, 204], "2xx"
// or "200-299". The zero value accepts 200-299.
type StatusSpec struct {
	ranges [][2]int
	text   string
}

// Status returns a StatusSpec for exact codes.
func Status(codes ...int) StatusSpec {
	s := StatusSpec{}
	for _, c := range codes {
		s.ranges = append(s.ranges, [2]int{c, c})
	}
	s.text = s.String()
	return s
}

// Match reports whether code is acceptable.
func (s StatusSpec) Match(code int) bool {
	if len(s.ranges) == 0 {
		return code >= 200 && code <= 299
	}
	for _, r := range s.ranges {
		if code >= r[0] && code <= r[1] {
			return true
		}
	}
	return false
}

// IsZero reports whether no status was configured.
func (s StatusSpec) IsZero() bool { return len(s.ranges) == 0 }

// String renders the spec as a person would write it: "200", "200 or 204", "2xx".
func (s StatusSpec) String() string {
	if len(s.ranges) == 0 {
		return "2xx"
	}
	var parts []string
	for _, r := range s.ranges {
		switch {
		case r[0] == r[1]:
			parts = append(parts, strconv.Itoa(r[0]))
		case r[0]%100 == 0 && r[1] == r[0]+99:
			parts = append(parts, strconv.Itoa(r[0]/100)+"xx")
		default:
			parts = append(parts, fmt.Sprintf("%d-%d", r[0], r[1]))
		}
	}
	return strings.Join(parts, " or ")
}

// UnmarshalJSON accepts a number, a list of numbers and strings, or a string.
func (s *StatusSpec) UnmarshalJSON(b []byte) error {
	var raw any
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	var items []any
	switch v := raw.(type) {
	case []any:
		items = v
	case nil:
		*s = StatusSpec{}
		return nil
	default:
		items = []any{v}
	}
	out := StatusSpec{}
	for _, it := range items {
		r, err := parseStatusItem(it)
		if err != nil {
			return err
		}
		out.ranges = append(out.ranges, r)
	}
	if len(out.ranges) == 0 {
		return fmt.Errorf("empty status list: write 200, [200, 204], \"2xx\" or \"200-299\"")
	}
	out.text = out.String()
	*s = out
	return nil
}

// MarshalJSON writes a single code as a number and anything else as a string.
func (s StatusSpec) MarshalJSON() ([]byte, error) {
	if len(s.ranges) == 1 && s.ranges[0][0] == s.ranges[0][1] {
		return json.Marshal(s.ranges[0][0])
	}
	if len(s.ranges) == 0 {
		return []byte(`"2xx"`), nil
	}
	var items []any
	for _, r := range s.ranges {
		if r[0] == r[1] {
			items = append(items, r[0])
		} else if r[0]%100 == 0 && r[1] == r[0]+99 {
			items = append(items, strconv.Itoa(r[0]/100)+"xx")
		} else {
			items = append(items, fmt.Sprintf("%d-%d", r[0], r[1]))
		}
	}
	if len(items) == 1 {
		return json.Marshal(items[0])
	}
	return json.Marshal(items)
}

func parseStatusItem(it any) ([2]int, error) {
	bad := func(v any) ([2]int, error) {
		return [2]int{}, fmt.Errorf("%v is not a status: write 200, [200, 204], \"2xx\" or \"200-299\"", v)
	}
	switch v := it.(type) {
	case float64:
		c := int(v)
		if float64(c) != v || c < 100 || c > 599 {
			return bad(v)
		}
		return [2]int{c, c}, nil
	case string:
		v = strings.TrimSpace(strings.ToLower(v))
		if len(v) == 3 && strings.HasSuffix(v, "xx") && v[0] >= '1' && v[0] <= '5' {
			base := int(v[0]-'0') * 100
			return [2]int{base, base + 99}, nil
		}
		if lo, hi, ok := strings.Cut(v, "-"); ok {
			a, err1 := strconv.Atoi(strings.TrimSpace(lo))
			b, err2 := strconv.Atoi(strings.TrimSpace(hi))
			if err1 != nil || err2 != nil || a < 100 || b > 599 || a > b {
				return bad(v)
			}
			return [2]int{a, b}, nil
		}
		c, err := strconv.Atoi(v)
		if err != nil || c < 100 || c > 599 {
			return bad(v)
		}
		return [2]int{c, c}, nil
	default:
		return bad(v)
	}
}
