// Command finalize assembles a job's result (outcome, reason, evidence) and publishes it to
// the ledger, the SNS result topic and EventBridge.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/lambdamain"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/publish"
	"github.com/greenlight-deploy/greenlight/internal/workflow"
)

func main() { lambdamain.Run("finalize", build) }

func build(ctx context.Context, getenv func(string) string, log *slog.Logger) (func(context.Context, workflow.Call) (workflow.Job, error), error) {
	cfg, err := deploy.ConfigFromEnv(getenv, false)
	if err != nil {
		return nil, err
	}
	topic, bus := getenv(publish.ResultTopicEnv), getenv(publish.EventBusEnv)
	if topic == "" {
		return nil, fmt.Errorf("%s is not set: the template sets it to the result topic's ARN", publish.ResultTopicEnv)
	}
	if bus == "" {
		bus = "default"
	}
	awsCfg, err := awsenv.Load(ctx, getenv)
	if err != nil {
		return nil, err
	}
	p := &publish.Publisher{
		ECS:      ecs.NewFromConfig(awsCfg),
		Ledger:   ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable),
		SNS:      sns.NewFromConfig(awsCfg),
		Events:   eventbridge.NewFromConfig(awsCfg),
		TopicARN: topic,
		BusName:  bus,
		Log:      log,
		Metrics:  os.Stdout,
	}
	return func(ctx context.Context, c workflow.Call) (workflow.Job, error) {
		j, err := p.Handle(ctx, c)
		return j, workflow.Boundary(err)
	}, nil
}
