package rehearsal

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/ssm"

	"github.com/greenlight-deploy/greenlight/internal/awsenv"
	"github.com/greenlight-deploy/greenlight/internal/cfnyaml"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/samtemplate"
)

// clients are the SDK clients on moto's default account (where Step Functions task states
// and the Lambdas under aws-lambda-rie act), with retries on: aws-sdk-go-v2 now and then
// fails to read a local answer ("use of closed network connection") and retries it.
type clients struct {
	iam     *iam.Client
	lambda  *lambda.Client
	sfn     *sfn.Client
	sns     *sns.Client
	sqs     *sqs.Client
	ssm     *ssm.Client
	ddb     *dynamodb.Client
	events  *eventbridge.Client
	cw      *cloudwatch.Client
	ecr     *ecr.Client
	elb     *elbv2.Client
	ecs     *ecs.Client
	secrets *secretsmanager.Client
	raw     *rawClient
}

func newClients(cfg aws.Config, motoURL string) (clients, error) {
	cw, err := awsenv.CloudWatch(cfg, func(k string) string {
		if k == awsenv.CloudWatchProtocolEnv {
			return "query"
		}
		return ""
	})
	if err != nil {
		return clients{}, err
	}
	return clients{
		iam: iam.NewFromConfig(cfg), lambda: lambda.NewFromConfig(cfg), sfn: sfn.NewFromConfig(cfg),
		sns: sns.NewFromConfig(cfg), sqs: sqs.NewFromConfig(cfg), ssm: ssm.NewFromConfig(cfg),
		ddb: dynamodb.NewFromConfig(cfg), events: eventbridge.NewFromConfig(cfg), cw: cw,
		ecr: ecr.NewFromConfig(cfg), elb: elbv2.NewFromConfig(cfg), ecs: ecs.NewFromConfig(cfg),
		secrets: secretsmanager.NewFromConfig(cfg), raw: newRawClient(motoURL),
	}, nil
}

// local is everything that outlives one scenario: moto, the built binaries, one
// aws-lambda-rie per function, the chat receiver and the fixed loopback ports.
type local struct {
	o   *resolved
	log *slog.Logger
	tl  *timeline

	workDir  string
	moto     *localaws.Moto
	cfg      aws.Config
	c        clients
	stack    *samtemplate.Template // template.yaml, translated
	env      *samtemplate.Template // environment/template.yaml
	rieBin   string
	boots    map[string]string // functions/<name> → bootstrap
	appBin   string
	receiver *chatReceiver

	// ecs is the Lambdas' ECS endpoint for the whole run, in front of each scenario's
	// emulator; awsFront their endpoint for every other service, in front of moto. Both
	// pass everything through unless a fault scenario injects something.
	ecs           *ecsFront
	awsFront      *localaws.Proxy
	containerPort int
	taskBase      string

	mu   sync.Mutex
	ries map[string]*rieProc
}

type rieProc struct {
	r   *localaws.RIE
	env string // the environment it was started with
}

