package notify

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// Environment variables the notifier reads (template.yaml sets them).
const (
	RoutesParameterEnv = "ROUTES_PARAMETER"
	LedgerTableEnv     = "LEDGER_TABLE"
	ChatTopicEnv       = "CHAT_TOPIC_ARN"
	DLQURLEnv          = "DLQ_URL"
	// ChatOutcomesEnv optionally lists the outcomes published to the Amazon Q Developer
	// topic (comma-separated); default every outcome but SKIPPED.
	ChatOutcomesEnv = "CHAT_TOPIC_OUTCOMES"
)

// AmazonQChannel is the ledger claim name of the Amazon Q Developer message.
const AmazonQChannel = routes.ReservedChannel

// Config is the notifier's configuration.
type Config struct {
	RoutesParameter string
	LedgerTable     string
	// ChatTopicARN is the Amazon Q Developer topic; empty turns that message off.
	ChatTopicARN string
	ChatOutcomes []string
	// DLQURL is the SQS queue that receives permanently failed deliveries.
	DLQURL string
}

// ConfigFromEnv reads and validates the configuration.
func ConfigFromEnv(getenv func(string) string) (Config, error) {
	c := Config{
		RoutesParameter: strings.TrimSpace(getenv(RoutesParameterEnv)),
		LedgerTable:     strings.TrimSpace(getenv(LedgerTableEnv)),
		ChatTopicARN:    strings.TrimSpace(getenv(ChatTopicEnv)),
		DLQURL:          strings.TrimSpace(getenv(DLQURLEnv)),
	}
	for _, o := range strings.Split(getenv(ChatOutcomesEnv), ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.ChatOutcomes = append(c.ChatOutcomes, strings.ToUpper(o))
		}
	}
	return c, c.Validate()
}

var topicARN = regexp.MustCompile(`^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_.-]+$`)

// Validate names every setting that is missing or malformed and how to fix it.
func (c Config) Validate() error {
	var errs []error
	if c.RoutesParameter == "" {
		errs = append(errs, fmt.Errorf("%s is not set: the template sets it to the routes parameter's name", RoutesParameterEnv))
	}
	if c.LedgerTable == "" {
		errs = append(errs, fmt.Errorf("%s is not set: the template sets it to the ledger table's name", LedgerTableEnv))
	}
	if c.DLQURL == "" {
		errs = append(errs, fmt.Errorf("%s is not set: the template sets it to NotifyDLQ's URL", DLQURLEnv))
	} else if u, err := url.Parse(c.DLQURL); err != nil || u.Host == "" {
		errs = append(errs, fmt.Errorf("%s=%q is not an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>)", DLQURLEnv, c.DLQURL))
	}
	if c.ChatTopicARN != "" && !topicARN.MatchString(c.ChatTopicARN) {
		errs = append(errs, fmt.Errorf("%s=%q is not an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>); leave it empty to send no Amazon Q Developer messages", ChatTopicEnv, c.ChatTopicARN))
	}
	for _, o := range c.ChatOutcomes {
		if !result.Outcome(o).Valid() {
			errs = append(errs, fmt.Errorf("%s: %q is not an outcome: use %s", ChatOutcomesEnv, o, outcomeNames()))
		}
	}
	return errors.Join(errs...)
}

func outcomeNames() string {
	s := make([]string, len(result.Outcomes))
	for i, o := range result.Outcomes {
		s[i] = string(o)
	}
	return strings.Join(s, ", ")
}

// Wants reports whether a channel with the outcome filter outcomes takes a result with
// outcome o: the listed outcomes, or every outcome but SKIPPED when none are listed.
func Wants(outcomes []string, o result.Outcome) bool {
	if len(outcomes) == 0 {
		return o != result.Skipped
	}
	for _, w := range outcomes {
		if strings.EqualFold(w, string(o)) {
			return true
		}
	}
	return false
}
