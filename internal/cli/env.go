package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/ledger"
	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// AWSOptions are the global AWS flags.
type AWSOptions struct {
	Region      string
	Profile     string
	EndpointURL string
}

// LoadAWS builds the configuration the SDK way (environment, shared config and credentials,
// SSO, instance roles), with the flags taking precedence.
func LoadAWS(ctx context.Context, getenv func(string) string, o AWSOptions) (aws.Config, error) {
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if o.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(o.Profile))
	}
	if o.EndpointURL != "" {
		opts = append(opts, config.WithBaseEndpoint(o.EndpointURL))
	}
	return awsenv.Load(ctx, getenv, opts...)
}

// Env is what a running command sees: the app, the global flags, and lazily built clients
// and resources.
type Env struct {
	*App
	Global  *Global
	Command string

	mu      sync.Mutex
	cfg     *aws.Config
	clients *Clients
	stack   map[string]string
}

// AWS returns the AWS configuration, loading it once.
func (e *Env) AWS(ctx context.Context) (aws.Config, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.cfg != nil {
		return *e.cfg, nil
	}
	cfg, err := e.LoadAWS(ctx, e.Getenv, e.Global.AWSOptions)
	if err != nil {
		return aws.Config{}, &Error{Code: ExitUsage, Err: err}
	}
	e.cfg = &cfg
	return cfg, nil
}

// Clients returns the AWS clients, building them once.
func (e *Env) Clients(ctx context.Context) (*Clients, error) {
	cfg, err := e.AWS(ctx)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.clients == nil {
		c, err := newClients(cfg, e.Getenv)
		if err != nil {
			return nil, &Error{Code: ExitUsage, Err: err}
		}
		if e.WrapClients != nil {
			e.WrapClients(c)
		}
		e.clients = c
	}
	return e.clients, nil
}

// Stack output names greenlight's template declares.
const (
	OutputStateMachineARN = "StateMachineArn"
	OutputLedgerTable     = "LedgerTableName"
	OutputRoutesParameter = "RoutesParameterName"
	OutputResultTopicARN  = "ResultTopicArn"
)

var outputFlags = map[string]string{
	OutputStateMachineARN: "--state-machine-arn (or GREENLIGHT_STATE_MACHINE_ARN)",
	OutputLedgerTable:     "--ledger-table (or GREENLIGHT_LEDGER_TABLE)",
	OutputRoutesParameter: "--routes-parameter (or GREENLIGHT_ROUTES_PARAMETER)",
}

// resource returns the flag value, or else the stack output (reading the stack once).
func (e *Env) resource(ctx context.Context, flagValue, output string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	outs, err := e.stackOutputs(ctx)
	if err != nil {
		return "", err
	}
	v := outs[output]
	if v == "" {
		return "", NotFoundf("stack %s has no output %s: update the stack to a greenlight template that declares it, or pass %s", e.Global.Stack, output, outputFlags[output])
	}
	return v, nil
}

func (e *Env) stackOutputs(ctx context.Context) (map[string]string, error) {
	if e.stack != nil {
		return e.stack, nil
	}
	c, err := e.Clients(ctx)
	if err != nil {
		return nil, err
	}
	out, err := c.CloudFormation.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(e.Global.Stack)})
	if err != nil {
		if apiCode(err) == "ValidationError" && strings.Contains(err.Error(), "does not exist") {
			return nil, NotFoundf("stack %q does not exist in %s: pass --stack NAME, or name the resources with --state-machine-arn, --ledger-table and --routes-parameter", e.Global.Stack, e.region())
		}
		return nil, AWSError("read stack "+e.Global.Stack+" (cloudformation:DescribeStacks)", err)
	}
	if len(out.Stacks) == 0 {
		return nil, NotFoundf("stack %q does not exist in %s", e.Global.Stack, e.region())
	}
	m := map[string]string{}
	for _, o := range out.Stacks[0].Outputs {
		m[aws.ToString(o.OutputKey)] = aws.ToString(o.OutputValue)
	}
	e.stack = m
	return m, nil
}

func (e *Env) region() string {
	if e.cfg != nil {
		return e.cfg.Region
	}
	return e.Global.Region
}

// StateMachineARN is the deploy state machine.
func (e *Env) StateMachineARN(ctx context.Context) (string, error) {
	return e.resource(ctx, e.Global.StateMachineARN, OutputStateMachineARN)
}

