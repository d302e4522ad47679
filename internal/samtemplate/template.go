package samtemplate

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed sam_transform.py
var transformScript []byte

// Template is a translated (plain CloudFormation) template.
type Template struct {
	Parameters map[string]Parameter `json:"Parameters"`
	Conditions map[string]any       `json:"Conditions"`
	Resources  map[string]Resource  `json:"Resources"`
	Outputs    map[string]any       `json:"Outputs"`
}

// Parameter is a template parameter.
type Parameter struct {
	Type    string `json:"Type"`
	Default any    `json:"Default"`
}

// Resource is one resource of the translated template.
type Resource struct {
	Type       string         `json:"Type"`
	Condition  string         `json:"Condition"`
	Properties map[string]any `json:"Properties"`
	Metadata   map[string]any `json:"Metadata"`
}

// Translate runs the SAM transform offline on the template at path (python3 and
// aws-sam-translator must be installed) and returns the CloudFormation JSON.
func Translate(ctx context.Context, path string) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "greenlight-sam-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "sam_transform.py")
	if err := os.WriteFile(script, transformScript, 0o644); err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, "python3", script, abs)
	cmd.Dir = filepath.Dir(abs)
	cmd.Env = append(os.Environ(), "AWS_DEFAULT_REGION=us-east-1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "No module named 'samtranslator'") {
			return nil, fmt.Errorf("translate %s: aws-sam-translator is not installed for python3 (pip install aws-sam-translator): %s", path, msg)
		}
		return nil, fmt.Errorf("translate %s: %w: %s", path, err, msg)
	}
	return stdout.Bytes(), nil
}

// Load translates the SAM template at path and parses the result.
func Load(ctx context.Context, path string) (*Template, error) {
	b, err := Translate(ctx, path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse reads translated CloudFormation JSON.
func Parse(b []byte) (*Template, error) {
	var t Template
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("parse translated template: %w", err)
	}
	if len(t.Resources) == 0 {
		return nil, fmt.Errorf("parse translated template: no Resources")
	}
	return &t, nil
}

// OfType returns the logical IDs of the resources of type typ, sorted.
func (t *Template) OfType(typ string) []string {
	var out []string
	for id, r := range t.Resources {
		if r.Type == typ {
			out = append(out, id)
		}
	}
	sort.Strings(out)
	return out
}

// ResolvedProperties returns a resource's properties with every intrinsic resolved.
func (t *Template) ResolvedProperties(id string, vals Values) (map[string]any, error) {
	r, ok := t.Resources[id]
	if !ok {
		return nil, fmt.Errorf("no resource %s", id)
	}
	v, err := t.Resolve(r.Properties, vals)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", id, err)
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// StateMachineDefinition returns the definition of an AWS::StepFunctions::StateMachine with
// its DefinitionSubstitutions rendered (every placeholder must have a value).
func (t *Template) StateMachineDefinition(id string, vals Values) (string, error) {
	r, ok := t.Resources[id]
	if !ok || r.Type != "AWS::StepFunctions::StateMachine" {
		return "", fmt.Errorf("%s is not a state machine in the template", id)
	}
	def, err := t.Resolve(r.Properties["DefinitionString"], vals)
	if err != nil {
		return "", fmt.Errorf("%s DefinitionString: %w", id, err)
	}
	s, ok := def.(string)
	if !ok {
		return "", fmt.Errorf("%s DefinitionString resolved to %T", id, def)
	}
	subs := map[string]string{}
	if raw, ok := r.Properties["DefinitionSubstitutions"].(map[string]any); ok {
		for k, v := range raw {
			rv, err := t.Resolve(v, vals)
			if err != nil {
				return "", fmt.Errorf("%s substitution %s: %w", id, k, err)
			}
			subs[k] = fmt.Sprint(rv)
		}
	}
	return RenderSubstitutions(s, subs)
}

// Placeholders lists the distinct ${Name} placeholders of a definition, sorted.
func Placeholders(def string) []string {
	seen := map[string]bool{}
	var out []string
	for i := 0; i < len(def); i++ {
		if def[i] == '$' && i+1 < len(def) && def[i+1] == '{' {
			end := strings.IndexByte(def[i:], '}')
			if end < 0 {
				break
			}
			name := def[i+2 : i+end]
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
			i += end
		}
	}
	sort.Strings(out)
	return out
}

// RenderSubstitutions replaces each ${Name} with subs[Name]; a placeholder without a value is
// an error naming it.
func RenderSubstitutions(def string, subs map[string]string) (string, error) {
	var missing []string
	for _, p := range Placeholders(def) {
		if _, ok := subs[p]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("definition placeholders without a substitution: %s", strings.Join(missing, ", "))
	}
	for k, v := range subs {
		def = strings.ReplaceAll(def, "${"+k+"}", v)
	}
	return def, nil
}

// RulePattern returns an AWS::Events::Rule's EventPattern, resolved, as JSON.
func (t *Template) RulePattern(id string, vals Values) (json.RawMessage, error) {
	r, ok := t.Resources[id]
	if !ok || r.Type != "AWS::Events::Rule" {
		return nil, fmt.Errorf("%s is not an EventBridge rule in the template", id)
	}
	v, err := t.Resolve(r.Properties["EventPattern"], vals)
	if err != nil {
		return nil, fmt.Errorf("%s EventPattern: %w", id, err)
	}
	return json.Marshal(v)
}

// FunctionEnvironment returns an AWS::Lambda::Function's environment variables, resolved.
func (t *Template) FunctionEnvironment(id string, vals Values) (map[string]string, error) {
	r, ok := t.Resources[id]
	if !ok || r.Type != "AWS::Lambda::Function" {
		return nil, fmt.Errorf("%s is not a Lambda function in the template", id)
	}
	env, _ := r.Properties["Environment"].(map[string]any)
	vars, _ := env["Variables"].(map[string]any)
	out := map[string]string{}
	for k, v := range vars {
		rv, err := t.Resolve(v, vals)
		if err != nil {
			return nil, fmt.Errorf("%s environment %s: %w", id, k, err)
		}
		out[k] = fmt.Sprint(rv)
	}
	return out, nil
}

// CodeDir is the directory a translated function was built from (functions/<name>).
func (t *Template) CodeDir(id string) string {
	code, _ := t.Resources[id].Properties["Code"].(map[string]any)
	key, _ := code["S3Key"].(string)
	return strings.TrimSuffix(key, ".zip")
}
