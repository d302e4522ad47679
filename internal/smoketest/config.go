package smoketest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// Environment variables the function reads (template.yaml sets them).
const (
	RoutesParameterEnv = "ROUTES_PARAMETER"
	LedgerTableEnv     = "LEDGER_TABLE"
)

// Config is the smoke-test function's configuration.
type Config struct {
	// RoutesParameter is the SSM parameter holding the routes document.
	RoutesParameter string
	// LedgerTable is the DynamoDB table evidence is written to.
	LedgerTable string
	// TimeScale compresses patience, callBackDelay and retry intervals (tests, rehearsal).
	TimeScale workflow.TimeScale
}

// ConfigFromEnv reads the configuration with getenv (os.Getenv outside tests) and
// validates it.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		RoutesParameter: strings.TrimSpace(getenv(RoutesParameterEnv)),
		LedgerTable:     strings.TrimSpace(getenv(LedgerTableEnv)),
	}
	ts, err := workflow.ParseTimeScale(getenv)
	if err != nil {
		return c, err
	}
	c.TimeScale = ts
	return c, c.Validate()
}

// Validate reports every missing or malformed setting, naming the variable.
func (c Config) Validate() error {
	var errs []error
	if c.RoutesParameter == "" {
		errs = append(errs, fmt.Errorf("%s is not set: the SSM parameter name of the routes document (e.g. /greenlight/routes)", RoutesParameterEnv))
	}
	if c.LedgerTable == "" {
		errs = append(errs, fmt.Errorf("%s is not set: the ledger DynamoDB table name", LedgerTableEnv))
	}
	if c.TimeScale < 0 || c.TimeScale > 1 {
		errs = append(errs, fmt.Errorf("%s=%v: want a number in (0, 1]", workflow.TimeScaleEnv, float64(c.TimeScale)))
	}
	return errors.Join(errs...)
}
