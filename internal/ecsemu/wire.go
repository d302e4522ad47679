package ecsemu

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// The ECS JSON 1.1 wire shapes the emulator reads and writes. Field names and types follow
// github.com/aws/aws-sdk-go-v2/service/ecs@v1.105.1 (schemas/schemas.go): the SDK must
// deserialize every response. Timestamps are epoch seconds (awsJson1_1 default).

// epoch is a timestamp on the wire: epoch seconds with millisecond precision.
type epoch time.Time

func (t epoch) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(time.Time(t).UnixMilli())/1000, 'f', 3, 64)), nil
}

func (t *epoch) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(bytes.Trim(b, `"`)), 64)
	if err != nil {
		return fmt.Errorf("timestamp %s: want epoch seconds", b)
	}
	sec, frac := math.Modf(f)
	*t = epoch(time.Unix(int64(sec), int64(frac*1e9)))
	return nil
}

func ts(t time.Time) *epoch {
	if t.IsZero() {
		return nil
	}
	e := epoch(t)
	return &e
}

func strp(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// --- service configuration (CreateService / UpdateService input, DescribeServices output)

type deploymentConfiguration struct {
	Strategy                 string                `json:"strategy,omitempty"`
	BakeTimeInMinutes        *int                  `json:"bakeTimeInMinutes,omitempty"`
	LifecycleHooks           []lifecycleHook       `json:"lifecycleHooks,omitempty"`
	Alarms                   *deploymentAlarms     `json:"alarms,omitempty"`
	DeploymentCircuitBreaker *circuitBreakerConfig `json:"deploymentCircuitBreaker,omitempty"`
	MaximumPercent           *int                  `json:"maximumPercent,omitempty"`
	MinimumHealthyPercent    *int                  `json:"minimumHealthyPercent,omitempty"`
	LinearConfiguration      *linearConfiguration  `json:"linearConfiguration,omitempty"`
	CanaryConfiguration      *canaryConfiguration  `json:"canaryConfiguration,omitempty"`
}

// linearConfiguration and canaryConfiguration: reference §1.1.
type linearConfiguration struct {
	StepPercent           *float64 `json:"stepPercent,omitempty"`
	StepBakeTimeInMinutes *int     `json:"stepBakeTimeInMinutes,omitempty"`
}

type canaryConfiguration struct {
	CanaryPercent           *float64 `json:"canaryPercent,omitempty"`
	CanaryBakeTimeInMinutes *int     `json:"canaryBakeTimeInMinutes,omitempty"`
}

type lifecycleHook struct {
	TargetType           string          `json:"targetType,omitempty"`
	HookTargetArn        string          `json:"hookTargetArn,omitempty"`
	RoleArn              string          `json:"roleArn,omitempty"`
	LifecycleStages      []string        `json:"lifecycleStages,omitempty"`
	HookDetails          json.RawMessage `json:"hookDetails,omitempty"`
	TimeoutConfiguration *hookTimeout    `json:"timeoutConfiguration,omitempty"`
}

type hookTimeout struct {
	TimeoutInMinutes *int   `json:"timeoutInMinutes,omitempty"`
	Action           string `json:"action,omitempty"`
}

type deploymentAlarms struct {
	AlarmNames []string `json:"alarmNames"`
	Enable     bool     `json:"enable"`
	Rollback   bool     `json:"rollback"`
}

type circuitBreakerConfig struct {
	Enable                 bool                 `json:"enable"`
	Rollback               bool                 `json:"rollback"`
	ResetOnHealthyTask     *bool                `json:"resetOnHealthyTask,omitempty"`
	ThresholdConfiguration *thresholdConfigWire `json:"thresholdConfiguration,omitempty"`
}

type thresholdConfigWire struct {
	Type  string `json:"type,omitempty"`
	Value *int   `json:"value,omitempty"`
}

type loadBalancerWire struct {
	TargetGroupArn        string                 `json:"targetGroupArn,omitempty"`
	LoadBalancerName      string                 `json:"loadBalancerName,omitempty"`
	ContainerName         string                 `json:"containerName,omitempty"`
	ContainerPort         *int                   `json:"containerPort,omitempty"`
	AdvancedConfiguration *advancedConfiguration `json:"advancedConfiguration,omitempty"`
}

type advancedConfiguration struct {
	AlternateTargetGroupArn string `json:"alternateTargetGroupArn,omitempty"`
	ProductionListenerRule  string `json:"productionListenerRule,omitempty"`
	TestListenerRule        string `json:"testListenerRule,omitempty"`
	RoleArn                 string `json:"roleArn,omitempty"`
}

type networkConfiguration struct {
	AwsvpcConfiguration *struct {
		Subnets        []string `json:"subnets,omitempty"`
		SecurityGroups []string `json:"securityGroups,omitempty"`
		AssignPublicIp string   `json:"assignPublicIp,omitempty"`
	} `json:"awsvpcConfiguration,omitempty"`
}

type createServiceInput struct {
	Cluster                       string          `json:"cluster"`
	ServiceName                   string          `json:"serviceName"`
	TaskDefinition                string          `json:"taskDefinition"`
	DesiredCount                  *int            `json:"desiredCount"`
	LaunchType                    string          `json:"launchType"`
	PlatformVersion               string          `json:"platformVersion"`
	HealthCheckGracePeriodSeconds *int            `json:"healthCheckGracePeriodSeconds"`
	DeploymentController          json.RawMessage `json:"deploymentController"`
	DeploymentConfiguration       json.RawMessage `json:"deploymentConfiguration"`
	LoadBalancers                 json.RawMessage `json:"loadBalancers"`
	NetworkConfiguration          json.RawMessage `json:"networkConfiguration"`
}

type updateServiceInput struct {
	Cluster                       string          `json:"cluster"`
	Service                       string          `json:"service"`
	TaskDefinition                string          `json:"taskDefinition"`
	DesiredCount                  *int            `json:"desiredCount"`
	ForceNewDeployment            bool            `json:"forceNewDeployment"`
	HealthCheckGracePeriodSeconds *int            `json:"healthCheckGracePeriodSeconds"`
	DeploymentController          json.RawMessage `json:"deploymentController"`
	DeploymentConfiguration       json.RawMessage `json:"deploymentConfiguration"`
	LoadBalancers                 json.RawMessage `json:"loadBalancers"`
	NetworkConfiguration          json.RawMessage `json:"networkConfiguration"`
}

type deploymentWire struct {
	ID                   string          `json:"id"`
	Status               string          `json:"status"`
	TaskDefinition       string          `json:"taskDefinition"`
	DesiredCount         int             `json:"desiredCount"`
	PendingCount         int             `json:"pendingCount"`
	RunningCount         int             `json:"runningCount"`
	FailedTasks          int             `json:"failedTasks"`
	CreatedAt            *epoch          `json:"createdAt,omitempty"`
	UpdatedAt            *epoch          `json:"updatedAt,omitempty"`
	LaunchType           string          `json:"launchType,omitempty"`
	NetworkConfiguration json.RawMessage `json:"networkConfiguration,omitempty"`
	RolloutState         string          `json:"rolloutState,omitempty"`
	RolloutStateReason   string          `json:"rolloutStateReason,omitempty"`
}

// --- service deployments and revisions

type serviceRevisionSummary struct {
	Arn                              string   `json:"arn"`
	RequestedTaskCount               int      `json:"requestedTaskCount"`
	RunningTaskCount                 int      `json:"runningTaskCount"`
	PendingTaskCount                 int      `json:"pendingTaskCount"`
	RequestedTestTrafficWeight       *float64 `json:"requestedTestTrafficWeight,omitempty"`
	RequestedProductionTrafficWeight *float64 `json:"requestedProductionTrafficWeight,omitempty"`
}

type rollbackWire struct {
	Reason             string `json:"reason,omitempty"`
	ServiceRevisionArn string `json:"serviceRevisionArn,omitempty"`
	StartedAt          *epoch `json:"startedAt,omitempty"`
}

type deploymentAlarmsStatus struct {
	AlarmNames          []string `json:"alarmNames"`
	Status              string   `json:"status"`
	TriggeredAlarmNames []string `json:"triggeredAlarmNames"`
}

type circuitBreakerStatus struct {
	FailureCount int    `json:"failureCount"`
	Status       string `json:"status"`
	Threshold    int    `json:"threshold"`
}

type hookDetailWire struct {
	HookID        string `json:"hookId"`
	TargetType    string `json:"targetType"`
	TargetArn     string `json:"targetArn,omitempty"`
	Status        string `json:"status"`
	ExpiresAt     *epoch `json:"expiresAt,omitempty"`
	TimeoutAction string `json:"timeoutAction,omitempty"`
}

type serviceDeploymentWire struct {
	ServiceDeploymentArn     string                   `json:"serviceDeploymentArn"`
	ServiceArn               string                   `json:"serviceArn"`
	ClusterArn               string                   `json:"clusterArn"`
	CreatedAt                *epoch                   `json:"createdAt,omitempty"`
	StartedAt                *epoch                   `json:"startedAt,omitempty"`
	FinishedAt               *epoch                   `json:"finishedAt,omitempty"`
	StoppedAt                *epoch                   `json:"stoppedAt,omitempty"`
	UpdatedAt                *epoch                   `json:"updatedAt,omitempty"`
	SourceServiceRevisions   []serviceRevisionSummary `json:"sourceServiceRevisions"`
	TargetServiceRevision    *serviceRevisionSummary  `json:"targetServiceRevision,omitempty"`
	Status                   string                   `json:"status"`
	StatusReason             string                   `json:"statusReason,omitempty"`
	LifecycleStage           string                   `json:"lifecycleStage,omitempty"`
	LifecycleHookDetails     []hookDetailWire         `json:"lifecycleHookDetails,omitempty"`
	DeploymentConfiguration  json.RawMessage          `json:"deploymentConfiguration,omitempty"`
	Rollback                 *rollbackWire            `json:"rollback,omitempty"`
	DeploymentCircuitBreaker *circuitBreakerStatus    `json:"deploymentCircuitBreaker,omitempty"`
	Alarms                   *deploymentAlarmsStatus  `json:"alarms,omitempty"`
}

type serviceDeploymentBrief struct {
	ServiceDeploymentArn     string `json:"serviceDeploymentArn"`
	ServiceArn               string `json:"serviceArn"`
	ClusterArn               string `json:"clusterArn"`
	StartedAt                *epoch `json:"startedAt,omitempty"`
	CreatedAt                *epoch `json:"createdAt,omitempty"`
	FinishedAt               *epoch `json:"finishedAt,omitempty"`
	TargetServiceRevisionArn string `json:"targetServiceRevisionArn,omitempty"`
	Status                   string `json:"status"`
	StatusReason             string `json:"statusReason,omitempty"`
}

type containerImageWire struct {
	ContainerName string `json:"containerName,omitempty"`
	Image         string `json:"image,omitempty"`
	ImageDigest   string `json:"imageDigest,omitempty"`
}

type revisionLoadBalancerWire struct {
	TargetGroupArn         string `json:"targetGroupArn,omitempty"`
	ProductionListenerRule string `json:"productionListenerRule,omitempty"`
}

type serviceRevisionWire struct {
	ServiceRevisionArn    string               `json:"serviceRevisionArn"`
	ServiceArn            string               `json:"serviceArn"`
	ClusterArn            string               `json:"clusterArn"`
	TaskDefinition        string               `json:"taskDefinition"`
	LaunchType            string               `json:"launchType,omitempty"`
	PlatformVersion       string               `json:"platformVersion,omitempty"`
	PlatformFamily        string               `json:"platformFamily,omitempty"`
	LoadBalancers         json.RawMessage      `json:"loadBalancers,omitempty"`
	NetworkConfiguration  json.RawMessage      `json:"networkConfiguration,omitempty"`
	ContainerImages       []containerImageWire `json:"containerImages,omitempty"`
	GuardDutyEnabled      bool                 `json:"guardDutyEnabled"`
	CreatedAt             *epoch               `json:"createdAt,omitempty"`
	ResolvedConfiguration *struct {
		LoadBalancers []revisionLoadBalancerWire `json:"loadBalancers,omitempty"`
	} `json:"resolvedConfiguration,omitempty"`
}

type failureWire struct {
	Arn    string `json:"arn,omitempty"`
	Reason string `json:"reason,omitempty"`
	Detail string `json:"detail,omitempty"`
}

// --- tasks

type keyValue struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

type attachmentWire struct {
	ID      string     `json:"id"`
	Type    string     `json:"type"`
	Status  string     `json:"status"`
	Details []keyValue `json:"details"`
}

type networkInterfaceWire struct {
	AttachmentID       string `json:"attachmentId,omitempty"`
	PrivateIpv4Address string `json:"privateIpv4Address,omitempty"`
}

type containerWire struct {
	ContainerArn      string                 `json:"containerArn"`
	TaskArn           string                 `json:"taskArn"`
	Name              string                 `json:"name"`
	Image             string                 `json:"image,omitempty"`
	ImageDigest       string                 `json:"imageDigest,omitempty"`
	RuntimeID         string                 `json:"runtimeId,omitempty"`
	LastStatus        string                 `json:"lastStatus"`
	ExitCode          *int                   `json:"exitCode,omitempty"`
	Reason            string                 `json:"reason,omitempty"`
	NetworkInterfaces []networkInterfaceWire `json:"networkInterfaces"`
	HealthStatus      string                 `json:"healthStatus,omitempty"`
	Cpu               string                 `json:"cpu,omitempty"`
	Memory            string                 `json:"memory,omitempty"`
}

type taskWire struct {
	TaskArn           string           `json:"taskArn"`
	ClusterArn        string           `json:"clusterArn"`
	TaskDefinitionArn string           `json:"taskDefinitionArn"`
	Group             string           `json:"group,omitempty"`
	StartedBy         string           `json:"startedBy,omitempty"`
	LastStatus        string           `json:"lastStatus"`
	DesiredStatus     string           `json:"desiredStatus"`
	LaunchType        string           `json:"launchType,omitempty"`
	PlatformVersion   string           `json:"platformVersion,omitempty"`
	PlatformFamily    string           `json:"platformFamily,omitempty"`
	AvailabilityZone  string           `json:"availabilityZone,omitempty"`
	Connectivity      string           `json:"connectivity,omitempty"`
	ConnectivityAt    *epoch           `json:"connectivityAt,omitempty"`
	Cpu               string           `json:"cpu,omitempty"`
	Memory            string           `json:"memory,omitempty"`
	CreatedAt         *epoch           `json:"createdAt,omitempty"`
	PullStartedAt     *epoch           `json:"pullStartedAt,omitempty"`
	PullStoppedAt     *epoch           `json:"pullStoppedAt,omitempty"`
	StartedAt         *epoch           `json:"startedAt,omitempty"`
	StoppingAt        *epoch           `json:"stoppingAt,omitempty"`
	StoppedAt         *epoch           `json:"stoppedAt,omitempty"`
	StoppedReason     string           `json:"stoppedReason,omitempty"`
	StopCode          string           `json:"stopCode,omitempty"`
	HealthStatus      string           `json:"healthStatus,omitempty"`
	Version           int64            `json:"version"`
	Attachments       []attachmentWire `json:"attachments"`
	Containers        []containerWire  `json:"containers"`
}

// --- task definitions (what the emulator needs from DescribeTaskDefinition)

type portMapping struct {
	ContainerPort *int   `json:"containerPort,omitempty"`
	HostPort      *int   `json:"hostPort,omitempty"`
	Protocol      string `json:"protocol,omitempty"`
}

type containerDefinition struct {
	Name         string        `json:"name"`
	Image        string        `json:"image"`
	Essential    *bool         `json:"essential,omitempty"`
	Environment  []keyValue    `json:"environment,omitempty"`
	PortMappings []portMapping `json:"portMappings,omitempty"`
	Command      []string      `json:"command,omitempty"`
}

type taskDefinitionWire struct {
	TaskDefinitionArn    string                `json:"taskDefinitionArn"`
	Family               string                `json:"family"`
	Revision             int                   `json:"revision"`
	ContainerDefinitions []containerDefinition `json:"containerDefinitions"`
	Cpu                  string                `json:"cpu,omitempty"`
	Memory               string                `json:"memory,omitempty"`
	NetworkMode          string                `json:"networkMode,omitempty"`
	// raw is the whole task definition as registered (standalone mode).
	raw []byte
}
