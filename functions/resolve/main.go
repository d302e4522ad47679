// Command resolve is the state machine's first step: it turns an ECR push event (or a
// {"request": …}) into one job per routed ECS service, deduplicating digests per service.
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/lambdamain"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func main() { lambdamain.Run("resolve", build) }

func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (func(context.Context, deploy.ResolveInput) (workflow.Plan, error), error) {
	cfg, err := deploy.ConfigFromEnv(getenv, true)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	r := &deploy.Resolver{
		Routes: routes.NewStore(ssm.NewFromConfig(awsCfg), cfg.RoutesParameter),
		Ledger: ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable),
		Log:    log,
	}
	return func(ctx context.Context, in deploy.ResolveInput) (workflow.Plan, error) {
		p, err := r.Resolve(ctx, in)
		return p, workflow.Boundary(err)
	}, nil
}
