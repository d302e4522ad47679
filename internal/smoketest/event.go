package smoketest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// HookEvent is what ECS sends a Lambda lifecycle hook (reference §2.1). aws-lambda-go has no
// type for it.
type HookEvent struct {
	ExecutionID    string `json:"executionId"`
	LifecycleStage string `json:"lifecycleStage"`
	// ResourceArn is the service-deployment ARN:
	// arn:aws:ecs:<region>:<account>:service-deployment/<cluster>/<service>/<id>.
	ResourceArn      string           `json:"resourceArn"`
	ExecutionDetails ExecutionDetails `json:"executionDetails"`
	// HookDetails is the static hookDetails of the service's hook merged with the hookDetails
	// this hook returned with its last IN_PROGRESS (ParseHookDetails reads it).
	HookDetails json.RawMessage `json:"hookDetails,omitempty"`
}

// ExecutionDetails names the service, the green revision and the traffic weights. The weight
// maps (service-revision ARN → percent) are often empty: only the traffic-shift stages fill
// them (reference §2.1).
type ExecutionDetails struct {
	ServiceArn               string             `json:"serviceArn"`
	TargetServiceRevisionArn string             `json:"targetServiceRevisionArn"`
	TestTrafficWeights       map[string]float64 `json:"testTrafficWeights,omitempty"`
	ProductionTrafficWeights map[string]float64 `json:"productionTrafficWeights,omitempty"`
}

// HookStatus is the hook's answer.
type HookStatus string

// The three answers ECS understands (reference §2.2).
const (
	Succeeded  HookStatus = "SUCCEEDED"   // go on to the next stage
	Failed     HookStatus = "FAILED"      // ECS rolls back
	InProgress HookStatus = "IN_PROGRESS" // call again after CallBackDelay seconds
)

// HookResponse is what the hook returns. HookStatus is always set.
type HookResponse struct {
	HookStatus HookStatus `json:"hookStatus"`
	// CallBackDelay is in seconds, with IN_PROGRESS only.
	CallBackDelay int `json:"callBackDelay,omitempty"`
	// HookDetails carries greenlight's state across IN_PROGRESS calls; ECS merges it into the
	// next call's hookDetails.
	HookDetails *ResponseDetails `json:"hookDetails,omitempty"`
	// Reason says why, in words. Whether ECS reads it is unconfirmed (reference §2.2); the
	// same words are logged and stored with the evidence.
	Reason string `json:"reason,omitempty"`
}

// ResponseDetails is the hookDetails greenlight returns with IN_PROGRESS: its state, and a
// copy of the operator's own hookDetails, so that the next call has them even if ECS
// replaced rather than merged (the reference documents a merge).
type ResponseDetails struct {
	Checks          []routes.Check `json:"checks,omitempty"`
	Port            int            `json:"port,omitempty"`
	TestListenerURL string         `json:"testListenerUrl,omitempty"`
	Greenlight      *State         `json:"greenlight"`
}

// State is what the hook remembers between IN_PROGRESS calls at one stage.
type State struct {
	// Stage is the lifecycle stage the state belongs to; state from another stage is ignored.
	Stage string `json:"stage"`
	// Attempt counts the calls at this stage, this one included.
	Attempt int `json:"attempt"`
	// FirstAttemptAt is when the first call at this stage started; patience runs from here.
	FirstAttemptAt time.Time `json:"firstAttemptAt"`
}

// HookDetails is what greenlight reads from the event's hookDetails: operator overrides set
// on the service's lifecycle hook, and its own state.
type HookDetails struct {
	// Checks are added to the route's checks; one with the name of a route check replaces it.
	Checks []routes.Check `json:"checks,omitempty"`
	// Port is the container port to probe when the route does not set smokeTests.port.
	Port int `json:"port,omitempty"`
	// TestListenerURL is used at POST_TEST_TRAFFIC_SHIFT only if its host is the service's
	// own load balancer.
	TestListenerURL string `json:"testListenerUrl,omitempty"`
	Greenlight      *State `json:"greenlight,omitempty"`
}

