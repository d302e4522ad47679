package main

import (
	"strings"
	"testing"

	"github.com/greenlight-deploy/greenlight/internal/routes"
)

func TestUsage(t *testing.T) {
	e := &env{t: t, vars: map[string]string{}} // no AWS needed: these fail before any call
	e.moto = nil
	cases := []struct {
		name string
		args []string
		code int
		want string // in stderr
	}{
		{"unknown command", []string{"statsu"}, 2, `unknown command "statsu": commands are deploy, history, rehearse, rollback, routes, status, verify`},
		{"unknown flag", []string{"status", "--bogus"}, 2, "greenlight status: unknown flag --bogus\nRun 'greenlight status --help' for usage."},
		{"bad output", []string{"history", "-o", "xml", "--service", "prod/web"}, 2, `--output "xml": use text, json or yaml`},
		{"flag value", []string{"history", "--service", "prod/web", "--limit", "many"}, 2, `invalid value "many" for flag --limit`},
		{"limit range", []string{"history", "--service", "prod/web", "--limit", "0"}, 2, "--limit 0: use 1-100"},
		{"history without service", []string{"history"}, 2, "--service is required: CLUSTER/SERVICE, e.g. prod/web"},
		{"bad service", []string{"history", "--service", "prod/web/x"}, 2, `--service "prod/web/x": write CLUSTER/SERVICE`},
		{"deploy without image", []string{"deploy", "--service", "prod/web"}, 2, "--image is required: REPO:TAG or REPO@sha256:DIGEST"},
		{"deploy without tag", []string{"deploy", "--service", "prod/web", "--image", "web"}, 2, `name a tag or a digest: web:TAG or web@sha256:DIGEST`},
		{"deploy short digest", []string{"deploy", "--service", "prod/web", "--image", "web@sha256:abc"}, 2, "the digest must be sha256: and 64 hex digits"},
		{"deploy foreign registry", []string{"deploy", "--service", "prod/web", "--image", "docker.io/library/web:v1"}, 2, "docker.io is not an Amazon ECR registry"},
		{"routes without sub", []string{"routes", "frob"}, 2, `unknown command "frob": routes has get, put, validate`},
		{"validate without file", []string{"routes", "validate"}, 2, "FILE is required"},
		{"validate two files", []string{"routes", "validate", "a", "b"}, 2, "one FILE only, got 2 arguments"},
		{"missing file", []string{"routes", "validate", "testdata/nope.yaml"}, 2, "testdata/nope.yaml: no such file"},
		{"extra argument", []string{"status", "prod/web"}, 2, `unexpected argument "prod/web"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := run(t.Context(), c.args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
			if code != c.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, c.code, errb.String())
			}
			if !strings.Contains(errb.String(), c.want) {
				t.Errorf("stderr = %q\nwant it to contain %q", errb.String(), c.want)
			}
		})
	}
	_ = e
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"status", "--help"}, {"history", "-h"}, {"deploy", "--help"}, {"rollback", "--help"},
		{"verify", "--help"}, {"routes", "--help"}, {"routes", "put", "--help"}, {"help", "status"}} {
		var out, errb strings.Builder
		code := run(t.Context(), args, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
		if code != 0 {
			t.Fatalf("%v: exit %d; stderr %s", args, code, errb.String())
		}
		if !strings.HasPrefix(out.String(), "Usage") && args[0] != "--help" {
			t.Errorf("%v: help does not start with Usage:\n%s", args, out.String())
		}
		if args[0] != "--help" && args[0] != "routes" && !strings.Contains(out.String(), "Examples:\n  greenlight ") {
			t.Errorf("%v: help has no examples:\n%s", args, out.String())
		}
	}
	var out strings.Builder
	run(t.Context(), []string{"--help"}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	golden(t, "help", out.String())
	out.Reset()
	run(t.Context(), []string{"rollback", "--help"}, func(string) string { return "" }, strings.NewReader(""), &out, &out)
	golden(t, "help-rollback", out.String())
	// no command: the help, on stdout, and exit 2
	if code := run(t.Context(), nil, func(string) string { return "" }, strings.NewReader(""), &out, &out); code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
}

func TestRoutesValidate(t *testing.T) {
	var out, errb strings.Builder
	code := run(t.Context(), []string{"routes", "validate", "../../internal/routes/testdata/full.yaml"}, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	if code != 0 || out.String() != "../../internal/routes/testdata/full.yaml: valid (2 routes, 3 services)\n" {
		t.Fatalf("valid file: exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}

	out.Reset()
	errb.Reset()
	code = run(t.Context(), []string{"routes", "validate", "testdata/routes-bad.yaml"}, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	if code != 2 || out.Len() != 0 {
		t.Fatalf("bad file: exit %d (want 2), stdout %q", code, out.String())
	}
	golden(t, "routes-validate-bad", errb.String())

	out.Reset()
	errb.Reset()
	code = run(t.Context(), []string{"routes", "validate", "-o", "json", "testdata/routes-bad.yaml"}, func(string) string { return "" }, strings.NewReader(""), &out, &errb)
	if code != 2 {
		t.Fatalf("bad file, json: exit %d", code)
	}
	v := checkSchema(t, "routes-validate", out.String())
	if v["valid"] != false || len(v["problems"].([]any)) != 4 {
		t.Errorf("json view: %v", v)
	}

	// an unknown field is named with the field that was probably meant
	errb.Reset()
	if code := run(t.Context(), []string{"routes", "validate", "testdata/routes-typo.yaml"}, func(string) string { return "" }, strings.NewReader(""), &out, &errb); code != 2 ||
		!strings.Contains(errb.String(), `routes[0].tagPatern: unknown field; did you mean "tagPattern"?`) {
		t.Errorf("typo: exit %d, stderr %q", code, errb.String())
	}

	// standard input, JSON, valid
	out.Reset()
	code = run(t.Context(), []string{"routes", "validate", "-o", "json", "-"}, func(string) string { return "" }, strings.NewReader(routesDoc), &out, &errb)
	if code != 0 {
		t.Fatalf("stdin: exit %d: %s", code, errb.String())
	}
	if v := checkSchema(t, "routes-validate", out.String()); v["valid"] != true || v["services"] != float64(1) {
		t.Errorf("stdin json view: %v", v)
	}
}

func TestRoutesPutAndGet(t *testing.T) {
	e := newEnv(t)
	// the parameter does not exist yet
	_, errs, code := e.run("routes", "get")
	if code != 4 || !strings.Contains(errs, "routes parameter /greenlight/routes does not exist") {
		t.Fatalf("get before put: exit %d, %s", code, errs)
	}
	out, _ := e.mustRun(0, "routes", "put", "--yes", "../../internal/routes/testdata/full.yaml")
	if !strings.Contains(out, "/greenlight/routes does not exist yet; it will be created") || !strings.Contains(out, "Wrote /greenlight/routes: 2 routes, 3 services.") {
		t.Errorf("put (create):\n%s", out)
	}
	stored, err := routes.Parse([]byte(e.routesValue()))
	if err != nil || len(stored.Routes) != 2 {
		t.Fatalf("stored document: %v, %v", stored, err)
	}

	out, _ = e.mustRun(0, "routes", "get")
	golden(t, "routes-get", out)
	out, _ = e.mustRun(0, "routes", "get", "-o", "yaml")
	golden(t, "routes-get-yaml", out)
	if d, err := routes.Parse([]byte(out)); err != nil || len(d.Routes) != 2 {
		t.Errorf("routes get -o yaml does not parse back: %v", err)
	}

	// same document again: nothing to write
	out, _ = e.mustRun(0, "routes", "put", "../../internal/routes/testdata/full.yaml")
	if out != "/greenlight/routes already holds this document: nothing to write.\n" {
		t.Errorf("unchanged put: %q", out)
	}

	// a change, declined
	before := e.routesValue()
	e.stdin = "n\n"
	out, errs = e.mustRun(1, "routes", "put", "testdata/routes-v2.yaml")
	if e.routesValue() != before {
		t.Fatal("a declined put wrote the parameter")
	}
	if !strings.Contains(errs, "Write /greenlight/routes (2 routes)? [y/N] ") || !strings.Contains(errs, "cancelled: nothing was changed") {
		t.Errorf("declined put stderr: %q", errs)
	}
	golden(t, "routes-put-diff", out)

	// no answer at all: usage error asking for --yes
	e.stdin = ""
	_, errs = e.mustRun(2, "routes", "put", "testdata/routes-v2.yaml")
	if !strings.Contains(errs, "pass --yes") {
		t.Errorf("no answer: %q", errs)
	}

	// accepted, JSON
	e.stdin = "yes\n"
	out, _ = e.mustRun(0, "routes", "put", "-o", "json", "testdata/routes-v2.yaml")
	v := checkSchema(t, "routes-put", out)
	if v["written"] != true || v["changed"] != true || !strings.Contains(v["diff"].(string), "+      postDeployWatchMinutes: 15") {
		t.Errorf("put json: %v", v)
	}
	if d, _ := routes.Parse([]byte(e.routesValue())); d == nil || d.Routes[0].Alarms.PostDeployWatchMinutes != 15 {
		t.Error("the accepted put did not write the new document")
	}

	// an invalid file is never written
	before = e.routesValue()
	_, errs = e.mustRun(2, "routes", "put", "--yes", "testdata/routes-bad.yaml")
	if e.routesValue() != before || !strings.Contains(errs, "testdata/routes-bad.yaml is invalid (4 problems)") {
		t.Errorf("invalid put: stored changed=%v, stderr %s", e.routesValue() != before, errs)
	}
	_, errs = e.mustRun(2, "routes", "put", "-o", "json", "--yes", "testdata/routes-bad.yaml")
	_ = errs

	// an invalid stored document: get prints it and exits 1
	e.putRoutes(`{"version": 1, "routes": [{"name": "x"}]}`)
	out, errs = e.mustRun(1, "routes", "get")
	if !strings.Contains(out, `"name": "x"`) || !strings.Contains(errs, "the stored document (/greenlight/routes) is invalid") {
		t.Errorf("invalid stored doc: %s / %s", out, errs)
	}
}
