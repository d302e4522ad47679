package rehearsal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/samtemplate"
)

// physical is what a created resource resolves to: its Ref value and its attributes.
type physical struct {
	Ref  any
	Atts map[string]any
}

// creator creates one resource from its resolved properties.
type creator func(ctx context.Context, id string, props map[string]any) (physical, error)

// notNeeded explains why a resource type is not created locally; stand, when set, gives
// the value other resources reference it by (moto's default network for the VPC).
type notNeeded struct {
	reason string
	stand  func(id string) physical
}

// SkippedResource is a resource the rehearsal did not create, and why.
type SkippedResource struct {
	Template string `json:"template"`
	ID       string `json:"id"`
	Type     string `json:"type"`
	Reason   string `json:"reason"`
}

// builder creates a template's resources in moto, in dependency order, with every
// intrinsic resolved against what it created. A type that is neither created nor listed as
// not needed is an error naming it: nothing is skipped silently.
type builder struct {
	file     string
	log      *slog.Logger
	t        *samtemplate.Template
	params   map[string]any
	pseudo   map[string]string
	creators map[string]creator
	skip     map[string]notNeeded
	// later are created by the caller (the ECS service, through the emulator).
	later map[string]bool

	mu      sync.Mutex // made and skipped: a level's resources are created in parallel
	made    map[string]physical
	skipped []SkippedResource
}

func (b *builder) get(id string) (physical, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	p, ok := b.made[id]
	return p, ok
}

func (b *builder) values() samtemplate.Values {
	return samtemplate.Values{
		Parameters: b.params,
		Pseudo:     b.pseudo,
		Ref: func(id string) (any, bool) {
			p, ok := b.get(id)
			if !ok || p.Ref == nil {
				return nil, false
			}
			return p.Ref, true
		},
		GetAtt: func(id, attr string) (any, bool) {
			p, ok := b.get(id)
			if !ok {
				return nil, false
			}
			v, ok := p.Atts[attr]
			return v, ok
		},
	}
}

// active lists the resources whose condition holds.
func (b *builder) active() ([]string, error) {
	var ids []string
	for id, r := range b.t.Resources {
		if r.Condition != "" {
			ok, err := b.t.Condition(r.Condition, b.values())
			if err != nil {
				return nil, fmt.Errorf("%s: resource %s: %w", b.file, id, err)
			}
			if !ok {
				continue
			}
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// check refuses a template with a resource type the rehearsal does not know.
func (b *builder) check(ids []string) error {
	var unknown []string
	for _, id := range ids {
		typ := b.t.Resources[id].Type
		if _, ok := b.creators[typ]; ok {
			continue
		}
		if _, ok := b.skip[typ]; ok {
			continue
		}
		if b.later[id] {
			continue
		}
		unknown = append(unknown, fmt.Sprintf("%s (%s)", id, typ))
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%s has resources of a type the rehearsal cannot create locally: %s; teach internal/rehearsal to create the type in moto, or list it as not needed locally with the reason", b.file, strings.Join(unknown, ", "))
	}
	return nil
}

// build creates every active resource, dependencies first.
func (b *builder) build(ctx context.Context) error {
	if b.made == nil {
		b.made = map[string]physical{}
	}
	ids, err := b.active()
	if err != nil {
		return err
	}
	if err := b.check(ids); err != nil {
		return err
	}
	levels, err := b.levels(ids)
	if err != nil {
		return err
	}
	// Each level's resources reference only earlier levels: create them in parallel (moto
	// is threaded), a few at a time.
	for _, level := range levels {
		sem := make(chan struct{}, 6)
		errs := make([]error, len(level))
		var wg sync.WaitGroup
		for i, id := range level {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				errs[i] = b.create(ctx, id)
			}()
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return err
		}
	}
	return nil
}

// create creates one resource (or records why it is not created).
func (b *builder) create(ctx context.Context, id string) error {
	r := b.t.Resources[id]
	if _, done := b.get(id); done || b.later[id] {
		return nil
	}
	if nn, ok := b.skip[r.Type]; ok {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.skipped = append(b.skipped, SkippedResource{Template: b.file, ID: id, Type: r.Type, Reason: nn.reason})
		if nn.stand != nil {
			b.made[id] = nn.stand(id)
		}
		return nil
	}
	props, err := b.props(id)
	if err != nil {
		return err
	}
	began := time.Now()
	p, err := b.creators[r.Type](ctx, id, props)
	if err != nil {
		return fmt.Errorf("%s: create %s (%s) in moto: %w", b.file, id, r.Type, err)
	}
	b.mu.Lock()
	b.made[id] = p
	b.mu.Unlock()
	if b.log != nil {
		b.log.Debug("created", "template", b.file, "id", id, "type", r.Type, "ref", fmt.Sprint(p.Ref), "ms", time.Since(began).Milliseconds())
	}
	return nil
}

// props resolves a resource's properties.
func (b *builder) props(id string) (map[string]any, error) {
	props, err := b.t.ResolvedProperties(id, b.values())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.file, err)
	}
	if props == nil {
		props = map[string]any{}
	}
	return props, nil
}

