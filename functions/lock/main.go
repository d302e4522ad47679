// Command lock serializes deployments per service: action "acquire" queues the job and takes
// the service's lock when it is the newest push; action "release" frees it.
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sfn"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/lambdamain"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func main() { lambdamain.Run("lock", build) }

func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (func(context.Context, workflow.Call) (workflow.Job, error), error) {
	cfg, err := deploy.ConfigFromEnv(getenv, false)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	l := &deploy.Locker{
		Ledger: ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable),
		SFN:    sfn.NewFromConfig(awsCfg),
		Scale:  cfg.TimeScale,
		Poll:   cfg.Poll,
		Log:    log,
	}
	return func(ctx context.Context, c workflow.Call) (workflow.Job, error) {
		j, err := l.Handle(ctx, c)
		return j, workflow.Boundary(err)
	}, nil
}
