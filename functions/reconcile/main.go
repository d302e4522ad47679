// Command reconcile runs on a schedule: it deploys pushes whose ECR event never arrived (the
// newest route-matching image of a service that greenlight never saw), once, through the
// deploy state machine. Invoked by hand it does one run and returns its summary.
package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/lambdamain"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/reconcile"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

func main() { lambdamain.Run("reconcile", build) }

// build wires the handler. The event (an EventBridge scheduled event, or {} by hand) carries
// nothing the run needs.
func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (func(context.Context, events.EventBridgeEvent) (reconcile.Summary, error), error) {
	cfg, err := reconcile.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	r := &reconcile.Reconciler{
		Routes:          routes.NewStore(ssm.NewFromConfig(awsCfg), cfg.RoutesParameter),
		ECR:             ecr.NewFromConfig(awsCfg),
		ECS:             ecs.NewFromConfig(awsCfg),
		SFN:             sfn.NewFromConfig(awsCfg),
		Ledger:          ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable),
		StateMachineARN: cfg.StateMachineARN,
		Grace:           cfg.Grace,
		Log:             log,
	}
	return func(ctx context.Context, _ events.EventBridgeEvent) (reconcile.Summary, error) {
		return r.Run(ctx)
	}, nil
}
