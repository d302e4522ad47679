package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/result"
	"github.com/greenlight-deploy/greenlight/internal/routes"
	"github.com/greenlight-deploy/greenlight/internal/sampleapp"
	"github.com/greenlight-deploy/greenlight/internal/smoketest"
)

// smoke times the real smoke-test hook (smoketest.Handler, as the Lambda runs it) at
// POST_SCALE_UP against 1, 10 and 50 green tasks: each task is the sample app's handler
// served over real HTTP on its own loopback address, as awsvpc tasks each have their own
// IP. ECS's answers (the revision, the deployment, the task list) come from an in-process
// fake, so the figure is the hook's own time: discovery, then the route's checks on every
// task, ten at a time (the route's default parallelism).
func (b *bench) smoke(ctx context.Context) ([]SmokeFigure, error) {
	raw, err := os.ReadFile(filepath.Join(b.o.repo, "events", "smoketest", "post-scale-up.json"))
	if err != nil {
		return nil, err
	}
	var ev map[string]any
	if err := json.Unmarshal(raw, &ev); err != nil {
		return nil, err
	}
	delete(ev, "hookDetails") // only the route's checks
	details, _ := ev["executionDetails"].(map[string]any)
	serviceARN, _ := details["serviceArn"].(string)
	revisionARN, _ := details["targetServiceRevisionArn"].(string)
	deploymentARN, _ := ev["resourceArn"].(string)
	event, _ := json.Marshal(ev)
	cluster, service := "prod", "web"
	if parts := strings.Split(serviceARN, "/"); len(parts) == 3 {
		cluster, service = parts[1], parts[2]
	}
	var out []SmokeFigure
	for _, n := range b.o.smokeTasks {
		fleet, err := startFleet(n)
		if err != nil {
			return nil, err
		}
		doc, err := routes.Parse([]byte(fmt.Sprintf(`{"version":1,"routes":[{"name":"bench","repository":"web","tagPattern":".*",
			"targets":[{"cluster":%q,"service":%q,"container":"app"}],
			"smokeTests":{"port":%d,"checks":[{"name":"health","method":"GET","path":"/health","expectStatus":200}]}}]}`, cluster, service, fleet.port)))
		if err != nil {
			fleet.close()
			return nil, err
		}
		h := smoketest.New(smoketest.Config{RoutesParameter: "/greenlight/routes", LedgerTable: "ledger", TimeScale: 1}, smoketest.Deps{
			ECS:    &fakeECS{fleet: fleet, service: serviceARN, revision: revisionARN, deployment: deploymentARN, cluster: cluster},
			Routes: staticRoutes{doc}, Evidence: noEvidence{}, Logger: slog.New(slog.DiscardHandler),
		})
		var times []float64
		for i := 0; i <= b.o.smokeRuns; i++ {
			t0 := time.Now()
			resp, err := h.Handle(ctx, event)
			d := time.Since(t0)
			if err != nil || resp.HookStatus != smoketest.Succeeded {
				fleet.close()
				return nil, fmt.Errorf("smoke hook with %d tasks answered %+v, %v; want SUCCEEDED", n, resp, err)
			}
			times = append(times, ms(d))
		}
		fleet.close()
		if got, want := fleet.served.Load(), int64(n*(b.o.smokeRuns+1)); got != want {
			return nil, fmt.Errorf("smoke hook with %d tasks: the tasks answered %d requests; want %d (one check per task per run)", n, got, want)
		}
		f := SmokeFigure{Tasks: n, First: times[0], Median: spread(times[1:]).Median, Runs: len(times) - 1, Checks: 1}
		b.step("smoke hook, %2d task(s): first %s ms, then %s ms (median of %d)", n, fmtMs(f.First), fmtMs(f.Median), f.Runs)
		out = append(out, f)
	}
	return out, nil
}

// fleet is n sample-app tasks, each on its own loopback address, all on one port.
type fleet struct {
	ips  []string
	port int
	srvs []*http.Server
	// served counts the requests the tasks answered (the hook really probed them).
	served atomic.Int64
}

func startFleet(n int) (*fleet, error) {
	cfg, err := sampleapp.ConfigFromEnv(func(k string) string {
		if k == sampleapp.EnvVersion {
			return "bench"
		}
		return ""
	}, sampleapp.Build{})
	if err != nil {
		return nil, err
	}
	app := sampleapp.NewServer(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	for attempt := 0; attempt < 5; attempt++ {
		f := &fleet{}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			f.served.Add(1)
			app.ServeHTTP(w, r)
		})
		probe, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		f.port = probe.Addr().(*net.TCPAddr).Port
		probe.Close()
		ok := true
		for i := 0; i < n; i++ {
			ip := fmt.Sprintf("127.77.%d.%d", (i+2)/250, (i+2)%250+1)
			ln, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(f.port)))
			if err != nil {
				ok = false
				break
			}
			srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
			go func() { _ = srv.Serve(ln) }()
			f.ips, f.srvs = append(f.ips, ip), append(f.srvs, srv)
		}
		if ok {
			return f, nil
		}
		f.close()
	}
	return nil, fmt.Errorf("no port free on %d loopback addresses", n)
}

