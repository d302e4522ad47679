// Command lock serializes deployments per service: action "acquire" queues the job and takes
// the service's lock when it is the newest push (and reports a holder whose execution was
// stopped without a result); action "release" frees it.
package main

import (
	"context"
	"log/slog"
	"os"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/deploy"
	"github.com/greenlight-deploy/greenlight/internal/lambdamain"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/publish"
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
	tbl := ledger.New(dynamodb.NewFromConfig(awsCfg), cfg.LedgerTable)
	l := &deploy.Locker{
		Ledger: tbl,
		SFN:    sfn.NewFromConfig(awsCfg),
		Scale:  cfg.TimeScale,
		Poll:   cfg.Poll,
		Log:    log,
	}
	// A lock holder whose execution was stopped without a result is reported by the push
	// that takes its lock over, on the result topic like any result.
	if topic := getenv(publish.ResultTopicEnv); topic != "" {
		bus := getenv(publish.EventBusEnv)
		if bus == "" {
			bus = "default"
		}
		l.Publisher = &publish.Publisher{Ledger: tbl, SNS: sns.NewFromConfig(awsCfg), Events: eventbridge.NewFromConfig(awsCfg),
			TopicARN: topic, BusName: bus, Log: log, Metrics: os.Stdout}
	} else {
		log.WarnContext(ctx, publish.ResultTopicEnv+" is not set: a lock holder stopped without a result will not be reported (the template sets it)")
	}
	return func(ctx context.Context, c workflow.Call) (workflow.Job, error) {
		j, err := l.Handle(ctx, c)
		return j, workflow.Boundary(err)
	}, nil
}
