// Command check makes one observation of a job's ECS service deployment: status, stage
// timeline, the next adaptive wait, the lock lease, and the route deadline.
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/lambdamain"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func main() { lambdamain.Run("check", build) }

func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (func(context.Context, workflow.Call) (workflow.Job, error), error) {
	cfg, err := deploy.ConfigFromEnv(getenv, false)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	c := &deploy.Checker{
		ECS:    ecs.NewFromConfig(awsCfg),
		Ledger: ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable),
		Scale:  cfg.TimeScale,
		Poll:   cfg.Poll,
		Log:    log,
	}
	return func(ctx context.Context, call workflow.Call) (workflow.Job, error) {
		j, err := c.Check(ctx, call.Job)
		return j, workflow.Boundary(err)
	}, nil
}