var hookDetailsFields = []string{"checks", "port", "testListenerUrl", "greenlight"}

// ParseHookDetails reads hookDetails strictly: unknown keys and invalid checks are errors
// that name the field and the fix (a hook configured with a typo must not silently run
// fewer checks). It accepts an object, null, or an object encoded as a JSON string (the
// CloudFormation property is documented as "a JSON object as a string").
func ParseHookDetails(raw json.RawMessage) (HookDetails, error) {
	var hd HookDetails
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return hd, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return hd, fmt.Errorf("hookDetails: %v", err)
		}
		raw = bytes.TrimSpace([]byte(s))
		if len(raw) == 0 {
			return hd, nil
		}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return hd, fmt.Errorf("hookDetails is not a JSON object: %v", err)
	}
	var probs []string
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !contains(hookDetailsFields, k) {
			probs = append(probs, fmt.Sprintf("hookDetails.%s: unknown field; greenlight reads %s (remove it from the service's lifecycle hook, or move checks into the route)", k, strings.Join(hookDetailsFields[:3], ", ")))
		}
	}
	if st, ok := top["greenlight"]; ok && !bytes.Equal(bytes.TrimSpace(st), []byte("null")) {
		dec := json.NewDecoder(bytes.NewReader(st))
		dec.DisallowUnknownFields()
		var s State
		if err := dec.Decode(&s); err != nil {
			probs = append(probs, fmt.Sprintf("hookDetails.greenlight: %v (this is greenlight's own state; do not set it in the service)", err))
		} else {
			hd.Greenlight = &s
		}
	}
	// The operator's part is validated by the routes validator itself, as the smokeTests of
	// a one-route document, so hookDetails checks obey exactly the rules route checks do.
	smoke := map[string]json.RawMessage{}
	for _, k := range []string{"checks", "port", "testListenerUrl"} {
		if v, ok := top[k]; ok {
			smoke[k] = v
		}
	}
	if len(smoke) > 0 {
		_, hasChecks := smoke["checks"]
		if !hasChecks {
			smoke["checks"] = json.RawMessage(`[{"name":"placeholder","path":"/"}]`)
		}
		doc := map[string]any{
			"version": routes.Version,
			"routes": []any{map[string]any{
				"name": "hookDetails", "repository": "hook", "tagPattern": ".*",
				"targets":    []any{map[string]any{"cluster": "c", "service": "s", "container": "c"}},
				"smokeTests": smoke,
			}},
		}
		b, err := json.Marshal(doc)
		if err != nil {
			return hd, fmt.Errorf("hookDetails: %v", err)
		}
		d, err := routes.Parse(b)
		if err != nil {
			probs = append(probs, rewriteProblems(err)...)
		} else {
			st := d.Routes[0].SmokeTests
			if hasChecks {
				hd.Checks = st.Checks
			}
			hd.Port = st.Port
			hd.TestListenerURL = st.TestListenerURL
		}
	}
	if len(probs) > 0 {
		return HookDetails{}, &DetailsError{Problems: probs}
	}
	return hd, nil
}

// DetailsError lists what is wrong with hookDetails.
type DetailsError struct{ Problems []string }

func (e *DetailsError) Error() string {
	if len(e.Problems) == 1 {
		return "invalid hookDetails: " + e.Problems[0]
	}
	return fmt.Sprintf("invalid hookDetails (%d problems): %s", len(e.Problems), strings.Join(e.Problems, "; "))
}

// rewriteProblems turns the routes validator's "routes[0].smokeTests.checks[1].path" into
// "hookDetails.checks[1].path".
func rewriteProblems(err error) []string {
	ve, ok := err.(*routes.ValidationError)
	if !ok {
		return []string{"hookDetails: " + err.Error()}
	}
	var out []string
	for _, p := range ve.Problems {
		f := strings.Replace(p.Field, "routes[0].smokeTests", "hookDetails", 1)
		if f == "" {
			f = "hookDetails"
		}
		out = append(out, f+": "+p.Message)
	}
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
