// Package deployfake is a test FAKE of exactly one boundary: the ECS service-deployment APIs
// that moto 5.2.1 does not implement (ListServiceDeployments, DescribeServiceDeployments,
// StopServiceDeployment, DescribeServiceRevisions). It is an HTTP front for ECS: those four
// calls are answered from a per-service script of lifecycle steps that advances one step per
// DescribeServiceDeployments call; UpdateService is forwarded to moto and, when moto accepts
// it, creates a scripted service deployment for the new task definition; every other ECS
// call is forwarded to moto unchanged.
//
// It is not an emulator: nothing here runs tasks, shifts traffic or invokes hooks (that is
// internal/ecsemu, used by the rehearsal). Lambdas reach it through AWS_ENDPOINT_URL_ECS.
package deployfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"
)

const targetPrefix = "AmazonEC2ContainerServiceV20141113."

// Hook is one lifecycle hook execution as DescribeServiceDeployments reports it.
type Hook struct {
	TargetARN string `json:"targetArn"`
	Status    string `json:"status"`
}

// Step is what DescribeServiceDeployments reports at one poll.
type Step struct {
	Status          string
	Stage           string
	StatusReason    string
	RollbackReason  string
	TriggeredAlarms []string
	Hooks           []Hook
	// CircuitBreaker: failure count and threshold (status TRIGGERED when count >= threshold > 0).
	FailureCount, Threshold int32
}

// Success is a BLUE_GREEN deployment that completes.
var Success = []Step{
	{Status: "IN_PROGRESS", Stage: "PRE_SCALE_UP"},
	{Status: "IN_PROGRESS", Stage: "SCALE_UP"},
	{Status: "IN_PROGRESS", Stage: "POST_TEST_TRAFFIC_SHIFT", Hooks: []Hook{{TargetARN: "arn:aws:lambda:us-east-1:123456789012:function:smoke", Status: "SUCCEEDED"}}},
	{Status: "IN_PROGRESS", Stage: "PRODUCTION_TRAFFIC_SHIFT"},
	{Status: "IN_PROGRESS", Stage: "BAKE_TIME"},
	{Status: "SUCCESSFUL", Stage: "CLEAN_UP", StatusReason: "Service deployment completed"},
}

// HookRollback is a deployment that ECS rolls back because the smoke-test hook failed.
var HookRollback = []Step{
	{Status: "IN_PROGRESS", Stage: "SCALE_UP"},
	{Status: "IN_PROGRESS", Stage: "POST_TEST_TRAFFIC_SHIFT", Hooks: []Hook{{TargetARN: "arn:aws:lambda:us-east-1:123456789012:function:smoke", Status: "IN_PROGRESS"}}},
	{Status: "ROLLBACK_IN_PROGRESS", Stage: "POST_TEST_TRAFFIC_SHIFT",
		StatusReason:   "Service deployment rolled back because POST_TEST_TRAFFIC_SHIFT lifecycle hook(s) failed.",
		RollbackReason: "POST_TEST_TRAFFIC_SHIFT lifecycle hook(s) failed",
		Hooks:          []Hook{{TargetARN: "arn:aws:lambda:us-east-1:123456789012:function:smoke", Status: "FAILED"}}},
	{Status: "ROLLBACK_SUCCESSFUL", Stage: "CLEAN_UP",
		StatusReason:   "Service deployment rolled back because POST_TEST_TRAFFIC_SHIFT lifecycle hook(s) failed.",
		RollbackReason: "POST_TEST_TRAFFIC_SHIFT lifecycle hook(s) failed",
		Hooks:          []Hook{{TargetARN: "arn:aws:lambda:us-east-1:123456789012:function:smoke", Status: "FAILED"}}},
}

// Stuck never finishes (for deadline tests).
var Stuck = []Step{{Status: "IN_PROGRESS", Stage: "POST_TEST_TRAFFIC_SHIFT"}}

// Deployment is one scripted service deployment.
type Deployment struct {
	ARN, ServiceARN, ClusterARN, RevisionARN, TaskDefinition string
	PreviousTaskDefinition, PreviousRevisionARN              string
	Cluster, Service                                         string
	CreatedAt                                                time.Time
	Steps                                                    []Step
	// Index is the step last reported: -2 at creation; the first DescribeServiceDeployments
	// reports PENDING (index -1), the next ones the scripted steps, one per call.
	Index         int
	StopRequested bool
	restored      bool
	headers       http.Header
}

func (d *Deployment) current() Step {
	if d.Index < 0 {
		return Step{Status: "PENDING"}
	}
	return d.Steps[d.Index]
}

type apiError struct {
	code, message string
	times         int
}

