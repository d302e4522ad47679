package deploy

import (
	"fmt"
	"strconv"

	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// Environment variables the deploy functions read (set by template.yaml).
const (
	LedgerTableEnv     = "LEDGER_TABLE"
	RoutesParameterEnv = "ROUTES_PARAMETER"
)

// Config is what the deploy-path Lambdas need from their environment.
type Config struct {
	LedgerTable     string
	RoutesParameter string
	TimeScale       workflow.TimeScale
	Poll            PollBounds
}

// ConfigFromEnv reads Config with getenv (os.Getenv outside tests) and validates it.
// needRoutes says whether ROUTES_PARAMETER is required (resolve only).
func ConfigFromEnv(getenv func(string) string, needRoutes bool) (Config, error) {
	c := Config{LedgerTable: getenv(LedgerTableEnv), RoutesParameter: getenv(RoutesParameterEnv)}
	var err error
	if c.TimeScale, err = workflow.ParseTimeScale(getenv); err != nil {
		return c, err
	}
	if c.Poll.Min, err = intEnv(getenv, PollMinEnv, DefaultPollMinSeconds); err != nil {
		return c, err
	}
	if c.Poll.Max, err = intEnv(getenv, PollMaxEnv, DefaultPollMaxSeconds); err != nil {
		return c, err
	}
	return c, c.Validate(needRoutes)
}

// Validate names the first missing or inconsistent setting and how to fix it.
func (c Config) Validate(needRoutes bool) error {
	if c.LedgerTable == "" {
		return fmt.Errorf("%s is not set: the template sets it to the ledger table's name", LedgerTableEnv)
	}
	if needRoutes && c.RoutesParameter == "" {
		return fmt.Errorf("%s is not set: the template sets it to the routes SSM parameter's name", RoutesParameterEnv)
	}
	if c.Poll.Min < 1 || c.Poll.Max < c.Poll.Min || c.Poll.Max > 3600 {
		return fmt.Errorf("%s=%d and %s=%d: want 1 <= min <= max <= 3600", PollMinEnv, c.Poll.Min, PollMaxEnv, c.Poll.Max)
	}
	return nil
}

func intEnv(getenv func(string) string, name string, def int) (int, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a whole number of seconds", name, v)
	}
	return n, nil
}
