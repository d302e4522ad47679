package main

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/greenlight-deploy/greenlight/internal/result"
)

func TestHistory(t *testing.T) {
	e := newEnv(t)
	e.putRoutes(routesDoc)
	d1, d2 := digestOf(1), digestOf(2)
	e.putResult(record("exec-a/prod/web", result.Succeeded, "v1.2.1", d1, t0.Add(-3*time.Hour), 412))
	e.putResult(record("exec-b/prod/web", result.RolledBack, "v1.2.2", d2, t0.Add(-2*time.Hour), 95.4))
	e.putResult(record("exec-c/prod/web", result.Skipped, "v1.2.2", d2, t0.Add(-time.Hour), 0.8))
	cliRec := record("cli-prod-web-x/prod/web", result.Succeeded, "v1.2.1", d1, t0.Add(-30*time.Minute), 398)
	cliRec.Trigger = result.Trigger{Source: "cli", RequestedBy: "arn:aws:iam::111122223333:user/alice"}
	e.putResult(cliRec)

	out, _ := e.mustRun(0, "history", "--service", "prod/web")
	golden(t, "history", out)
	out, _ = e.mustRun(0, "history", "--service", "web", "--limit", "2", "-o", "json") // a bare name resolves through the routes
	v := checkSchema(t, "history", out)
	deps := v["deployments"].([]any)
	if len(deps) != 2 || deps[0].(map[string]any)["id"] != "cli-prod-web-x/prod/web" {
		t.Errorf("history --limit 2 -o json: newest first, 2 records: %v", deps)
	}

	out, _ = e.mustRun(0, "history", "--service", "prod/web", "-o", "yaml")
	var y struct {
		Service     string           `yaml:"service"`
		Deployments []map[string]any `yaml:"deployments"`
	}
	if err := yaml.Unmarshal([]byte(out), &y); err != nil || y.Service != "prod/web" || len(y.Deployments) != 4 || y.Deployments[0]["outcome"] != "SUCCEEDED" {
		t.Errorf("history -o yaml: %v %+v\n%s", err, y, out)
	}

	out, _ = e.mustRun(0, "history", "--service", "prod/api")
	if out != "No deployments of prod/api in the ledger yet.\n" {
		t.Errorf("empty history: %q", out)
	}
	_, errs := e.mustRun(4, "history", "--service", "api")
	if !strings.Contains(errs, `no route targets a service named "api"`) {
		t.Errorf("unknown bare name: %s", errs)
	}
	_, errs = e.mustRun(4, "history", "-o", "json", "--service", "api")
	checkSchema(t, "error", strings.TrimSpace(errs))

	// resources missing: no table name and no stack → the stack lookup says what to pass
	delete(e.vars, "GREENLIGHT_LEDGER_TABLE")
	_, errs = e.mustRun(4, "history", "--service", "prod/web")
	if !strings.Contains(errs, `stack "greenlight" does not exist in us-east-1: pass --stack NAME, or name the resources with --state-machine-arn, --ledger-table and --routes-parameter`) {
		t.Errorf("no stack: %s", errs)
	}
	_, _ = e.mustRun(0, "history", "--service", "prod/web", "--ledger-table", ledgerTable)
}

