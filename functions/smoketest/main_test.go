package main

import (
	"context"
	"strings"
	"testing"
)

func TestBuild(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-1")
	env := map[string]string{"ROUTES_PARAMETER": "/greenlight/routes", "LEDGER_TABLE": "ledger"}
	h, err := build(context.Background(), func(k string) string { return env[k] })
	if err != nil || h == nil {
		t.Fatalf("build = %v, %v; want a handler", h, err)
	}
	delete(env, "LEDGER_TABLE")
	if _, err := build(context.Background(), func(k string) string { return env[k] }); err == nil || !strings.Contains(err.Error(), "LEDGER_TABLE is not set") {
		t.Fatalf("build without LEDGER_TABLE = %v; want an error naming it", err)
	}
}