// Ledger returns the ledger table, with the app's clock.
func (e *Env) Ledger(ctx context.Context) (*ledger.Table, error) {
	name, err := e.resource(ctx, e.Global.LedgerTable, OutputLedgerTable)
	if err != nil {
		return nil, err
	}
	c, err := e.Clients(ctx)
	if err != nil {
		return nil, err
	}
	return ledger.New(c.DynamoDB, name).WithClock(e.Now), nil
}

// RoutesStore returns the routes parameter's store.
func (e *Env) RoutesStore(ctx context.Context) (*routes.Store, error) {
	name, err := e.resource(ctx, e.Global.RoutesParameter, OutputRoutesParameter)
	if err != nil {
		return nil, err
	}
	c, err := e.Clients(ctx)
	if err != nil {
		return nil, err
	}
	return routes.NewStore(c.SSM, name), nil
}

// Routes loads the routes document. A missing parameter is not found (4); an invalid stored
// document is a failed check (1) with every problem listed.
func (e *Env) Routes(ctx context.Context) (*routes.Document, error) {
	st, err := e.RoutesStore(ctx)
	if err != nil {
		return nil, err
	}
	d, err := st.Load(ctx)
	if err != nil {
		var ve *routes.ValidationError
		switch {
		case errors.Is(err, routes.ErrNotFound):
			return nil, NotFoundf("%v", err)
		case errors.As(err, &ve):
			return nil, Failedf("%v\nfix the document and run `greenlight routes put FILE`", err)
		}
		return nil, AWSError("read routes", err)
	}
	return d, nil
}

// target is one service the command acts on.
type target struct {
	Cluster   string
	Service   string
	Route     *routes.Route
	Container string
}

func (t target) Key() string { return t.Cluster + "/" + t.Service }

// resolveService turns --service (cluster/service, a service ARN, or a service name that is
// unique in the routes) into a target, with its route when it has one.
func resolveService(doc *routes.Document, ref string) (target, error) {
	ref = strings.TrimSpace(ref)
	if strings.HasPrefix(ref, "arn:") {
		// arn:aws:ecs:region:account:service/cluster/service
		i := strings.Index(ref, ":service/")
		if i < 0 {
			return target{}, Usagef("--service %q: not an ECS service ARN (arn:aws:ecs:<region>:<account>:service/<cluster>/<service>)", ref)
		}
		ref = ref[i+len(":service/"):]
	}
	cluster, service, ok := strings.Cut(ref, "/")
	if ok {
		if cluster == "" || service == "" || strings.Contains(service, "/") {
			return target{}, Usagef("--service %q: write CLUSTER/SERVICE, e.g. prod/web", ref)
		}
		t := target{Cluster: cluster, Service: service}
		if doc != nil {
			if r, tg, found := doc.RouteFor(cluster, service); found {
				t.Route, t.Container = &r, tg.Container
			}
		}
		return t, nil
	}
	if ref == "" {
		return target{}, Usagef("--service is required: CLUSTER/SERVICE, e.g. prod/web")
	}
	if doc == nil {
		return target{}, Usagef("--service %q: write CLUSTER/SERVICE, e.g. prod/%s", ref, ref)
	}
	var found []target
	for i := range doc.Routes {
		r := doc.Routes[i]
		for _, tg := range r.Targets {
			if tg.Service == ref {
				found = append(found, target{Cluster: tg.Cluster, Service: tg.Service, Route: &r, Container: tg.Container})
			}
		}
	}
	seen := map[string]bool{}
	var uniq []target
	for _, t := range found {
		if !seen[t.Key()] {
			seen[t.Key()] = true
			uniq = append(uniq, t)
		}
	}
	switch len(uniq) {
	case 0:
		return target{}, NotFoundf("no route targets a service named %q: write CLUSTER/SERVICE, or add it to the routes", ref)
	case 1:
		return uniq[0], nil
	}
	var keys []string
	for _, t := range uniq {
		keys = append(keys, t.Key())
	}
	return target{}, Usagef("--service %q is ambiguous: it is %s; write CLUSTER/SERVICE", ref, strings.Join(keys, " and "))
}

// allTargets lists every service in the routes, once, in document order.
func allTargets(doc *routes.Document) []target {
	seen := map[string]bool{}
	var out []target
	for i := range doc.Routes {
		r := doc.Routes[i]
		for _, tg := range r.Targets {
			t := target{Cluster: tg.Cluster, Service: tg.Service, Route: &r, Container: tg.Container}
			if !seen[t.Key()] {
				seen[t.Key()] = true
				out = append(out, t)
			}
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
