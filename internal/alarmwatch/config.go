package alarmwatch

import (
	"fmt"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

// LedgerTableEnv names the ledger's DynamoDB table.
const LedgerTableEnv = "LEDGER_TABLE"

// Config is the watch function's configuration, from the environment template.yaml sets.
type Config struct {
	LedgerTable string
	TimeScale   workflow.TimeScale
}

// ConfigFromEnv reads and validates the configuration. GREENLIGHT_CLOUDWATCH_PROTOCOL is
// checked here too, so that a bad value fails the function's start, not its first call.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{LedgerTable: getenv(LedgerTableEnv)}
	scale, err := workflow.ParseTimeScale(getenv)
	if err != nil {
		return Config{}, err
	}
	c.TimeScale = scale
	if _, err := awsenv.CloudWatchOptions(getenv); err != nil {
		return Config{}, err
	}
	return c, c.Validate()
}

// Validate reports the first missing or wrong setting, naming the variable.
func (c Config) Validate() error {
	if c.LedgerTable == "" {
		return fmt.Errorf("%s is not set: the watch function needs the ledger table's name (template.yaml sets it)", LedgerTableEnv)
	}
	return nil
}