// setup starts what every scenario shares. On error, close must still be called.
func (l *local) setup(ctx context.Context) error {
	o := l.o
	if _, err := exec.LookPath("go"); err != nil {
		return envErrf("go is not on PATH: the rehearsal builds the Lambdas and the sample app from source; install Go (see go.mod for the version)")
	}
	if err := localaws.CheckMoto(ctx, o.Python); err != nil {
		return envErr(fmt.Errorf("%w (the rehearsal's local AWS is moto_server with greenlight's patches)", err))
	}
	if err := os.MkdirAll(l.workDir, 0o755); err != nil {
		return envErr(err)
	}
	began := time.Now()

	var wg sync.WaitGroup
	var motoErr, stackErr, envErr2, rieErr error
	wg.Add(3)
	go func() {
		defer wg.Done()
		l.moto, motoErr = localaws.StartMoto(ctx, localaws.MotoOptions{Python: o.Python, Dir: filepath.Join(l.workDir, "moto"),
			// AWS managed policies (AWSLambdaBasicExecutionRole …) that the roles attach; Lambda's
			// asynchronous retries (1 and 2 minutes) compressed like the rest.
			Env: []string{"MOTO_IAM_LOAD_MANAGED_POLICIES=true", "MOTO_LAMBDA_ASYNC_RETRY_SCALE=" + strconv.FormatFloat(o.TimeScale, 'f', -1, 64)}})
	}()
	go func() {
		defer wg.Done()
		l.stack, stackErr = samtemplate.Load(ctx, filepath.Join(o.RepoDir, "template.yaml"))
		if stackErr == nil {
			l.env, envErr2 = loadPlain(filepath.Join(o.RepoDir, "environment", "template.yaml"))
		}
	}()
	go func() {
		defer wg.Done()
		l.rieBin, rieErr = localaws.InstallRIE(ctx, filepath.Join(o.RepoDir, ".bin"))
	}()
	if err := os.MkdirAll(filepath.Join(l.workDir, "moto"), 0o755); err != nil {
		return envErr(err)
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	if motoErr != nil {
		return envErr(fmt.Errorf("start moto_server: %w", motoErr))
	}
	if stackErr != nil {
		return envErr(stackErr)
	}
	if envErr2 != nil {
		return envErr(envErr2)
	}
	if rieErr != nil {
		return envErr(fmt.Errorf("%w; the rehearsal needs aws-lambda-rie in %s (it installs it with go install %s)", rieErr, filepath.Join(o.RepoDir, ".bin"), localaws.RIEModule))
	}
	l.tl.setup("local AWS: moto_server %s on %s (patched: Step Functions executions, EventBridge → Step Functions, Lambda → aws-lambda-rie, SNS → Lambda)", localaws.MotoVersion, l.moto.URL)

	if err := l.build(ctx); err != nil {
		return err
	}
	cfg, err := localaws.Config(ctx, l.moto.URL, "")
	if err != nil {
		return envErr(err)
	}
	cfg.RetryMaxAttempts = awsenv.MaxAttempts
	l.cfg = cfg
	if l.c, err = newClients(cfg, l.moto.URL); err != nil {
		return err
	}
	if l.receiver, err = startReceiver(l.workDir); err != nil {
		return envErr(fmt.Errorf("start the chat receiver: %w", err))
	}
	if l.ecs, err = startECSFront(); err != nil {
		return envErr(fmt.Errorf("no free loopback port for the ECS endpoint: %w", err))
	}
	if l.awsFront, err = localaws.StartProxy(l.moto.URL); err != nil {
		return envErr(fmt.Errorf("no free loopback port for the Lambdas' AWS endpoint: %w", err))
	}
	l.tl.setup("ready in %s (logs in %s)", round(time.Since(began)), l.workDir)
	return nil
}

// loadPlain reads a plain CloudFormation template (no SAM transform) with short-form tags.
func loadPlain(path string) (*samtemplate.Template, error) {
	tree, err := cfnyaml.ParseFile(path)
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(tree)
	if err != nil {
		return nil, err
	}
	t, err := samtemplate.Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// build compiles every function the template declares (as sam build does, for this
// machine's architecture) and the sample app, into the cache directory.
func (l *local) build(ctx context.Context) error {
	began := time.Now()
	dirs := map[string]bool{}
	for _, id := range l.stack.OfType("AWS::Lambda::Function") {
		if d := l.stack.CodeDir(id); d != "" {
			dirs[d] = true
		}
	}
	var pkgs []string
	for d := range dirs {
		pkgs = append(pkgs, d)
	}
	sort.Strings(pkgs)
	l.boots = map[string]string{}
	// The sample app builds beside the bootstraps, which build in one go build.
	appErr := make(chan error, 1)
	if l.o.AppCmd == "" {
		path := filepath.Join(l.o.CacheDir, "app", "sampleapp")
		go func() {
			cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", path, "./app")
			cmd.Dir = l.o.RepoDir
			cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
			if b, err := cmd.CombinedOutput(); err != nil {
				appErr <- fmt.Errorf("build ./app: %w: %s", err, b)
				return
			}
			l.appBin = path
			appErr <- nil
		}()
	} else {
		appErr <- nil
	}
	rel := make([]string, len(pkgs))
	for i, p := range pkgs {
		rel[i] = "./" + p
	}
	var errs []error
	paths, err := localaws.BuildBootstraps(ctx, l.o.RepoDir, rel, filepath.Join(l.o.CacheDir, "bootstraps"))
	if err != nil {
		errs = append(errs, err)
	}
	for i, p := range paths {
		l.boots[pkgs[i]] = p
	}
	if err := <-appErr; err != nil {
		errs = append(errs, err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(errs) > 0 {
		return envErr(fmt.Errorf("build failed (fix the code, or run `go build ./...` to see it): %w", errors.Join(errs...)))
	}
	what := fmt.Sprintf("%d Lambda bootstraps (provided.al2023 build, this machine's architecture)", len(pkgs))
	if l.appBin != "" {
		what += " and the sample app"
	}
	l.tl.setup("built %s in %s", what, round(time.Since(began)))
	return nil
}

// ensureRIE runs the function's bootstrap under its own aws-lambda-rie with env, reusing
// the one already running when its environment is the same, and routes moto's Lambda Invoke
// of the function to it.
func (l *local) ensureRIE(ctx context.Context, name, codeDir string, env map[string]string, timeout time.Duration) error {
	boot := l.boots[codeDir]
	if boot == "" {
		return fmt.Errorf("no bootstrap was built for %s", codeDir)
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	list := make([]string, 0, len(keys))
	for _, k := range keys {
		list = append(list, k+"="+env[k])
	}
	sig := strings.Join(list, "\n") + "\n" + timeout.String()
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.ries[name]; p != nil {
		if p.env == sig {
			return nil
		}
		_ = p.r.Stop()
		delete(l.ries, name)
	}
	logDir := filepath.Join(l.workDir, "lambda")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return err
	}
	r, err := localaws.StartRIE(ctx, localaws.RIEOptions{RIEPath: l.rieBin, Bootstrap: boot, Name: name, Env: list, Timeout: timeout, LogDir: logDir})
	if err != nil {
		return envErr(err)
	}
	l.ries[name] = &rieProc{r: r, env: sig}
	return l.moto.RouteLambda(name, r.URL)
}

// rie returns the aws-lambda-rie running the named function, or nil.
func (l *local) rie(name string) *localaws.RIE {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.ries[name]; p != nil {
		return p.r
	}
	return nil
}

// pids lists the processes the rehearsal itself started and still runs (tests).
func (l *local) pids() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []int
	for _, p := range l.ries {
		out = append(out, p.r.PID())
	}
	return out
}

// close stops every process the rehearsal started: each aws-lambda-rie (and its
// bootstrap), the receiver and moto.
func (l *local) close() error {
	var errs []error
	l.mu.Lock()
	for name, p := range l.ries {
		if err := p.r.Stop(); err != nil {
			errs = append(errs, err)
		}
		delete(l.ries, name)
	}
	l.mu.Unlock()
	if l.receiver != nil {
		l.receiver.close()
	}
	if l.ecs != nil {
		l.ecs.close()
	}
	if l.awsFront != nil {
		_ = l.awsFront.Close()
	}
	if l.moto != nil {
		if err := l.moto.Stop(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= 10*time.Second:
		return d.Round(time.Second)
	case d >= time.Second:
		return d.Round(100 * time.Millisecond)
	}
	return d.Round(10 * time.Millisecond)
}
