package smoketest

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
)

func TestConfigFromEnv(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := ConfigFromEnv(env(map[string]string{"ROUTES_PARAMETER": "/greenlight/routes", "LEDGER_TABLE": "ledger", "GREENLIGHT_TIME_SCALE": "0.01"}))
	if err != nil || c.RoutesParameter != "/greenlight/routes" || c.LedgerTable != "ledger" || c.TimeScale != 0.01 {
		t.Fatalf("ConfigFromEnv = %+v, %v", c, err)
	}
	_, err = ConfigFromEnv(env(nil))
	if err == nil || !strings.Contains(err.Error(), "ROUTES_PARAMETER is not set") || !strings.Contains(err.Error(), "LEDGER_TABLE is not set") {
		t.Fatalf("ConfigFromEnv(empty) = %v; want both variables named", err)
	}
	if _, err := ConfigFromEnv(env(map[string]string{"ROUTES_PARAMETER": "p", "LEDGER_TABLE": "t", "GREENLIGHT_TIME_SCALE": "2"})); err == nil || !strings.Contains(err.Error(), "GREENLIGHT_TIME_SCALE") {
		t.Fatalf("ConfigFromEnv(scale 2) = %v; want an error naming GREENLIGHT_TIME_SCALE", err)
	}
}

func TestMisconfiguredFailsChecksButNotRollbacks(t *testing.T) {
	h := Misconfigured(errString("LEDGER_TABLE is not set: the ledger DynamoDB table name"), slog.New(slog.DiscardHandler))
	raw, _ := json.Marshal(event(StagePostScaleUp, ""))
	r, err := h.Handle(t.Context(), raw)
	if err != nil || r.HookStatus != Failed || r.Reason != "greenlight's smoke-test function is misconfigured: LEDGER_TABLE is not set: the ledger DynamoDB table name" {
		t.Fatalf("Handle = %+v, %v", r, err)
	}
	raw, _ = json.Marshal(event("PRE_SCALE_UP", ""))
	if r, _ := h.Handle(t.Context(), raw); r.HookStatus != Succeeded {
		t.Fatalf("unchecked stage = %+v; want SUCCEEDED", r)
	}
}

type errString string

func (e errString) Error() string { return string(e) }