func (f *fleet) close() {
	for _, s := range f.srvs {
		_ = s.Close()
	}
}

// fakeECS answers the hook's discovery calls for the fleet, as ECS answers them for a
// service with one green revision of len(ips) running tasks.
type fakeECS struct {
	fleet                                  *fleet
	cluster, service, revision, deployment string
}

const benchTaskDef = "arn:aws:ecs:eu-west-1:111122223333:task-definition/web:42"

func (e *fakeECS) DescribeServiceRevisions(_ context.Context, in *ecs.DescribeServiceRevisionsInput, _ ...func(*ecs.Options)) (*ecs.DescribeServiceRevisionsOutput, error) {
	return &ecs.DescribeServiceRevisionsOutput{ServiceRevisions: []ecstypes.ServiceRevision{{ServiceRevisionArn: aws.String(e.revision), TaskDefinition: aws.String(benchTaskDef),
		LoadBalancers: []ecstypes.LoadBalancer{{ContainerName: aws.String("app"), ContainerPort: aws.Int32(int32(e.fleet.port))}}}}}, nil
}

func (e *fakeECS) DescribeServiceDeployments(_ context.Context, in *ecs.DescribeServiceDeploymentsInput, _ ...func(*ecs.Options)) (*ecs.DescribeServiceDeploymentsOutput, error) {
	return &ecs.DescribeServiceDeploymentsOutput{ServiceDeployments: []ecstypes.ServiceDeployment{{ServiceDeploymentArn: aws.String(e.deployment), ServiceArn: aws.String(e.service),
		TargetServiceRevision:  &ecstypes.ServiceRevisionSummary{Arn: aws.String(e.revision), RequestedTaskCount: int32(len(e.fleet.ips))},
		SourceServiceRevisions: []ecstypes.ServiceRevisionSummary{{Arn: aws.String(e.revision + "-blue")}}}}}, nil
}

func (e *fakeECS) ListTasks(_ context.Context, in *ecs.ListTasksInput, _ ...func(*ecs.Options)) (*ecs.ListTasksOutput, error) {
	out := &ecs.ListTasksOutput{}
	for i := range e.fleet.ips {
		out.TaskArns = append(out.TaskArns, fmt.Sprintf("arn:aws:ecs:eu-west-1:111122223333:task/%s/%032x", e.cluster, i+1))
	}
	return out, nil
}

func (e *fakeECS) DescribeTasks(_ context.Context, in *ecs.DescribeTasksInput, _ ...func(*ecs.Options)) (*ecs.DescribeTasksOutput, error) {
	out := &ecs.DescribeTasksOutput{}
	for _, arn := range in.Tasks {
		var i int
		fmt.Sscanf(arn[strings.LastIndex(arn, "/")+1:], "%x", &i)
		ip := e.fleet.ips[i-1]
		out.Tasks = append(out.Tasks, ecstypes.Task{TaskArn: aws.String(arn), TaskDefinitionArn: aws.String(benchTaskDef), LastStatus: aws.String("RUNNING"),
			Attachments: []ecstypes.Attachment{{Type: aws.String("ElasticNetworkInterface"), Details: []ecstypes.KeyValuePair{{Name: aws.String("privateIPv4Address"), Value: aws.String(ip)}}}}})
	}
	return out, nil
}

func (e *fakeECS) DescribeTaskDefinition(_ context.Context, in *ecs.DescribeTaskDefinitionInput, _ ...func(*ecs.Options)) (*ecs.DescribeTaskDefinitionOutput, error) {
	return &ecs.DescribeTaskDefinitionOutput{TaskDefinition: &ecstypes.TaskDefinition{TaskDefinitionArn: aws.String(benchTaskDef),
		ContainerDefinitions: []ecstypes.ContainerDefinition{{Name: aws.String("app"), PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(int32(e.fleet.port))}}}}}}, nil
}

type staticRoutes struct{ doc *routes.Document }

func (s staticRoutes) Load(context.Context) (*routes.Document, error) { return s.doc, nil }

type noEvidence struct{}

func (noEvidence) PutSmokeEvidence(context.Context, string, string, []result.CheckEvidence) error {
	return nil
}