func TestDeploy(t *testing.T) {
	e := newEnv(t)
	e.putRoutes(routesDoc)
	sm := e.stateMachine()
	digest := e.pushImage("web", "v1.2.3", manifestV123)

	out, _ := e.mustRun(0, "deploy", "--service", "prod/web", "--image", "web:v1.2.3")
	golden(t, "deploy", out)
	name := "cli-prod-web-" + digest[7:19] + "-20261120T100000"
	arn := strings.Replace(sm, ":stateMachine:", ":execution:", 1) + ":" + name
	in := e.executionInput(arn)
	req := in["request"].(map[string]any)
	img := req["image"].(map[string]any)
	if req["source"] != "cli" || req["route"] != "web-prod" || req["cluster"] != "prod" || req["service"] != "web" ||
		img["repository"] != "web" || img["tag"] != "v1.2.3" || img["digest"] != digest || !strings.HasPrefix(req["requestedBy"].(string), "arn:aws:") {
		t.Errorf("execution input: %v", in)
	}
	if len(in) != 1 {
		t.Errorf("execution input must be exactly {\"request\": ...}: %v", in)
	}

	// by digest, JSON, dry run: nothing started
	e.now = e.now.Add(time.Second)
	out, _ = e.mustRun(0, "deploy", "--service", "web", "--image", "web@"+digest, "--dry-run", "-o", "json")
	v := checkSchema(t, "deploy", out)
	if v["dryRun"] != true || v["executionArn"] != nil {
		t.Errorf("dry run: %v", v)
	}

	// --wait: the ledger gets the result (what finalize does); exit by outcome
	for _, c := range []struct {
		outcome result.Outcome
		code    int
	}{{result.Succeeded, 0}, {result.RolledBack, 1}} {
		e.now = e.now.Add(time.Minute)
		name := "cli-prod-web-" + digest[7:19] + "-" + e.now.Format("20060102T150405")
		r := record(name+"/prod/web", c.outcome, "v1.2.3", digest, e.now, 300)
		r.ExecutionARN = strings.Replace(sm, ":stateMachine:", ":execution:", 1) + ":" + name
		e.onSleep = func() { e.putResult(r) } // appears after the first poll
		out, errs, code := e.run("deploy", "--service", "prod/web", "--image", "web:v1.2.3", "--wait", "--interval", "2s", "-o", "json")
		e.onSleep = nil
		if code != c.code {
			t.Fatalf("--wait with %s: exit %d, want %d\n%s\n%s", c.outcome, code, c.code, out, errs)
		}
		v := checkSchema(t, "deploy", out)
		if v["status"] != string(c.outcome) || v["result"].(map[string]any)["id"] != r.ID {
			t.Errorf("--wait view: %v", v)
		}
	}
	// --wait, text, rolled back: the reason is on the last line
	e.now = e.now.Add(time.Minute)
	name = "cli-prod-web-" + digest[7:19] + "-" + e.now.Format("20060102T150405")
	r := record(name+"/prod/web", result.RolledBack, "v1.2.3", digest, e.now, 95)
	r.ExecutionARN = strings.Replace(sm, ":stateMachine:", ":execution:", 1) + ":" + name
	e.putResult(r)
	out, _ = e.mustRun(1, "deploy", "--service", "prod/web", "--image", "web:v1.2.3", "--wait")
	golden(t, "deploy-wait-rolled-back", out)

	// the Pass-only machine ends without writing a result: --wait reports it, exit 1
	e.now = e.now.Add(time.Minute)
	out, _ = e.mustRun(1, "deploy", "--service", "prod/web", "--image", "web:v1.2.3", "--wait", "--interval", "1s")
	if !strings.Contains(out, "the execution ended SUCCEEDED without a result") {
		t.Errorf("no result: %s", out)
	}

	_, errs := e.mustRun(4, "deploy", "--service", "prod/web", "--image", "web:v9.9.9")
	if !strings.Contains(errs, "web has no image with tag v9.9.9") {
		t.Errorf("missing tag: %s", errs)
	}
	_, errs = e.mustRun(2, "deploy", "--service", "prod/web", "--image", "api:v1.0.0")
	if !strings.Contains(errs, `--image is from repository "api", but route web-prod deploys "web" to prod/web`) {
		t.Errorf("wrong repository: %s", errs)
	}
	_, errs = e.mustRun(4, "deploy", "--service", "prod/api", "--image", "web:v1.2.3")
	if !strings.Contains(errs, "no route targets prod/api") {
		t.Errorf("unrouted service: %s", errs)
	}
	_ = errs
}
