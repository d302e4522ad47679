package sampleapp

import (
	"log/slog"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromEnvDefaults(t *testing.T) {
	c, err := ConfigFromEnv(env(nil), Build{})
	if err != nil {
		t.Fatalf("ConfigFromEnv(empty) error: %v", err)
	}
	if c.Addr() != ":8080" {
		t.Errorf("Addr() = %q, want %q (every interface, port 8080)", c.Addr(), ":8080")
	}
	if c.Build.Version != "dev" || c.Build.Revision != "" {
		t.Errorf("Build = %+v, want version dev and no revision", c.Build)
	}
	if c.Faults != (Faults{}) {
		t.Errorf("Faults = %+v, want none", c.Faults)
	}
	if c.LogLevel != slog.LevelInfo || c.ShutdownTimeout != 10*time.Second {
		t.Errorf("LogLevel, ShutdownTimeout = %v, %v; want INFO, 10s", c.LogLevel, c.ShutdownTimeout)
	}
}

func TestConfigFromEnv(t *testing.T) {
	built := Build{Version: "v1.0.0", Revision: "abc123"}
	tests := []struct {
		name  string
		env   map[string]string
		check func(Config) bool
	}{
		{"ldflags build kept", nil, func(c Config) bool { return c.Build == built }},
		{"VERSION and REVISION override the build", map[string]string{"VERSION": "v2.0.0", "REVISION": "def456"},
			func(c Config) bool { return c.Build == Build{Version: "v2.0.0", Revision: "def456"} }},
		{"loopback alias host", map[string]string{"HOST": "127.0.0.3", "PORT": "8080"},
			func(c Config) bool { return c.Addr() == "127.0.0.3:8080" }},
		{"IPv6 host", map[string]string{"HOST": "::1", "PORT": "9000"},
			func(c Config) bool { return c.Addr() == "[::1]:9000" }},
		{"host name", map[string]string{"HOST": "localhost"}, func(c Config) bool { return c.Addr() == "localhost:8080" }},
		{"port 0 picks a free one", map[string]string{"PORT": "0"}, func(c Config) bool { return c.Port == 0 }},
		{"HEALTH_FAIL true", map[string]string{"HEALTH_FAIL": "true"}, func(c Config) bool { return c.Faults.HealthFail }},
		{"HEALTH_FAIL 1", map[string]string{"HEALTH_FAIL": "1"}, func(c Config) bool { return c.Faults.HealthFail }},
		{"HEALTH_FAIL off", map[string]string{"HEALTH_FAIL": "off"}, func(c Config) bool { return !c.Faults.HealthFail }},
		{"HEALTH_FAIL empty (a baked-in build arg left unset)", map[string]string{"HEALTH_FAIL": ""},
			func(c Config) bool { return c.Faults == Faults{} }},
		{"ERROR_RATE share", map[string]string{"ERROR_RATE": "0.25"}, func(c Config) bool { return c.Faults.ErrorRate == 0.25 }},
		{"ERROR_RATE percentage", map[string]string{"ERROR_RATE": "50%"}, func(c Config) bool { return c.Faults.ErrorRate == 0.5 }},
		{"ERROR_RATE all", map[string]string{"ERROR_RATE": "1"}, func(c Config) bool { return c.Faults.ErrorRate == 1 }},
		{"LATENCY_MS", map[string]string{"LATENCY_MS": "800"}, func(c Config) bool { return c.Faults.Latency == 800*time.Millisecond }},
		{"CRASH_AFTER", map[string]string{"CRASH_AFTER": "90s"}, func(c Config) bool { return c.Faults.CrashAfter == 90*time.Second }},
		{"LOG_LEVEL debug", map[string]string{"LOG_LEVEL": "debug"}, func(c Config) bool { return c.LogLevel == slog.LevelDebug }},
		{"SHUTDOWN_TIMEOUT", map[string]string{"SHUTDOWN_TIMEOUT": "25s"}, func(c Config) bool { return c.ShutdownTimeout == 25*time.Second }},
		{"surrounding spaces ignored", map[string]string{"ERROR_RATE": " 0.1 ", "PORT": " 9090 "},
			func(c Config) bool { return c.Faults.ErrorRate == 0.1 && c.Port == 9090 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ConfigFromEnv(env(tt.env), built)
			if err != nil {
				t.Fatalf("ConfigFromEnv(%v) error: %v", tt.env, err)
			}
			if !tt.check(c) {
				t.Errorf("ConfigFromEnv(%v) = %+v", tt.env, c)
			}
		})
	}
}

func TestConfigFromEnvRejects(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string // the message must name the variable and say what it accepts
	}{
		{map[string]string{"PORT": "http"}, `PORT="http": want a TCP port`},
		{map[string]string{"PORT": "70000"}, `PORT="70000"`},
		{map[string]string{"HOST": "not an address"}, `HOST="not an address": want an IP address`},
		{map[string]string{"HEALTH_FAIL": "maybe"}, `HEALTH_FAIL="maybe": want true or false`},
		{map[string]string{"ERROR_RATE": "1.5"}, `ERROR_RATE="1.5": want a share from 0 to 1`},
		{map[string]string{"ERROR_RATE": "150%"}, `ERROR_RATE="150%"`},
		{map[string]string{"ERROR_RATE": "-0.1"}, `ERROR_RATE="-0.1"`},
		{map[string]string{"ERROR_RATE": "NaN"}, `ERROR_RATE="NaN"`},
		{map[string]string{"ERROR_RATE": "half"}, `ERROR_RATE="half"`},
		{map[string]string{"LATENCY_MS": "1s"}, `LATENCY_MS="1s": want whole milliseconds`},
		{map[string]string{"LATENCY_MS": "-5"}, `LATENCY_MS="-5"`},
		{map[string]string{"LATENCY_MS": "600001"}, `LATENCY_MS="600001"`},
		{map[string]string{"CRASH_AFTER": "90"}, `CRASH_AFTER="90": want a positive Go duration`},
		{map[string]string{"CRASH_AFTER": "0s"}, `CRASH_AFTER="0s"`},
		{map[string]string{"LOG_LEVEL": "loud"}, `LOG_LEVEL="loud": want debug, info, warn or error`},
		{map[string]string{"SHUTDOWN_TIMEOUT": "soon"}, `SHUTDOWN_TIMEOUT="soon"`},
	}
	for _, tt := range tests {
		_, err := ConfigFromEnv(env(tt.env), Build{})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("ConfigFromEnv(%v) error = %v, want one containing %q", tt.env, err, tt.want)
		}
	}
}

func TestConfigFromEnvReportsEveryProblem(t *testing.T) {
	_, err := ConfigFromEnv(env(map[string]string{"PORT": "x", "ERROR_RATE": "y", "CRASH_AFTER": "z"}), Build{})
	if err == nil {
		t.Fatal("ConfigFromEnv with three bad values: no error")
	}
	for _, name := range []string{"PORT", "ERROR_RATE", "CRASH_AFTER"} {
		if !strings.Contains(err.Error(), name+"=") {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestFaultsLogValue(t *testing.T) {
	if got := (Faults{}).LogValue().Group(); len(got) != 0 {
		t.Errorf("healthy Faults log as %v, want an empty group", got)
	}
	got := Faults{HealthFail: true, ErrorRate: 0.5}.LogValue().String()
	if !strings.Contains(got, "health_fail=true") || !strings.Contains(got, "error_rate=0.5") || strings.Contains(got, "latency") {
		t.Errorf("Faults.LogValue() = %s, want only health_fail and error_rate", got)
	}
}
