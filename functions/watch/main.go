// Command watch is the alarm watch Lambda: preflight before UpdateService, an in-deployment
// check after every poll (rolling back once when an alarm fires) and the post-deploy watch
// after SUCCESSFUL. The logic is internal/alarmwatch; this file only wires it.
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"

	"github.com/greenlight-deploy/greenlight/internal/alarmwatch"
	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/lambdamain"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func main() { lambdamain.Run("watch", build) }

// build returns the handler: func(ctx, workflow.Call) (workflow.Job, error), errors through
// workflow.Boundary.
func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (func(context.Context, workflow.Call) (workflow.Job, error), error) {
	cfg, err := alarmwatch.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	cw, err := awsenv.CloudWatch(awsCfg, getenv)
	if err != nil {
		return nil, err
	}
	w := alarmwatch.New(cw, ecs.NewFromConfig(awsCfg), ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable),
		alarmwatch.Options{TimeScale: cfg.TimeScale, Logger: log})
	return w.Handle, nil
}
