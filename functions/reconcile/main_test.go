package main

import (
	"context"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	env := map[string]string{"ROUTES_PARAMETER": "/greenlight/routes", "LEDGER_TABLE": "ledger",
		"STATE_MACHINE_ARN": "arn:aws:states:eu-west-1:111122223333:stateMachine:greenlight-deploy"}
	h, err := build(context.Background(), func(k string) string { return env[k] }, nil)
	if err != nil || h == nil {
		t.Fatalf("build: handler %t, error %v; want a handler", h != nil, err)
	}
	delete(env, "STATE_MACHINE_ARN")
	if _, err := build(context.Background(), func(k string) string { return env[k] }, nil); err == nil || !strings.Contains(err.Error(), "STATE_MACHINE_ARN is not set") {
		t.Fatalf("build without STATE_MACHINE_ARN = %v; want an error naming it", err)
	}
}