// Server is the fake. Create it with New; Close stops it.
type Server struct {
	URL string
	// ReportCurrentDeployment makes UpdateService's response carry
	// service.currentServiceDeployment (the first way greenlight finds the deployment); when
	// false greenlight must fall back to ListServiceDeployments.
	ReportCurrentDeployment bool

	moto  *url.URL
	proxy *httputil.ReverseProxy
	srv   *httptest.Server

	mu          sync.Mutex
	scripts     map[string][]Step
	deployments []*Deployment
	failures    map[string]*apiError
	calls       map[string]int
	seq         int
}

// New starts the fake in front of the moto endpoint motoURL.
func New(motoURL string) (*Server, error) {
	u, err := url.Parse(motoURL)
	if err != nil {
		return nil, err
	}
	s := &Server{moto: u, proxy: httputil.NewSingleHostReverseProxy(u), scripts: map[string][]Step{},
		failures: map[string]*apiError{}, calls: map[string]int{}, ReportCurrentDeployment: true}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s, nil
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Script sets the steps of the next deployments of cluster/service (default Success).
func (s *Server) Script(cluster, service string, steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripts[cluster+"/"+service] = steps
}

// Fail makes the next times calls of op answer with an AWS error code (400).
func (s *Server) Fail(op, code, message string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[op] = &apiError{code: code, message: message, times: times}
}

// FailService is Fail for the calls of op that name the service (request field "service").
func (s *Server) FailService(op, service, code, message string, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failures[op+"/"+service] = &apiError{code: code, message: message, times: times}
}

// Calls is how many times op was called (answered or forwarded).
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

// Deployments returns copies of every deployment created so far.
func (s *Server) Deployments() []Deployment {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Deployment, len(s.deployments))
	for i, d := range s.deployments {
		out[i] = *d
	}
	return out
}

// AddDeployment registers a deployment greenlight did not start (for the "another
// deployment is active" path); it advances like any other.
func (s *Server) AddDeployment(account, cluster, service, taskDef string, steps ...Step) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.newDeployment(account, cluster, service, taskDef, "", steps, nil)
	return d.ARN
}

func (s *Server) newDeployment(account, cluster, service, taskDef, prevTD string, steps []Step, h http.Header) *Deployment {
	s.seq++
	base := fmt.Sprintf("arn:aws:ecs:us-east-1:%s:", account)
	d := &Deployment{
		ARN:            fmt.Sprintf("%sservice-deployment/%s/%s/fake%06d", base, cluster, service, s.seq),
		ServiceARN:     fmt.Sprintf("%sservice/%s/%s", base, cluster, service),
		ClusterARN:     fmt.Sprintf("%scluster/%s", base, cluster),
		RevisionARN:    fmt.Sprintf("%sservice-revision/%s/%s/%d", base, cluster, service, 1000+s.seq),
		TaskDefinition: taskDef, PreviousTaskDefinition: prevTD,
		Cluster: cluster, Service: service, CreatedAt: time.Now().UTC(), Steps: steps, Index: -2, headers: h,
	}
	for _, old := range s.deployments {
		if old.Cluster == cluster && old.Service == service {
			d.PreviousRevisionARN = old.RevisionARN
		}
	}
	s.deployments = append(s.deployments, d)
	return d
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	if !strings.HasPrefix(target, targetPrefix) {
		s.proxy.ServeHTTP(w, r)
		return
	}
	op := strings.TrimPrefix(target, targetPrefix)
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	var named struct {
		Service string `json:"service"`
	}
	_ = json.Unmarshal(body, &named)
	s.mu.Lock()
	s.calls[op]++
	f := s.failures[op]
	if sf := s.failures[op+"/"+named.Service]; named.Service != "" && sf != nil && sf.times > 0 {
		f = sf
	}
	if f != nil && f.times > 0 {
		f.times--
		s.mu.Unlock()
		writeError(w, f.code, f.message)
		return
	}
	s.mu.Unlock()
	switch op {
	case "ListServiceDeployments":
		s.list(w, body)
	case "DescribeServiceDeployments":
		s.describe(w, body)
	case "StopServiceDeployment":
		s.stop(w, body)
	case "DescribeServiceRevisions":
		s.revisions(w, body)
	case "UpdateService":
		s.update(w, r, body)
	default:
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		s.proxy.ServeHTTP(w, r)
	}
}

func writeError(w http.ResponseWriter, code, msg string) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"__type": code, "message": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_ = json.NewEncoder(w).Encode(v)
}

