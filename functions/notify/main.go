// Command notify is the notifier Lambda: subscribed to the SNS result topic, it posts each
// deployment result to the route's chat channels and to the Amazon Q Developer topic
// (internal/notify does the work).
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/lambdamain"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/notify"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

func main() { lambdamain.Run("notify", build) }

// build reads the configuration, makes the clients (once per process: the HTTP client and
// the secret cache live across invocations) and returns the handler.
func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (func(context.Context, events.SNSEvent) error, error) {
	cfg, err := notify.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	n := &notify.Notifier{
		Routes:  routes.NewStore(ssm.NewFromConfig(awsCfg), cfg.RoutesParameter),
		Ledger:  ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable),
		Secrets: notify.NewSecrets(secretsmanager.NewFromConfig(awsCfg), notify.DefaultSecretTTL, nil),
		Poster:  notify.NewPoster(notify.PosterOptions{}),
		SNS:     sns.NewFromConfig(awsCfg),
		SQS:     sqs.NewFromConfig(awsCfg),
		Config:  cfg,
		Log:     log,
	}
	return n.Handle, nil
}
