package reconcile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/reconcile"
)

func TestConfigFromEnv(t *testing.T) {
	base := map[string]string{
		"LEDGER_TABLE": "ledger", "ROUTES_PARAMETER": "/greenlight/routes",
		"STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:111122223333:stateMachine:greenlight-deploy",
	}
	tests := []struct {
		name    string
		set     map[string]string
		grace   time.Duration
		wantErr string
	}{
		{"defaults", nil, 5 * time.Minute, ""},
		{"grace off", map[string]string{"RECONCILE_GRACE_MINUTES": "0"}, 0, ""},
		{"grace scaled for tests", map[string]string{"RECONCILE_GRACE_MINUTES": "10", "GREENLIGHT_TIME_SCALE": "0.01"}, 6 * time.Second, ""},
		{"grace not a number", map[string]string{"RECONCILE_GRACE_MINUTES": "5m"}, 0, "RECONCILE_GRACE_MINUTES"},
		{"grace too long", map[string]string{"RECONCILE_GRACE_MINUTES": "2000"}, 0, "0 to 1440"},
		{"no state machine", map[string]string{"STATE_MACHINE_ARN": ""}, 0, "STATE_MACHINE_ARN is not set"},
		{"state machine by name", map[string]string{"STATE_MACHINE_ARN": "greenlight-deploy"}, 0, "not a state machine ARN"},
		{"no ledger", map[string]string{"LEDGER_TABLE": ""}, 0, "LEDGER_TABLE"},
		{"no routes", map[string]string{"ROUTES_PARAMETER": ""}, 0, "ROUTES_PARAMETER"},
	}
	for _, tt := range tests {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tt.set {
			env[k] = v
		}
		c, err := reconcile.ConfigFromEnv(func(k string) string { return env[k] })
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: ConfigFromEnv error = %v; want one naming %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || c.Grace != tt.grace || c.LedgerTable != "ledger" {
			t.Errorf("%s: ConfigFromEnv = %+v, %v; want grace %s", tt.name, c, err, tt.grace)
		}
	}
}
