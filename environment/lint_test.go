package environment_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// liveOnlyHookKeys are the DeploymentLifecycleHook properties the live CloudFormation schema
// has and cfn-lint 1.51's bundled schema lacks (reference ecs-bluegreen.md §1.4): the only
// reason the Service suppresses E3002.
var liveOnlyHookKeys = []string{"TargetType", "TimeoutConfiguration"}

// TestCfnLint runs cfn-lint (zero errors and zero warnings) over the template as it is, and
// over a copy without the live-only hook keys and without the Service's E3002 suppression,
// which must be clean too: so the suppression hides nothing but those two keys.
func TestCfnLint(t *testing.T) {
	bin, err := exec.LookPath("cfn-lint")
	if err != nil {
		if testing.Short() {
			t.Skip("cfn-lint is not installed (pip install cfn-lint); skipped with -short")
		}
		t.Fatal("cfn-lint is not installed: pip install cfn-lint (1.51 or later), or run go test -short")
	}
	root := readNode(t, "template.yaml")
	service := mapValue(t, mapValue(t, root, "Resources"), "Service")
	if !deleteKey(service, "Metadata") {
		t.Fatal("Resources.Service has no Metadata (its cfn-lint suppression) to remove")
	}
	hook := serviceHook(t, service)
	for _, k := range liveOnlyHookKeys {
		if !deleteKey(hook, k) {
			t.Errorf("the smoke-test hook has no %s: drop it from liveOnlyHookKeys and the Service's E3002 suppression", k)
		}
	}
	// TimeoutConfiguration was the only user of HookTimeoutMinutes.
	if !deleteKey(mapValue(t, root, "Parameters"), "HookTimeoutMinutes") {
		t.Error("no parameter HookTimeoutMinutes")
	}
	for _, group := range mapValue(t, mapValue(t, root, "Metadata"), "AWS::CloudFormation::Interface").Content[1].Content {
		params := mapValue(t, group, "Parameters")
		params.Content = slices.DeleteFunc(params.Content, func(n *yaml.Node) bool { return n.Value == "HookTimeoutMinutes" })
	}
	stripped, err := yaml.Marshal(root)
	if err != nil {
		t.Fatal(err)
	}
	strippedPath := filepath.Join(t.TempDir(), "template-without-live-only-keys.yaml")
	if err := os.WriteFile(strippedPath, stripped, 0o644); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "--format", "parseable", "template.yaml", strippedPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("run cfn-lint: %v", err)
	}
	if err != nil || out.Len() > 0 {
		t.Errorf("cfn-lint found problems (%v); the second file is the template without %v and without the Service's suppression:\n%s",
			err, liveOnlyHookKeys, out.String())
	}
}

// TestLintSuppressionsExplained: every cfn-lint suppression in the template carries a
// comment that says why.
func TestLintSuppressionsExplained(t *testing.T) {
	root := readNode(t, "template.yaml")
	found := 0
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == "ignore_checks" {
					for _, item := range n.Content[i+1].Content {
						found++
						why := strings.TrimSpace(item.HeadComment + item.LineComment)
						if len(why) < 40 {
							t.Errorf("line %d: suppression %s has no comment saying why (got %q)", item.Line, item.Value, why)
						}
					}
				}
			}
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(root)
	if found != 1 {
		t.Errorf("the template suppresses %d cfn-lint checks, want exactly 1 (E3002 on the Service): a new one needs its reason and a check like TestCfnLint's", found)
	}
}

func readNode(t *testing.T, path string) *yaml.Node {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return doc.Content[0]
}

func mapValue(t *testing.T, m *yaml.Node, key string) *yaml.Node {
	t.Helper()
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	t.Fatalf("line %d: no key %q", m.Line, key)
	return nil
}

func deleteKey(m *yaml.Node, key string) bool {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return true
		}
	}
	return false
}

// serviceHook finds the hook mapping inside LifecycleHooks: !If [cond, [hook], NoValue].
func serviceHook(t *testing.T, service *yaml.Node) *yaml.Node {
	t.Helper()
	hooks := mapValue(t, mapValue(t, mapValue(t, service, "Properties"), "DeploymentConfiguration"), "LifecycleHooks")
	if hooks.Tag != "!If" || len(hooks.Content) != 3 || len(hooks.Content[1].Content) != 1 {
		t.Fatalf("line %d: LifecycleHooks is not !If [condition, [one hook], …]", hooks.Line)
	}
	return hooks.Content[1].Content[0]
}
