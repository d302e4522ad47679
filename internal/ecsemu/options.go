package ecsemu

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
)

// DefaultTimeScale is the compression a new emulator uses: one emulated minute takes
// 0.6 s, so a 5-minute bake lasts 3 s.
const DefaultTimeScale = 0.01

// Options configures an Emulator. The zero value is a standalone emulator (no moto) with the
// default time scale; a useful one needs at least a Runner.
type Options struct {
	// Addr is where the ECS endpoint listens; default 127.0.0.1:0 (a free port).
	Addr string
	// Upstream is moto_server's URL (http://127.0.0.1:<port>). Every ECS operation the
	// emulator does not own is forwarded there unchanged, and CreateService/UpdateService are
	// forwarded before the emulator acts. Empty means standalone: the emulator keeps task
	// definitions and clusters itself and answers only the operations it owns plus
	// CreateCluster, RegisterTaskDefinition and DescribeTaskDefinition.
	Upstream string
	// AWS is the configuration for moto's CloudWatch, ELBv2 and Lambda, used to build the
	// clients below when they are nil. One emulator serves one moto account.
	AWS *aws.Config
	// CloudWatch publishes the load balancer's metrics and reads and sets alarm states.
	// Nil with AWS nil: no metrics are published and deployment alarms are not monitored.
	CloudWatch CloudWatchAPI
	// ELB reads target-group health checks and listener-rule weights, and receives the
	// weights the emulator sets (ModifyRule). Nil with AWS nil: TargetGroups and defaults.
	ELB ELBAPI
	// Invoker calls lifecycle-hook functions. Nil with AWS set: Lambda Invoke on moto.
	Invoker HookInvoker
	// Runner turns a container image into a local command. Required to run tasks.
	Runner Runner

	// TimeScale compresses emulated time (bake time, callBackDelay, health-check intervals,
	// alarm periods, hook timeouts, deregistration delay): wall = emulated × TimeScale.
	// Default DefaultTimeScale; 1 runs in real time.
	TimeScale float64
	// TargetGroups overrides the health check of target groups by ARN (a target group
	// moto does not know, or a faster check for tests).
	TargetGroups map[string]TargetGroupConfig
	// TaskAddressBase is the first loopback address given to a task (default 127.0.0.2).
	// Each task gets the next free address, as awsvpc tasks each get their own IP.
	TaskAddressBase string
	// ListenerAddrs fixes the address of a listener rule's proxy (rule ARN → host:port);
	// default 127.0.0.1:0.
	ListenerAddrs map[string]string
	// LogDir receives one log file per task (stdout and stderr); default a temporary
	// directory removed by Close.
	LogDir string
	// Logger receives the emulator's own logs (log/slog JSON in the rehearsal).
	Logger *slog.Logger
	// OnEvent is called for every stage, status, hook, task and alarm event (synchronously,
	// outside the emulator's lock; keep it fast).
	OnEvent func(Event)
	// AccountID and Region name the ARNs the emulator mints when moto does not supply them
	// (standalone mode); defaults 123456789012 and us-east-1.
	AccountID string
	Region    string
	// EvaluateAlarms names extra CloudWatch alarms to evaluate from the load balancer's
	// metrics (deployment alarms and alarms on the emulated load balancers' metrics are
	// evaluated anyway).
	EvaluateAlarms []string

	// Choices settles what reference/ecs-bluegreen.md leaves [UNCONFIRMED].
	Choices Choices

	// Throttle, when set, answers a share of the HTTP calls with ThrottlingException (a
	// fault injection; see Throttle). Nil: nothing is throttled.
	Throttle *Throttle
}

// FirstDeployment says how the deployment CreateService starts is run.
type FirstDeployment string

const (
	// FirstDeploymentDirect starts the first revision's tasks in the target group the
	// production rule forwards to, waits until they are healthy and ends SUCCESSFUL: no hooks,
	// no traffic shift, no bake. The default: the initial "blue".
	FirstDeploymentDirect FirstDeployment = "DIRECT"
	// FirstDeploymentBlueGreen runs the full blue/green lifecycle with no blue: hooks fire
	// (reference §2.5, last bullet) and the revision goes to the idle target group.
	FirstDeploymentBlueGreen FirstDeployment = "BLUE_GREEN"
)

// RollbackHooks says which traffic-shift hooks a rollback re-invokes.
type RollbackHooks string

const (
	// RollbackHooksAlways re-invokes the TEST_TRAFFIC_SHIFT and PRODUCTION_TRAFFIC_SHIFT
	// hooks on every rollback, whatever stage it started in (reference §2.4, read literally).
	RollbackHooksAlways RollbackHooks = "ALWAYS"
	// RollbackHooksShifted re-invokes only the hooks of the shift stages the deployment
	// reached.
	RollbackHooksShifted RollbackHooks = "SHIFTED"
)

// HookDetailsScope says which IN_PROGRESS responses' hookDetails an invocation carries.
type HookDetailsScope string

const (
	// HookDetailsPerDeployment merges every hookDetails the same hook returned earlier in the
	// same deployment, across stages (reference §2.1, read literally).
	HookDetailsPerDeployment HookDetailsScope = "DEPLOYMENT"
	// HookDetailsPerStage merges only those returned in the same stage execution.
	HookDetailsPerStage HookDetailsScope = "STAGE"
)

