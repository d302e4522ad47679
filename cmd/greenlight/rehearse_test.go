package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// rehearse runs `greenlight rehearse …` the way main does, with no AWS involved but what
// the rehearsal starts itself.
func rehearse(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), append([]string{"rehearse"}, args...), func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), code
}

func TestRehearseList(t *testing.T) {
	out, errs, code := rehearse(t, "--list")
	if code != 0 {
		t.Fatalf("rehearse --list: exit %d: %s", code, errs)
	}
	golden(t, "rehearse-list", out)

	out, _, code = rehearse(t, "--list", "-o", "json")
	var doc struct {
		Scenarios []struct {
			Name   string   `json:"name"`
			Expect []string `json:"expect"`
			Group  string   `json:"group"`
		} `json:"scenarios"`
	}
	if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil || len(doc.Scenarios) != 15 || doc.Scenarios[0].Name != "healthy" || doc.Scenarios[0].Expect[0] != "SUCCEEDED" ||
		doc.Scenarios[0].Group != "" || doc.Scenarios[14].Name != "stopped-by-hand" || doc.Scenarios[14].Group != "faults" {
		t.Errorf("rehearse --list -o json: exit %d, %v: %s", code, err, out)
	}
}

func TestRehearseBadFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--time-scale", "2"}, "--time-scale 2: want a number in (0, 1]"},
		{[]string{"--time-scale", "fast"}, `invalid value "fast" for flag --time-scale`},
		{[]string{"--scenario", "healty"}, `unknown scenario "healty": use one of healthy`},
		{[]string{"--scenario", "crash-on-start", "--app-cmd", "./my-app"}, "scenario crash-on-start injects faults"},
		{[]string{"--health-path", "health"}, `--health-path "health"`},
		{[]string{"--routes", "testdata/nope.yaml"}, "--routes testdata/nope.yaml"},
		{[]string{"--timeout", "0s"}, "--timeout 0s"},
		{[]string{"--rate", "-1"}, "--rate -1"},
		{[]string{"--bogus"}, "unknown flag --bogus"},
		{[]string{"extra"}, `unexpected argument "extra"`},
	} {
		out, errs, code := rehearse(t, tc.args...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("rehearse %s: exit %d, stderr %q, stdout %q; want exit 2 with %q", strings.Join(tc.args, " "), code, errs, out, tc.want)
		}
	}
	// With --output json, the usage error is the JSON error object.
	_, errs, code := rehearse(t, "--scenario", "nope", "-o", "json")
	if code != 2 || !strings.Contains(errs, `"kind":"usage"`) {
		t.Errorf("rehearse -o json with a bad scenario: exit %d, stderr %s", code, errs)
	}
}

// TestRehearseJSON runs the healthy scenario through the command and checks the document
// against testdata/rehearse.schema.json.
func TestRehearseJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts moto_server, aws-lambda-rie and the ECS emulator")
	}
	work, err := os.MkdirTemp("", "greenlight-rehearse-cmd-")
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code := rehearse(t, "--scenario", "healthy", "-o", "json", "--work-dir", work)
	if code != 0 {
		t.Fatalf("rehearse -o json: exit %d (logs in %s)\nstderr: %s\nstdout: %s", code, work, errs, out)
	}
	f, err := os.Open(filepath.Join("testdata", "rehearse.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("rehearse.schema.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("rehearse.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(out))
	if err != nil {
		t.Fatalf("stdout is not one JSON document: %v\n%s", err, out)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("rehearse -o json does not match testdata/rehearse.schema.json: %v", err)
	}
	v := inst.(map[string]any)
	if v["pass"] != true || v["outcome"] != "SUCCEEDED" || v["scenario"] != "healthy" || len(v["stages"].([]any)) == 0 || len(v["traffic"].([]any)) == 0 {
		t.Errorf("document: pass %v, outcome %v, scenario %v, %d stages, %d phases", v["pass"], v["outcome"], v["scenario"], len(v["stages"].([]any)), len(v["traffic"].([]any)))
	}
	_ = os.RemoveAll(work)
}
