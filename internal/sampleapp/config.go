package sampleapp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"
)

// Environment variables the service reads at start.
const (
	EnvHost            = "HOST"
	EnvPort            = "PORT"
	EnvVersion         = "VERSION"
	EnvRevision        = "REVISION"
	EnvHealthFail      = "HEALTH_FAIL"
	EnvErrorRate       = "ERROR_RATE"
	EnvLatencyMs       = "LATENCY_MS"
	EnvCrashAfter      = "CRASH_AFTER"
	EnvLogLevel        = "LOG_LEVEL"
	EnvShutdownTimeout = "SHUTDOWN_TIMEOUT"
)

// Defaults.
const (
	DefaultPort            = 8080
	DefaultVersion         = "dev"
	DefaultShutdownTimeout = 10 * time.Second
	// MaxLatency bounds LATENCY_MS: longer than any health-check or smoke-test timeout
	// already, so anything above it is a typo.
	MaxLatency = 10 * time.Minute
)

// Build identifies the code a process runs: set at build time with -ldflags and
// overridable at run time with VERSION and REVISION.
type Build struct {
	Version  string `json:"version"`
	Revision string `json:"revision"`
}

// Faults are the switches for rehearsing rollbacks. The zero value is a healthy service.
type Faults struct {
	// HealthFail makes GET /health answer 500, so ALB health checks fail.
	HealthFail bool
	// ErrorRate is the share (0..1) of GET / requests answered 500.
	ErrorRate float64
	// Latency is added to every request before it is answered.
	Latency time.Duration
	// CrashAfter ends the process with an error this long after it starts listening.
	CrashAfter time.Duration
}

// LogValue lists only the faults that are on, so a healthy start logs "faults":{}.
func (f Faults) LogValue() slog.Value {
	var attrs []slog.Attr
	if f.HealthFail {
		attrs = append(attrs, slog.Bool("health_fail", true))
	}
	if f.ErrorRate > 0 {
		attrs = append(attrs, slog.Float64("error_rate", f.ErrorRate))
	}
	if f.Latency > 0 {
		attrs = append(attrs, slog.Int64("latency_ms", f.Latency.Milliseconds()))
	}
	if f.CrashAfter > 0 {
		attrs = append(attrs, slog.String("crash_after", f.CrashAfter.String()))
	}
	return slog.GroupValue(attrs...)
}

// Config is everything the service reads at start.
type Config struct {
	// Host is the bind address; empty means every interface. The rehearsal gives each
	// task its own loopback address (127.0.0.2, 127.0.0.3 …) with the same port, as awsvpc
	// tasks each have their own IP.
	Host string
	// Port is the TCP port; 0 picks a free one (tests).
	Port  int
	Build Build
	// Hostname is reported by GET /; on Fargate it names the task's ENI.
	Hostname        string
	Faults          Faults
	LogLevel        slog.Level
	ShutdownTimeout time.Duration
}

// Addr is the address to listen on, host:port.
func (c Config) Addr() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.Port)) }

// ConfigFromEnv reads the configuration from getenv (os.Getenv outside tests). built is
// what the binary was built with; VERSION and REVISION override it. Every bad value is
// reported, each naming its variable and what it accepts.
func ConfigFromEnv(getenv func(string) string, built Build) (Config, error) {
	c := Config{
		Host:            strings.TrimSpace(getenv(EnvHost)),
		Port:            DefaultPort,
		Build:           built,
		LogLevel:        slog.LevelInfo,
		ShutdownTimeout: DefaultShutdownTimeout,
	}
	if v := strings.TrimSpace(getenv(EnvVersion)); v != "" {
		c.Build.Version = v
	}
	if v := strings.TrimSpace(getenv(EnvRevision)); v != "" {
		c.Build.Revision = v
	}
	if c.Build.Version == "" {
		c.Build.Version = DefaultVersion
	}

	var errs []error
	bad := func(name, value, want string) {
		errs = append(errs, fmt.Errorf("%s=%q: %s", name, value, want))
	}
	if c.Host != "" && net.ParseIP(strings.Trim(c.Host, "[]")) == nil && !validHostname(c.Host) {
		bad(EnvHost, c.Host, "want an IP address such as 127.0.0.2 or a host name, or leave it empty for every interface")
	}
	if v := strings.TrimSpace(getenv(EnvPort)); v != "" {
		p, err := strconv.Atoi(v)
		if err != nil || p < 0 || p > 65535 {
			bad(EnvPort, v, "want a TCP port from 1 to 65535 (0 picks a free one)")
		} else {
			c.Port = p
		}
	}
	if v := strings.TrimSpace(getenv(EnvHealthFail)); v != "" {
		b, ok := parseSwitch(v)
		if !ok {
			bad(EnvHealthFail, v, "want true or false (also 1/0, yes/no, on/off)")
		}
		c.Faults.HealthFail = b
	}
	if v := strings.TrimSpace(getenv(EnvErrorRate)); v != "" {
		r, err := parseShare(v)
		if err != nil {
			bad(EnvErrorRate, v, "want a share from 0 to 1 such as 0.25, or a percentage such as 25%")
		}
		c.Faults.ErrorRate = r
	}
	if v := strings.TrimSpace(getenv(EnvLatencyMs)); v != "" {
		ms, err := strconv.Atoi(v)
		if err != nil || ms < 0 || time.Duration(ms)*time.Millisecond > MaxLatency {
			bad(EnvLatencyMs, v, fmt.Sprintf("want whole milliseconds from 0 to %d, such as 800", MaxLatency.Milliseconds()))
		} else {
			c.Faults.Latency = time.Duration(ms) * time.Millisecond
		}
	}
	if v := strings.TrimSpace(getenv(EnvCrashAfter)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			bad(EnvCrashAfter, v, "want a positive Go duration such as 90s or 5m")
		} else {
			c.Faults.CrashAfter = d
		}
	}
	if v := strings.TrimSpace(getenv(EnvLogLevel)); v != "" {
		if err := c.LogLevel.UnmarshalText([]byte(v)); err != nil {
			bad(EnvLogLevel, v, "want debug, info, warn or error")
		}
	}
	if v := strings.TrimSpace(getenv(EnvShutdownTimeout)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			bad(EnvShutdownTimeout, v, "want a Go duration such as 10s (ECS sends SIGKILL 30s after SIGTERM by default)")
		} else {
			c.ShutdownTimeout = d
		}
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("sample app configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// parseSwitch reads a boolean environment switch.
func parseSwitch(v string) (on, ok bool) {
	switch strings.ToLower(v) {
	case "1", "t", "true", "yes", "y", "on":
		return true, true
	case "0", "f", "false", "no", "n", "off":
		return false, true
	}
	return false, false
}

// parseShare reads "0.25" or "25%" as 0.25.
func parseShare(v string) (float64, error) {
	pct := strings.HasSuffix(v, "%")
	f, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(v, "%")), 64)
	if err != nil {
		return 0, err
	}
	if pct {
		f /= 100
	}
	if f < 0 || f > 1 || f != f { // f != f: NaN
		return 0, fmt.Errorf("%v is outside 0..1", f)
	}
	return f, nil
}

// validHostname accepts DNS names such as "localhost" or "app.internal".
func validHostname(h string) bool {
	if len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}
