// Command smoketest is greenlight's ECS lifecycle hook Lambda (internal/smoketest): it checks
// green at POST_SCALE_UP and POST_TEST_TRAFFIC_SHIFT and answers SUCCEEDED, FAILED or
// IN_PROGRESS. It only wires configuration, clients and the handler.
package main

import (
	"context"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/smoketest"
)

func main() {
	logger := lambdacontext.NewLogger()
	h, err := build(context.Background(), os.Getenv)
	if err != nil {
		// Still answer every call: FAILED with this error (rollbacks and unchecked stages
		// pass), which ECS shows far better than a function that cannot initialise.
		logger.Error("smoke-test function misconfigured", "error", err.Error())
		h = smoketest.Misconfigured(err, logger)
	}
	lambda.Start(h.Handle)
}

func build(ctx context.Context, getenv func(string) string) (*smoketest.Handler, error) {
	cfg, err := smoketest.ConfigFromEnv(getenv)
	if err != nil {
		return nil, err
	}
	awsCfg, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	return smoketest.New(cfg, smoketest.Deps{
		ECS:      ecs.NewFromConfig(awsCfg),
		ELB:      elbv2.NewFromConfig(awsCfg),
		Routes:   routes.NewStore(ssm.NewFromConfig(awsCfg), cfg.RoutesParameter),
		Evidence: ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable),
		Logger:   lambdacontext.NewLogger(),
	}), nil
}
