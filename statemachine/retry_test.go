package statemachine_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// crashErrors are the error names Step Functions reports for a Lambda whose runtime died
// or hung rather than returning an error: Runtime.ExitError (the process was killed or
// crashed: out of memory, a signal), Sandbox.Timedout (the function's timeout), and
// Lambda.Unknown (an unhandled failure with no errorType). They say nothing about the
// input, and every greenlight step is safe to run again, so each Lambda task retries them.
// Found by the rehearsal's lambda-killed scenario: a start killed mid-invocation ended the
// deployment FAILED while ECS went on deploying.
var crashErrors = []string{"Runtime.ExitError", "Sandbox.Timedout", "Lambda.Unknown"}

type aslState struct {
	Type     string
	Resource string
	Retry    []struct {
		ErrorEquals []string
		MaxAttempts *int
	}
	ItemProcessor *struct{ States map[string]aslState }
}

func TestEveryLambdaTaskRetriesACrashedRuntime(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "statemachine", "deploy.asl.json"))
	if err != nil {
		t.Fatal(err)
	}
	var def struct{ States map[string]aslState }
	if err := json.Unmarshal(b, &def); err != nil {
		t.Fatal(err)
	}
	tasks := 0
	var walk func(states map[string]aslState)
	walk = func(states map[string]aslState) {
		for name, s := range states {
			if s.ItemProcessor != nil {
				walk(s.ItemProcessor.States)
			}
			if s.Type != "Task" || s.Resource != "arn:aws:states:::lambda:invoke" {
				continue
			}
			tasks++
			for _, e := range crashErrors {
				covered := false
				for _, r := range s.Retry {
					if slices.Contains(r.ErrorEquals, e) && (r.MaxAttempts == nil || *r.MaxAttempts >= 1) {
						covered = true
					}
				}
				if !covered {
					t.Errorf("state %q: no Retry covers %s (a killed or timed-out runtime); add it with MaxAttempts ≥ 1", name, e)
				}
			}
		}
	}
	walk(def.States)
	if tasks < 9 {
		t.Errorf("found %d Lambda tasks; want every one of the state machine's (at least 9)", tasks)
	}
}