// levels groups ids so that every resource comes in a later level than those it
// references.
func (b *builder) levels(ids []string) ([][]string, error) {
	order, deps, err := b.order(ids)
	if err != nil {
		return nil, err
	}
	level := map[string]int{}
	var out [][]string
	for _, id := range order { // dependencies first
		n := 0
		for _, d := range deps[id] {
			n = max(n, level[d]+1)
		}
		level[id] = n
		for len(out) <= n {
			out = append(out, nil)
		}
		out[n] = append(out[n], id)
	}
	return out, nil
}

// order sorts ids so that every resource comes after those it references.
func (b *builder) order(ids []string) ([]string, map[string][]string, error) {
	in := map[string]bool{}
	for _, id := range ids {
		in[id] = true
	}
	deps := map[string][]string{}
	for _, id := range ids {
		set := map[string]bool{}
		refs(b.t.Resources[id].Properties, func(d string) {
			if in[d] && d != id {
				set[d] = true
			}
		})
		for d := range set {
			deps[id] = append(deps[id], d)
		}
	}
	var out []string
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(id string, path []string) error
	visit = func(id string, path []string) error {
		switch state[id] {
		case 1:
			return fmt.Errorf("%s: resources reference each other in a cycle: %s", b.file, strings.Join(append(path, id), " → "))
		case 2:
			return nil
		}
		state[id] = 1
		ds := deps[id]
		sort.Strings(ds)
		for _, d := range ds {
			if err := visit(d, append(path, id)); err != nil {
				return err
			}
		}
		state[id] = 2
		out = append(out, id)
		return nil
	}
	for _, id := range ids {
		if err := visit(id, nil); err != nil {
			return nil, nil, err
		}
	}
	return out, deps, nil
}

// refs calls fn with every logical ID an intrinsic in v references (Ref, Fn::GetAtt and
// Fn::Sub's ${Name} and ${Name.Attribute}).
func refs(v any, fn func(string)) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			if r, ok := x["Ref"].(string); ok {
				fn(r)
				return
			}
			if g, ok := x["Fn::GetAtt"]; ok {
				switch a := g.(type) {
				case []any:
					if len(a) > 0 {
						fn(fmt.Sprint(a[0]))
					}
				case string:
					fn(strings.SplitN(a, ".", 2)[0])
				}
				return
			}
			if s, ok := x["Fn::Sub"]; ok {
				var tmpl string
				switch a := s.(type) {
				case string:
					tmpl = a
				case []any:
					if len(a) > 0 {
						tmpl = fmt.Sprint(a[0])
					}
					if len(a) > 1 {
						refs(a[1], fn)
					}
				}
				for _, name := range samtemplate.Placeholders(tmpl) {
					if !strings.HasPrefix(name, "!") {
						fn(strings.SplitN(name, ".", 2)[0])
					}
				}
				return
			}
		}
		for _, e := range x {
			refs(e, fn)
		}
	case []any:
		for _, e := range x {
			refs(e, fn)
		}
	}
}

// numericProperties are the CloudFormation properties whose API value is a number (the
// resolver yields strings for Number parameters, as CloudFormation does before it applies
// the resource schema).
var numericProperties = map[string]bool{
	"ContainerPort": true, "HostPort": true, "DesiredCount": true, "HealthCheckGracePeriodSeconds": true,
	"BakeTimeInMinutes": true, "MaximumPercent": true, "MinimumHealthyPercent": true, "TimeoutInMinutes": true,
	"Weight": true, "Priority": true, "Port": true, "HealthCheckIntervalSeconds": true, "HealthCheckTimeoutSeconds": true,
	"HealthyThresholdCount": true, "UnhealthyThresholdCount": true, "Threshold": true, "EvaluationPeriods": true,
	"DatapointsToAlarm": true, "Period": true, "RetentionInDays": true, "MemorySize": true, "Timeout": true,
	"MaximumRetryAttempts": true, "MaxSessionDuration": true,
	"CanaryPercent": true, "CanaryBakeTimeInMinutes": true, "StepPercent": true, "StepBakeTimeInMinutes": true,
}

// coerce turns numeric strings into numbers under numericProperties, recursively.
func coerce(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			if s, ok := e.(string); ok && numericProperties[k] {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					out[k] = f
					continue
				}
			}
			out[k] = coerce(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = coerce(e)
		}
		return out
	}
	return v
}

// decode fills an SDK input from CloudFormation properties: the SDK's Go field names are
// CloudFormation's property names, and encoding/json matches them.
func decode(props map[string]any, into any) error {
	b, err := json.Marshal(coerce(props))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, into); err != nil {
		return fmt.Errorf("read the properties: %w", err)
	}
	return nil
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

func num(v any) int {
	f, _ := strconv.ParseFloat(str(v), 64)
	return int(f)
}

// jsonString renders a policy document (an object, or already a JSON string).
func jsonString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// physicalName is the name CloudFormation would generate, without its random suffix.
func physicalName(stack, id string, max int) string {
	n := stack + "-" + id
	if len(n) > max {
		n = n[:max]
	}
	return n
}
