package environment_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// deploy.sh runs with testdata/aws in front of the real AWS CLI: the fake records each call
// and answers describe-stacks, describe-services and describe-task-definition from FAKE_*
// variables.

const (
	currentImage = "111122223333.dkr.ecr.eu-west-1.amazonaws.com/greenlight-demo-app@sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	taskDefARN   = "arn:aws:ecs:eu-west-1:111122223333:task-definition/greenlight-demo:7"
)

type deployRun struct {
	calls  [][]string
	stderr string
	err    error
}

func runDeploy(t *testing.T, env map[string]string, args ...string) deployRun {
	t.Helper()
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatalf("deploy.sh needs bash: %v", err)
	}
	fakeDir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(t.TempDir(), "aws.log")
	cmd := exec.Command(bash, append([]string{"deploy.sh"}, args...)...)
	cmd.Env = append(os.Environ(), "PATH="+fakeDir+string(os.PathListSeparator)+os.Getenv("PATH"), "FAKE_AWS_LOG="+log)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	run := deployRun{err: cmd.Run(), stderr: stderr.String()}
	b, _ := os.ReadFile(log)
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if line != "" {
			run.calls = append(run.calls, strings.Split(line, "\x1f"))
		}
	}
	return run
}

// deployCall returns the arguments of the aws cloudformation deploy call, or nil.
func (r deployRun) deployCall() []string {
	for _, c := range r.calls {
		if len(c) > 1 && c[0] == "cloudformation" && c[1] == "deploy" {
			return c
		}
	}
	return nil
}

// overrides returns what deploy passed after --parameter-overrides.
func overrides(call []string) []string {
	i := slices.Index(call, "--parameter-overrides")
	if i < 0 {
		return nil
	}
	return call[i+1:]
}

var runningService = map[string]string{
	"FAKE_OUTPUT_ClusterName":   "greenlight-demo-cluster",
	"FAKE_OUTPUT_ServiceName":   "greenlight-demo-service",
	"FAKE_OUTPUT_ContainerName": "app",
	"FAKE_SERVICE":              "ACTIVE\t1\tCOMPLETED\t" + taskDefARN,
	"FAKE_IMAGE":                currentImage,
}

func TestDeployKeepsTheImageTheServiceRuns(t *testing.T) {
	r := runDeploy(t, runningService, "demo", "BakeTimeMinutes=10", "TaskCpu=512")
	if r.err != nil {
		t.Fatalf("deploy.sh: %v\n%s", r.err, r.stderr)
	}
	call := r.deployCall()
	if call == nil {
		t.Fatalf("deploy.sh made no cloudformation deploy call: %v", r.calls)
	}
	want := []string{"BakeTimeMinutes=10", "TaskCpu=512", "ImageUri=" + currentImage}
	if got := overrides(call); !reflect.DeepEqual(got, want) {
		t.Errorf("parameter overrides = %q, want %q (the stack must not deploy an older image back)", got, want)
	}
	for _, flag := range []string{"--stack-name", "demo", "--capabilities", "CAPABILITY_IAM", "--no-fail-on-empty-changeset"} {
		if !slices.Contains(call, flag) {
			t.Errorf("deploy call %q lacks %s", call, flag)
		}
	}
	tpl := call[slices.Index(call, "--template-file")+1]
	if abs, _ := filepath.Abs("template.yaml"); tpl != abs {
		t.Errorf("--template-file %s, want %s (found from the script's own directory)", tpl, abs)
	}
	// The image came from the service's current task definition, for its container.
	var described []string
	for _, c := range r.calls {
		if c[1] == "describe-task-definition" {
			described = c
		}
	}
	if !slices.Contains(described, taskDefARN) || !strings.Contains(strings.Join(described, " "), "name=='app'") {
		t.Errorf("describe-task-definition call = %q, want the service's task definition and container app", described)
	}
	if !strings.Contains(r.stderr, "keeping the image") {
		t.Errorf("deploy.sh did not say which image it keeps: %q", r.stderr)
	}
}

func TestDeployWithAnExplicitImage(t *testing.T) {
	r := runDeploy(t, runningService, "demo", "ImageUri=repo@sha256:abc")
	if r.err != nil {
		t.Fatalf("deploy.sh: %v\n%s", r.err, r.stderr)
	}
	if got := overrides(r.deployCall()); !reflect.DeepEqual(got, []string{"ImageUri=repo@sha256:abc"}) {
		t.Errorf("parameter overrides = %q, want only the ImageUri given", got)
	}
	if len(r.calls) != 1 {
		t.Errorf("deploy.sh looked the image up although one was given: %v", r.calls)
	}
}

func TestDeployBeforeTheServiceExists(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
	}{
		{"no stack yet (phase 1)", map[string]string{"FAKE_NO_STACK": "1"}},
		{"stack without a service (no image yet)", map[string]string{
			"FAKE_OUTPUT_ClusterName": "greenlight-demo-cluster", "FAKE_OUTPUT_ServiceName": "greenlight-demo-service",
			"FAKE_OUTPUT_ContainerName": "app", "FAKE_SERVICE": "None"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runDeploy(t, tt.env, "demo", "ProjectName=greenlight-demo")
			if r.err != nil {
				t.Fatalf("deploy.sh: %v\n%s", r.err, r.stderr)
			}
			if got := overrides(r.deployCall()); !reflect.DeepEqual(got, []string{"ProjectName=greenlight-demo"}) {
				t.Errorf("parameter overrides = %q, want only what was given (no ImageUri: the stack creates no service yet)", got)
			}
		})
	}
	r := runDeploy(t, map[string]string{"FAKE_NO_STACK": "1"}, "demo")
	if call := r.deployCall(); r.err != nil || call == nil || slices.Contains(call, "--parameter-overrides") {
		t.Errorf("deploy.sh with no parameters: %v, call %q; want a deploy with no --parameter-overrides", r.err, call)
	}
}

func TestDeployRefusesDuringADeployment(t *testing.T) {
	for _, svc := range []string{
		"ACTIVE\t2\tIN_PROGRESS\t" + taskDefARN, // blue and green both listed
		"ACTIVE\t1\tIN_PROGRESS\t" + taskDefARN,
	} {
		env := map[string]string{}
		for k, v := range runningService {
			env[k] = v
		}
		env["FAKE_SERVICE"] = svc
		r := runDeploy(t, env, "demo")
		if r.err == nil || r.deployCall() != nil {
			t.Errorf("service %q: deploy.sh went ahead (%v), want it to refuse while a deployment runs", svc, r.calls)
		}
		if !strings.Contains(r.stderr, "is deploying") {
			t.Errorf("service %q: stderr %q does not say why", svc, r.stderr)
		}
	}
}

func TestDeployRejectsBadArguments(t *testing.T) {
	for _, args := range [][]string{nil, {"--help"}, {"demo", "BakeTimeMinutes"}, {"demo", "=5"}} {
		r := runDeploy(t, map[string]string{"FAKE_NO_STACK": "1"}, args...)
		if r.err == nil || r.deployCall() != nil {
			t.Errorf("deploy.sh %q succeeded, want a usage error", args)
		}
	}
}