// Choices are the emulator's answers to what the reference marks [UNCONFIRMED]; each is
// listed in docs/emulator.md. The zero value selects the defaults.
type Choices struct {
	FirstDeployment  FirstDeployment
	RollbackHooks    RollbackHooks
	HookDetailsScope HookDetailsScope
	// AlarmsFrom is the first stage in which deployment alarms can roll back (reference
	// §5.3: the start is not documented). Default TEST_TRAFFIC_SHIFT, when green first
	// receives traffic; monitoring ends when BAKE_TIME ends.
	AlarmsFrom string
	// NoCircuitBreakerInBlueGreen makes the circuit breaker ignore blue/green deployments
	// (reference §5.4: whether it trips during SCALE_UP is not confirmed). Default: it trips.
	NoCircuitBreakerInBlueGreen bool
}

// TargetGroupConfig is a target group's health check in AWS units (seconds), before the
// time scale is applied.
type TargetGroupConfig struct {
	HealthCheckPath            string
	HealthCheckIntervalSeconds int
	HealthCheckTimeoutSeconds  int
	HealthyThresholdCount      int
	UnhealthyThresholdCount    int
	Matcher                    string
	// DeregistrationDelaySeconds bounds connection draining (ALB default 300).
	DeregistrationDelaySeconds int
}

// CloudWatchAPI is the part of the CloudWatch client the emulator uses.
type CloudWatchAPI interface {
	PutMetricData(ctx context.Context, in *cloudwatch.PutMetricDataInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.PutMetricDataOutput, error)
	DescribeAlarms(ctx context.Context, in *cloudwatch.DescribeAlarmsInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.DescribeAlarmsOutput, error)
	SetAlarmState(ctx context.Context, in *cloudwatch.SetAlarmStateInput, optFns ...func(*cloudwatch.Options)) (*cloudwatch.SetAlarmStateOutput, error)
}

// ELBAPI is the part of the ELBv2 client the emulator uses.
type ELBAPI interface {
	DescribeTargetGroups(ctx context.Context, in *elbv2.DescribeTargetGroupsInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeTargetGroupsOutput, error)
	DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
	ModifyRule(ctx context.Context, in *elbv2.ModifyRuleInput, optFns ...func(*elbv2.Options)) (*elbv2.ModifyRuleOutput, error)
}

// LambdaAPI is the part of the Lambda client the hook invoker uses.
type LambdaAPI interface {
	Invoke(ctx context.Context, in *lambda.InvokeInput, optFns ...func(*lambda.Options)) (*lambda.InvokeOutput, error)
}

func (o *Options) setDefaults() error {
	if o.TimeScale == 0 {
		o.TimeScale = DefaultTimeScale
	}
	if o.TimeScale < 0 || o.TimeScale > 1 || math.IsNaN(o.TimeScale) {
		return fmt.Errorf("ecsemu: TimeScale %v: want a number in (0, 1], e.g. 0.01", o.TimeScale)
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.TaskAddressBase == "" {
		o.TaskAddressBase = "127.0.0.2"
	}
	ip := net.ParseIP(o.TaskAddressBase).To4()
	if ip == nil || ip[0] != 127 || (ip[1] == 0 && ip[2] == 0 && ip[3] <= 1) {
		return fmt.Errorf("ecsemu: TaskAddressBase %q: want a loopback address above 127.0.0.1, e.g. 127.0.0.2", o.TaskAddressBase)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if o.Region == "" {
		o.Region = "us-east-1"
		if o.AWS != nil && o.AWS.Region != "" {
			o.Region = o.AWS.Region
		}
	}
	o.Upstream = strings.TrimRight(o.Upstream, "/")
	if err := o.Throttle.validate(); err != nil {
		return err
	}
	c := &o.Choices
	if c.FirstDeployment == "" {
		c.FirstDeployment = FirstDeploymentDirect
	}
	if c.RollbackHooks == "" {
		c.RollbackHooks = RollbackHooksAlways
	}
	if c.HookDetailsScope == "" {
		c.HookDetailsScope = HookDetailsPerDeployment
	}
	if c.AlarmsFrom == "" {
		c.AlarmsFrom = StageTestTrafficShift
	}
	if stageIndex(c.AlarmsFrom) < 0 {
		return fmt.Errorf("ecsemu: Choices.AlarmsFrom %q is not a lifecycle stage (one of %s)", c.AlarmsFrom, strings.Join(stageOrder, ", "))
	}
	switch c.FirstDeployment {
	case FirstDeploymentDirect, FirstDeploymentBlueGreen:
	default:
		return fmt.Errorf("ecsemu: Choices.FirstDeployment %q: use %q or %q", c.FirstDeployment, FirstDeploymentDirect, FirstDeploymentBlueGreen)
	}
	switch c.RollbackHooks {
	case RollbackHooksAlways, RollbackHooksShifted:
	default:
		return fmt.Errorf("ecsemu: Choices.RollbackHooks %q: use %q or %q", c.RollbackHooks, RollbackHooksAlways, RollbackHooksShifted)
	}
	switch c.HookDetailsScope {
	case HookDetailsPerDeployment, HookDetailsPerStage:
	default:
		return fmt.Errorf("ecsemu: Choices.HookDetailsScope %q: use %q or %q", c.HookDetailsScope, HookDetailsPerDeployment, HookDetailsPerStage)
	}
	return nil
}

// scale converts an emulated duration to wall-clock time (never below a millisecond).
func (e *Emulator) scale(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	out := time.Duration(float64(d) * e.opts.TimeScale)
	if out < time.Millisecond {
		out = time.Millisecond
	}
	return out
}

// emulated converts a wall-clock duration back to emulated time.
func (e *Emulator) emulated(d time.Duration) time.Duration {
	return time.Duration(float64(d) / e.opts.TimeScale)
}
