// Command start deploys a job's image: it clones the service's current task definition with
// the image pinned by digest, calls UpdateService with the task definition only, and finds
// the ECS service deployment that started.
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

func main() { lambdamain.Run("start", build) }

func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (func(context.Context, workflow.Call) (workflow.Job, error), error) {
	cfg, err := deploy.ConfigFromEnv(getenv, false)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	s := &deploy.Starter{
		ECS:    ecs.NewFromConfig(awsCfg),
		Ledger: ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable),
		Scale:  cfg.TimeScale,
		Poll:   cfg.Poll,
		Log:    log,
	}
	return func(ctx context.Context, c workflow.Call) (workflow.Job, error) {
		j, err := s.Start(ctx, c.Job)
		return j, workflow.Boundary(err)
	}, nil
}
