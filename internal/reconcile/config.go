package reconcile

import (
	"fmt"
	"strconv"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// Environment variables the reconcile function reads (set by template.yaml), besides
// LEDGER_TABLE, ROUTES_PARAMETER and GREENLIGHT_TIME_SCALE.
const (
	StateMachineARNEnv = "STATE_MACHINE_ARN"
	GraceMinutesEnv    = "RECONCILE_GRACE_MINUTES"
)

// DefaultGraceMinutes is the grace period when RECONCILE_GRACE_MINUTES is unset.
const DefaultGraceMinutes = 5

// Config is what the reconcile function needs from its environment.
type Config struct {
	LedgerTable     string
	RoutesParameter string
	StateMachineARN string
	// Grace is the grace period, already scaled by the time scale.
	Grace     time.Duration
	TimeScale workflow.TimeScale
}

// ConfigFromEnv reads Config with getenv (os.Getenv outside tests) and validates it.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		LedgerTable:     getenv(deploy.LedgerTableEnv),
		RoutesParameter: getenv(deploy.RoutesParameterEnv),
		StateMachineARN: getenv(StateMachineARNEnv),
	}
	var err error
	if c.TimeScale, err = workflow.ParseTimeScale(getenv); err != nil {
		return c, err
	}
	minutes := DefaultGraceMinutes
	if v := getenv(GraceMinutesEnv); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 24*60 {
			return c, fmt.Errorf("%s=%q: want a whole number of minutes from 0 to 1440", GraceMinutesEnv, v)
		}
		minutes = n
	}
	c.Grace = c.TimeScale.Apply(time.Duration(minutes) * time.Minute)
	return c, c.Validate()
}

// Validate names the first missing or wrong setting and how to fix it.
func (c Config) Validate() error {
	switch {
	case c.LedgerTable == "":
		return fmt.Errorf("%s is not set: the template sets it to the ledger table's name", deploy.LedgerTableEnv)
	case c.RoutesParameter == "":
		return fmt.Errorf("%s is not set: the template sets it to the routes SSM parameter's name", deploy.RoutesParameterEnv)
	case c.StateMachineARN == "":
		return fmt.Errorf("%s is not set: the template sets it to the deploy state machine's ARN", StateMachineARNEnv)
	}
	if _, err := ExecutionARN(c.StateMachineARN, "x"); err != nil {
		return fmt.Errorf("%s: %v", StateMachineARNEnv, err)
	}
	return nil
}
