package ecsemu

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwschemas "github.com/aws/aws-sdk-go-v2/service/cloudwatch/schemas"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go/transport/http/protocol/awsquery"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu/alb"
)

// Emulator is a running ECS blue/green emulator: the ECS endpoint, the control plane, the
// tasks it started, the load balancers and the metric publisher. Close stops all of it.
type Emulator struct {
	opts  Options
	log   *slog.Logger
	url   string
	srv   *http.Server
	httpc *http.Client
	cw    CloudWatchAPI
	elb   ELBAPI
	inv   HookInvoker
	start time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	logDir string
	ownDir bool

	mu          sync.Mutex
	closed      bool
	services    map[string]*service // cluster/name
	deployments map[string]*deployment
	revisions   map[string]*revision
	tasksByArn  map[string]*task
	balancers   map[string]*alb.LoadBalancer // by LoadBalancer dimension (app/name/id)
	rules       map[string]*service          // listener rule ARN → service
	targets     map[string]*task             // target id (task ARN) → task
	clusters    map[string]bool              // standalone mode
	taskDefs    map[string]*taskDefinitionWire
	families    map[string]int
	ips         *ipPool
	metrics     *metricStore
	throttle    *throttler
}

// New starts an emulator: its ECS endpoint listens at once, the metric publisher runs in
// the background. Call Close when done.
func New(ctx context.Context, opts Options) (*Emulator, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	e := &Emulator{
		opts:        opts,
		log:         opts.Logger.With("component", "ecs-emulator"),
		httpc:       &http.Client{Timeout: 60 * time.Second},
		start:       time.Now(),
		services:    map[string]*service{},
		deployments: map[string]*deployment{},
		revisions:   map[string]*revision{},
		tasksByArn:  map[string]*task{},
		balancers:   map[string]*alb.LoadBalancer{},
		rules:       map[string]*service{},
		targets:     map[string]*task{},
		clusters:    map[string]bool{},
		taskDefs:    map[string]*taskDefinitionWire{},
		families:    map[string]int{},
		throttle:    newThrottler(opts.Throttle),
	}
	e.cw, e.elb, e.inv = opts.CloudWatch, opts.ELB, opts.Invoker
	if opts.AWS != nil {
		if e.cw == nil {
			e.cw = cloudwatch.NewFromConfig(*opts.AWS, func(o *cloudwatch.Options) {
				o.Protocol = awsquery.New(cwschemas.GraniteServiceVersion20100801)
			})
		}
		if e.elb == nil {
			e.elb = elbv2.NewFromConfig(*opts.AWS)
		}
		if e.inv == nil {
			e.inv = LambdaInvoker{Client: lambda.NewFromConfig(*opts.AWS)}
		}
	}
	pool, err := newIPPool(opts.TaskAddressBase)
	if err != nil {
		return nil, err
	}
	e.ips = pool
	e.metrics = newMetricStore()
	e.logDir = opts.LogDir
	if e.logDir == "" {
		d, err := os.MkdirTemp("", "greenlight-ecsemu-")
		if err != nil {
			return nil, err
		}
		e.logDir, e.ownDir = d, true
	} else if err := os.MkdirAll(e.logDir, 0o755); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("ecsemu: listen on %s: %w", opts.Addr, err)
	}
	e.url = "http://" + ln.Addr().String()
	e.ctx, e.cancel = context.WithCancel(context.Background())
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	e.wg.Add(1)
	go e.metricLoop()
	e.log.InfoContext(ctx, "ecs emulator listening", "url", e.url, "upstream", opts.Upstream, "time_scale", opts.TimeScale)
	return e, nil
}

// URL is the ECS endpoint: set AWS_ENDPOINT_URL_ECS to it.
func (e *Emulator) URL() string { return e.url }

// TimeScale is the compression in use (wall = emulated × TimeScale).
func (e *Emulator) TimeScale() float64 { return e.opts.TimeScale }

// LogDir holds one log file per task.
func (e *Emulator) LogDir() string { return e.logDir }

// Close stops the endpoint, every deployment, every task process (by PID, process group
// included), every listener and health checker. It is safe to call more than once.
func (e *Emulator) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	var procs []*task
	for _, t := range e.tasksByArn {
		if t.cmd != nil && t.lastStatus != "STOPPED" {
			procs = append(procs, t)
		}
	}
	bals := make([]*alb.LoadBalancer, 0, len(e.balancers))
	for _, b := range e.balancers {
		bals = append(bals, b)
	}
	e.mu.Unlock()

	shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	_ = e.srv.Shutdown(shutdownCtx)
	cancel()
	e.cancel()
	var errs []error
	for _, t := range procs {
		if err := killTask(t); err != nil {
			errs = append(errs, err)
		}
	}
	for _, b := range bals {
		b.Close()
	}
	waited := make(chan struct{})
	go func() { e.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(10 * time.Second):
		errs = append(errs, errors.New("ecsemu: background work did not stop within 10s"))
	}
	e.mu.Lock()
	for _, t := range e.tasksByArn {
		e.ips.release(t.ip, t.port)
	}
	e.mu.Unlock()
	if e.ownDir {
		_ = os.RemoveAll(e.logDir)
	}
	return errors.Join(errs...)
}

// --- identifiers and ARNs

func svcKey(cluster, service string) string { return cluster + "/" + service }

// clusterName accepts a name or an ARN; empty means "default".
func clusterName(s string) string {
	if s == "" {
		return "default"
	}
	if i := strings.LastIndex(s, ":cluster/"); i >= 0 {
		return s[i+len(":cluster/"):]
	}
	return s
}

// serviceName accepts a name or an ARN (…:service/<cluster>/<name> or …:service/<name>).
func serviceName(s string) (cluster, name string) {
	if i := strings.LastIndex(s, ":service/"); i >= 0 {
		rest := s[i+len(":service/"):]
		if c, n, ok := strings.Cut(rest, "/"); ok {
			return c, n
		}
		return "", rest
	}
	return "", s
}

func (e *Emulator) arn(account, region, resource string) string {
	if account == "" {
		account = e.opts.AccountID
	}
	if region == "" {
		region = e.opts.Region
	}
	return "arn:aws:ecs:" + region + ":" + account + ":" + resource
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// deploymentID is a 21-character ID like ECS's (EZe5RNVLH6PPzHXINuP28).
func deploymentID() string {
	b := make([]byte, 21)
	for i := range b {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(idAlphabet))))
		b[i] = idAlphabet[n.Int64()]
	}
	return string(b)
}

// revisionID is a 19-digit numeric ID like ECS's (9313423515462893900).
func revisionID() string {
	n, _ := rand.Int(rand.Reader, new(big.Int).SetUint64(9e18))
	return fmt.Sprintf("%019d", n.Uint64()+1e18)
}

func hexID(n int) string {
	b := make([]byte, n/2)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func uuid() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
