package environment_test

import (
	"fmt"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/greenlight-deploy/greenlight/internal/cfnyaml"
)

// tmpl is a parsed template with helpers that resolve parameters to their defaults.
type tmpl struct {
	tree map[string]any
}

var (
	loadOnce sync.Once
	loaded   *tmpl
	loadErr  error
)

// environment returns environment/template.yaml, parsed once per test binary.
func environment(t *testing.T) *tmpl {
	t.Helper()
	loadOnce.Do(func() {
		tree, err := cfnyaml.ParseFile("template.yaml")
		loaded, loadErr = &tmpl{tree: tree}, err
	})
	if loadErr != nil {
		t.Fatalf("parse template.yaml: %v", loadErr)
	}
	return loaded
}

// at returns the value at a dotted path, failing the test when it is absent.
func (tp *tmpl) at(t *testing.T, path string) any {
	t.Helper()
	v, err := cfnyaml.Lookup(tp.tree, path)
	if err != nil {
		t.Fatalf("template.yaml: %v", err)
	}
	return v
}

func (tp *tmpl) resource(t *testing.T, name string) map[string]any {
	t.Helper()
	r, ok := tp.at(t, "Resources."+name).(map[string]any)
	if !ok {
		t.Fatalf("Resources.%s is not a mapping", name)
	}
	return r
}

// prop returns a resource property at a dotted path below Properties.
func (tp *tmpl) prop(t *testing.T, resource, path string) any {
	t.Helper()
	return tp.at(t, "Resources."+resource+".Properties."+path)
}

// defaultOf returns a parameter's default as written (numbers as int).
func (tp *tmpl) defaultOf(t *testing.T, param string) any {
	t.Helper()
	return tp.at(t, "Parameters."+param+".Default")
}

var subVar = regexp.MustCompile(`\$\{([A-Za-z0-9:]+)\}`)

// resolve replaces references to parameters with their defaults: {Ref: Param} becomes the
// default, Fn::Sub strings get ${Param} filled in (references to resources and pseudo
// parameters stay as ${Name}), Fn::Split of a resolved string is split. Anything else is
// returned as it is.
func (tp *tmpl) resolve(t *testing.T, v any) any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok || len(m) != 1 {
		return v
	}
	params, _ := tp.tree["Parameters"].(map[string]any)
	if ref, ok := m["Ref"].(string); ok {
		if _, isParam := params[ref]; isParam {
			return tp.defaultOf(t, ref)
		}
		return v
	}
	if sub, ok := m["Fn::Sub"]; ok {
		var s string
		vars := map[string]any{}
		switch x := sub.(type) {
		case string:
			s = x
		case []any:
			s, _ = x[0].(string)
			vars, _ = x[1].(map[string]any)
		}
		return subVar.ReplaceAllStringFunc(s, func(w string) string {
			name := subVar.FindStringSubmatch(w)[1]
			if _, ok := vars[name]; ok {
				return w
			}
			if _, isParam := params[name]; isParam {
				return fmt.Sprint(tp.defaultOf(t, name))
			}
			return w
		})
	}
	if split, ok := m["Fn::Split"].([]any); ok && len(split) == 2 {
		if s, ok := tp.resolve(t, split[1]).(string); ok {
			var out []any
			for _, p := range strings.Split(s, split[0].(string)) {
				out = append(out, p)
			}
			return out
		}
	}
	return v
}

// num resolves v and reads it as a number.
func (tp *tmpl) num(t *testing.T, v any) float64 {
	t.Helper()
	switch x := tp.resolve(t, v).(type) {
	case int:
		return float64(x)
	case float64:
		return x
	case string:
		f, err := strconv.ParseFloat(x, 64)
		if err == nil {
			return f
		}
	}
	t.Fatalf("%v does not resolve to a number", v)
	return 0
}

func ref(name string) map[string]any { return map[string]any{"Ref": name} }

func getAtt(resource, attr string) map[string]any {
	return map[string]any{"Fn::GetAtt": []any{resource, attr}}
}

func sameValue(got, want any) bool {
	if g, ok := got.(int); ok {
		if w, ok := want.(int); ok {
			return g == w
		}
	}
	return reflect.DeepEqual(got, want)
}

func list(t *testing.T, v any, what string) []any {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("%s is a %T, want a list", what, v)
	}
	return l
}

func mapping(t *testing.T, v any, what string) map[string]any {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is a %T, want a mapping", what, v)
	}
	return m
}
