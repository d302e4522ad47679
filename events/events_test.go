// Package events_test decodes every sample payload under events/ into the type its function
// receives, with unknown fields rejected, so the samples (used with `sam local invoke -e`)
// cannot drift from the code.
package events_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/smoketest"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

// ecrEnvelope is the EventBridge envelope around an execution input (version and resources
// are part of every EventBridge event; greenlight does not read them).
type ecrEnvelope struct {
	workflow.ExecutionInput
	Version   string   `json:"version"`
	Resources []string `json:"resources"`
}

func decodeCall(b []byte) error {
	var c workflow.Call
	return strict(b, &c)
}

// decoders maps each events/<function> folder to the decoding of its function's input.
var decoders = map[string]func([]byte) error{
	"resolve": func(b []byte) error {
		var in deploy.ResolveInput
		if err := strict(b, &in); err != nil {
			return err
		}
		var env ecrEnvelope
		if err := strict(in.Input, &env); err != nil {
			return err
		}
		if env.Request != nil {
			return deploy.ValidateRequest(env.Request)
		}
		return deploy.ValidatePush(env.ExecutionInput)
	},
	"lock":     decodeCall,
	"start":    decodeCall,
	"check":    decodeCall,
	"finalize": decodeCall,
	"watch":    decodeCall,
	"smoketest": func(b []byte) error {
		var ev smoketest.HookEvent
		return strict(b, &ev)
	},
	// The reconciler's schedule (or {} when invoked by hand); the run reads nothing from it.
	"reconcile": func(b []byte) error {
		var ev lambdaevents.EventBridgeEvent
		return strict(b, &ev)
	},
	"notify": func(b []byte) error {
		var ev lambdaevents.SNSEvent
		if err := strict(b, &ev); err != nil {
			return err
		}
		for _, r := range ev.Records {
			var res result.Result
			if err := strict([]byte(r.SNS.Message), &res); err != nil {
				return err
			}
		}
		return nil
	},
}

func TestSamplesDecode(t *testing.T) {
	dirs, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		files, _ := filepath.Glob(filepath.Join(d.Name(), "*.json"))
		decode, ok := decoders[d.Name()]
		if !ok {
			if len(files) > 0 {
				t.Errorf("events/%s has samples but no decoder: add one to decoders in events/events_test.go", d.Name())
			}
			continue
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := decode(b); err != nil {
				t.Errorf("events/%s: %v", f, err)
			}
			n++
		}
	}
	for _, fn := range []string{"resolve", "lock", "start", "check", "finalize"} {
		if files, _ := filepath.Glob(filepath.Join(fn, "*.json")); len(files) == 0 {
			t.Errorf("events/%s has no sample payload", fn)
		}
	}
	if n == 0 {
		t.Fatal("no samples decoded")
	}
}

// TestStrictDecodingRejectsUnknownFields: a misspelled field is an error, not ignored.
func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	if err := decodeCall([]byte(`{"action":"check","job":{"id":"x","wiat":3}}`)); err == nil {
		t.Fatal("a misspelled job field decoded without error")
	}
}