func epoch(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// forward sends an ECS call to moto with the original request's headers.
func (s *Server) forward(h http.Header, op string, body []byte) (int, []byte, error) {
	req, err := http.NewRequest(http.MethodPost, s.moto.String()+"/", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for k, v := range h {
		if !strings.EqualFold(k, "Content-Length") {
			req.Header[k] = v
		}
	}
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func (s *Server) update(w http.ResponseWriter, r *http.Request, body []byte) {
	var in struct {
		Cluster        string `json:"cluster"`
		Service        string `json:"service"`
		TaskDefinition string `json:"taskDefinition"`
	}
	_ = json.Unmarshal(body, &in)
	// What the service runs before the update (for the rollback to restore).
	prevTD := ""
	if code, b, err := s.forward(r.Header, "DescribeServices", mustJSON(map[string]any{"cluster": in.Cluster, "services": []string{in.Service}})); err == nil && code == 200 {
		var out struct {
			Services []struct {
				TaskDefinition string `json:"taskDefinition"`
			} `json:"services"`
		}
		if json.Unmarshal(b, &out) == nil && len(out.Services) > 0 {
			prevTD = out.Services[0].TaskDefinition
		}
	}
	code, b, err := s.forward(r.Header, "UpdateService", body)
	if err != nil {
		writeError(w, "ServerException", err.Error())
		return
	}
	if code != 200 || in.TaskDefinition == "" {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(code)
		_, _ = w.Write(b)
		return
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		writeError(w, "ServerException", "moto UpdateService: "+err.Error())
		return
	}
	svc, _ := out["service"].(map[string]any)
	account := accountOf(fmt.Sprint(svc["serviceArn"]))
	cluster := in.Cluster
	if i := strings.LastIndex(cluster, "/"); i >= 0 {
		cluster = cluster[i+1:]
	}
	s.mu.Lock()
	steps := s.scripts[cluster+"/"+in.Service]
	if steps == nil {
		steps = Success
	}
	d := s.newDeployment(account, cluster, in.Service, in.TaskDefinition, prevTD, steps, r.Header.Clone())
	report := s.ReportCurrentDeployment
	s.mu.Unlock()
	if report && svc != nil {
		svc["currentServiceDeployment"] = d.ARN
	}
	writeJSON(w, out)
}

func accountOf(arn string) string {
	p := strings.Split(arn, ":")
	if len(p) > 4 && p[4] != "" {
		return p[4]
	}
	return "123456789012"
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}

func (s *Server) find(arn string) *Deployment {
	for _, d := range s.deployments {
		if d.ARN == arn {
			return d
		}
	}
	return nil
}

func (s *Server) list(w http.ResponseWriter, body []byte) {
	var in struct {
		Cluster   string   `json:"cluster"`
		Service   string   `json:"service"`
		Status    []string `json:"status"`
		CreatedAt *struct {
			After  *float64 `json:"after"`
			Before *float64 `json:"before"`
		} `json:"createdAt"`
	}
	_ = json.Unmarshal(body, &in)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	for i := len(s.deployments) - 1; i >= 0; i-- { // newest first, as ECS lists them
		d := s.deployments[i]
		if d.Service != in.Service || (in.Cluster != "" && d.Cluster != in.Cluster && d.ClusterARN != in.Cluster) {
			continue
		}
		st := d.current().Status
		if len(in.Status) > 0 && !contains(in.Status, st) {
			continue
		}
		if c := in.CreatedAt; c != nil {
			if c.After != nil && epoch(d.CreatedAt) < *c.After {
				continue
			}
			if c.Before != nil && epoch(d.CreatedAt) > *c.Before {
				continue
			}
		}
		out = append(out, map[string]any{
			"serviceDeploymentArn": d.ARN, "serviceArn": d.ServiceARN, "clusterArn": d.ClusterARN,
			"status": st, "targetServiceRevisionArn": d.RevisionARN, "createdAt": epoch(d.CreatedAt),
		})
	}
	writeJSON(w, map[string]any{"serviceDeployments": nonNil(out)})
}

func (s *Server) describe(w http.ResponseWriter, body []byte) {
	var in struct {
		ARNs []string `json:"serviceDeploymentArns"`
	}
	_ = json.Unmarshal(body, &in)
	var out, failures []map[string]any
	var restore []*Deployment
	s.mu.Lock()
	for _, arn := range in.ARNs {
		d := s.find(arn)
		if d == nil {
			failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
			continue
		}
		if d.Index < len(d.Steps)-1 {
			d.Index++
		}
		st := d.current()
		if st.Status == "ROLLBACK_SUCCESSFUL" && !d.restored && d.PreviousTaskDefinition != "" {
			d.restored = true
			restore = append(restore, d)
		}
		out = append(out, render(d, st))
	}
	s.mu.Unlock()
	for _, d := range restore { // ECS put blue back: so does the fake, in moto
		_, _, _ = s.forward(d.headers, "UpdateService", mustJSON(map[string]any{
			"cluster": d.Cluster, "service": d.Service, "taskDefinition": d.PreviousTaskDefinition}))
	}
	writeJSON(w, map[string]any{"serviceDeployments": nonNil(out), "failures": nonNil(failures)})
}

func render(d *Deployment, st Step) map[string]any {
	now := epoch(time.Now())
	m := map[string]any{
		"serviceDeploymentArn": d.ARN, "serviceArn": d.ServiceARN, "clusterArn": d.ClusterARN,
		"status": st.Status, "createdAt": epoch(d.CreatedAt), "startedAt": epoch(d.CreatedAt), "updatedAt": now,
		"targetServiceRevision": map[string]any{"arn": d.RevisionARN, "requestedTaskCount": 2, "runningTaskCount": 2, "pendingTaskCount": 0},
	}
	if st.Stage != "" {
		m["lifecycleStage"] = st.Stage
	}
	if st.StatusReason != "" {
		m["statusReason"] = st.StatusReason
	}
	if d.PreviousRevisionARN != "" {
		m["sourceServiceRevisions"] = []map[string]any{{"arn": d.PreviousRevisionARN, "requestedTaskCount": 2, "runningTaskCount": 2}}
	}
	if st.RollbackReason != "" {
		m["rollback"] = map[string]any{"reason": st.RollbackReason, "serviceRevisionArn": d.PreviousRevisionARN, "startedAt": now}
	}
	if len(st.TriggeredAlarms) > 0 {
		m["alarms"] = map[string]any{"alarmNames": st.TriggeredAlarms, "status": "TRIGGERED", "triggeredAlarmNames": st.TriggeredAlarms}
	}
	if st.Threshold > 0 {
		status := "MONITORING"
		if st.FailureCount >= st.Threshold {
			status = "TRIGGERED"
		}
		m["deploymentCircuitBreaker"] = map[string]any{"status": status, "failureCount": st.FailureCount, "threshold": st.Threshold}
	}
	var hooks []map[string]any
	for i, h := range st.Hooks {
		hooks = append(hooks, map[string]any{"hookId": fmt.Sprintf("hook-%d", i), "targetType": "AWS_LAMBDA", "targetArn": h.TargetARN, "status": h.Status, "timeoutAction": "ROLLBACK"})
	}
	if hooks != nil {
		m["lifecycleHookDetails"] = hooks
	}
	switch st.Status {
	case "SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "STOPPED":
		m["finishedAt"] = now
	}
	return m
}

func (s *Server) stop(w http.ResponseWriter, body []byte) {
	var in struct {
		ARN      string `json:"serviceDeploymentArn"`
		StopType string `json:"stopType"`
	}
	_ = json.Unmarshal(body, &in)
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.find(in.ARN)
	if d == nil {
		writeError(w, "ServiceDeploymentNotFoundException", "service deployment "+in.ARN+" not found")
		return
	}
	st := d.current()
	switch st.Status {
	case "SUCCESSFUL", "ROLLBACK_SUCCESSFUL", "ROLLBACK_FAILED", "STOPPED":
		writeError(w, "ConflictException", "service deployment "+in.ARN+" is already "+st.Status)
		return
	}
	d.StopRequested = true
	reason := "Service deployment rolled back because a stop was requested."
	stage := st.Stage
	d.Steps = append(append([]Step(nil), d.Steps[:max(d.Index+1, 0)]...),
		Step{Status: "ROLLBACK_REQUESTED", Stage: stage, StatusReason: reason, RollbackReason: "stop requested"},
		Step{Status: "ROLLBACK_SUCCESSFUL", Stage: "CLEAN_UP", StatusReason: reason, RollbackReason: "stop requested"})
	writeJSON(w, map[string]any{"serviceDeploymentArn": in.ARN})
}

func (s *Server) revisions(w http.ResponseWriter, body []byte) {
	var in struct {
		ARNs []string `json:"serviceRevisionArns"`
	}
	_ = json.Unmarshal(body, &in)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out, failures []map[string]any
	for _, arn := range in.ARNs {
		var hit *Deployment
		for _, d := range s.deployments {
			if d.RevisionARN == arn {
				hit = d
			}
		}
		if hit == nil {
			failures = append(failures, map[string]any{"arn": arn, "reason": "MISSING"})
			continue
		}
		out = append(out, map[string]any{
			"serviceRevisionArn": hit.RevisionARN, "serviceArn": hit.ServiceARN, "clusterArn": hit.ClusterARN,
			"taskDefinition": hit.TaskDefinition, "createdAt": epoch(hit.CreatedAt),
		})
	}
	writeJSON(w, map[string]any{"serviceRevisions": nonNil(out), "failures": nonNil(failures)})
}

func nonNil(v []map[string]any) []map[string]any {
	if v == nil {
		return []map[string]any{}
	}
	return v
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
