package ecsemu

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The ECS endpoint: JSON 1.1 over POST /, X-Amz-Target AmazonEC2ContainerServiceV20141113.<Op>.

const targetPrefix = "AmazonEC2ContainerServiceV20141113."

// apiError is an ECS error response: HTTP 400, {"__type": "...#<typ>", "message": ...}.
type apiError struct {
	status int
	typ    string
	msg    string
}

func (a *apiError) Error() string { return a.typ + ": " + a.msg }

// rawResponse passes moto's answer through unchanged.
type rawResponse struct {
	status int
	body   []byte
}

func (r *rawResponse) Error() string {
	return fmt.Sprintf("upstream HTTP %d: %s", r.status, truncate(string(r.body), 200))
}

// errForward sends the request to moto unchanged.
var errForward = errors.New("forward to upstream")

type handlerFunc func(ctx context.Context, hdr http.Header, body []byte) (any, error)

func (e *Emulator) handler(op string) handlerFunc {
	switch op {
	case "CreateService":
		return e.hCreateService
	case "UpdateService":
		return e.hUpdateService
	case "DescribeServices":
		return e.hDescribeServices
	case "ListServiceDeployments":
		return e.hListServiceDeployments
	case "DescribeServiceDeployments":
		return e.hDescribeServiceDeployments
	case "StopServiceDeployment":
		return e.hStopServiceDeployment
	case "ContinueServiceDeployment":
		return e.hContinueServiceDeployment
	case "DescribeServiceRevisions":
		return e.hDescribeServiceRevisions
	case "ListTasks":
		return e.hListTasks
	case "DescribeTasks":
		return e.hDescribeTasks
	case "StopTask":
		return e.hStopTask
	}
	if e.opts.Upstream == "" {
		switch op {
		case "CreateCluster":
			return e.hCreateCluster
		case "RegisterTaskDefinition":
			return e.hRegisterTaskDefinition
		case "DescribeTaskDefinition":
			return e.hDescribeTaskDefinition
		}
	}
	return nil
}

func (e *Emulator) serveHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if r.Method != http.MethodPost || !ok {
		writeError(w, &apiError{typ: "UnknownOperationException", msg: fmt.Sprintf(
			"the ECS emulator speaks the ECS JSON 1.1 protocol: POST / with X-Amz-Target %s<Operation> (got %s %q)", targetPrefix, r.Method, target)})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
	if err != nil {
		writeError(w, &apiError{status: 400, typ: "ClientException", msg: "cannot read request body: " + err.Error()})
		return
	}
	start := time.Now()
	if e.throttle.decide(op) {
		writeError(w, throttledError)
		e.log.Info("ecs emulator: throttled (fault injection)", "operation", op)
		return
	}
	h := e.handler(op)
	var out any
	if h == nil {
		err = errForward
	} else {
		out, err = h(r.Context(), r.Header, body)
	}
	if errors.Is(err, errForward) {
		if e.opts.Upstream == "" {
			writeError(w, &apiError{typ: "UnknownOperationException", msg: fmt.Sprintf(
				"%s is not emulated and the ECS emulator has no upstream (moto) to forward it to; start it with Options.Upstream", op)})
			return
		}
		e.forward(w, r, body)
		e.log.Debug("ecs emulator: forwarded", "operation", op, "took", time.Since(start))
		return
	}
	var raw *rawResponse
	var ae *apiError
	switch {
	case errors.As(err, &raw):
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(raw.status)
		_, _ = w.Write(raw.body)
	case errors.As(err, &ae):
		writeError(w, ae)
	case err != nil:
		writeError(w, &apiError{status: 500, typ: "ServerException", msg: err.Error()})
	default:
		b, merr := json.Marshal(out)
		if merr != nil {
			writeError(w, &apiError{status: 500, typ: "ServerException", msg: merr.Error()})
			return
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("X-Amzn-Requestid", uuid())
		_, _ = w.Write(b)
	}
	if err != nil {
		e.log.Info("ecs emulator: request failed", "operation", op, "error", err.Error())
	} else {
		e.log.Debug("ecs emulator: request", "operation", op, "took", time.Since(start))
	}
}

func writeError(w http.ResponseWriter, ae *apiError) {
	status := ae.status
	if status == 0 {
		status = http.StatusBadRequest
	}
	b, _ := json.Marshal(map[string]string{"__type": "com.amazonaws.ecs#" + ae.typ, "message": ae.msg})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-Requestid", uuid())
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// forward proxies the request to moto byte for byte.
func (e *Emulator) forward(w http.ResponseWriter, r *http.Request, body []byte) {
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, e.opts.Upstream+r.URL.RequestURI(), bytes.NewReader(body))
	if err != nil {
		writeError(w, &apiError{status: 500, typ: "ServerException", msg: err.Error()})
		return
	}
	for k, vs := range r.Header {
		if k == "Content-Length" || k == "Host" {
			continue
		}
		req.Header[k] = vs
	}
	resp, err := e.httpc.Do(req)
	if err != nil {
		writeError(w, &apiError{status: 500, typ: "ServerException", msg: "the ECS emulator could not reach moto at " + e.opts.Upstream + ": " + err.Error()})
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if k == "Content-Length" {
			continue
		}
		w.Header()[k] = vs
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body)
}

// upstreamCall sends one ECS operation to moto with the caller's credentials and account.
func (e *Emulator) upstreamCall(ctx context.Context, hdr http.Header, op string, body []byte) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.opts.Upstream+"/", bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	for _, k := range []string{"Authorization", "X-Amz-Date", "X-Amz-Security-Token", "X-Moto-Account-Id", "User-Agent"} {
		if v := hdr.Get(k); v != "" {
			req.Header.Set(k, v)
		}
	}
	req.Header.Set("X-Amz-Target", targetPrefix+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := e.httpc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("the ECS emulator could not reach moto at %s: %w", e.opts.Upstream, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

func decode(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil
	}
	if err := json.Unmarshal(body, v); err != nil {
		return &apiError{typ: "ClientException", msg: "request body is not valid ECS JSON: " + err.Error()}
	}
	return nil
}

// --- task definitions

func (e *Emulator) describeTaskDefinition(ctx context.Context, hdr http.Header, ref string) (*taskDefinitionWire, error) {
	if ref == "" {
		return nil, &apiError{typ: "InvalidParameterException", msg: "taskDefinition is required"}
	}
	if e.opts.Upstream == "" {
		e.mu.Lock()
		defer e.mu.Unlock()
		if td := e.lookupTaskDefinitionLocked(ref); td != nil {
			return td, nil
		}
		return nil, &apiError{typ: "ClientException", msg: "Unable to describe task definition " + ref + ": register it first (RegisterTaskDefinition)"}
	}
	in, _ := json.Marshal(map[string]string{"taskDefinition": ref})
	status, body, err := e.upstreamCall(ctx, hdr, "DescribeTaskDefinition", in)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &apiError{typ: "ClientException", msg: "Unable to describe task definition " + ref + ": " + truncate(string(body), 200)}
	}
	var out struct {
		TaskDefinition taskDefinitionWire `json:"taskDefinition"`
	}
	if err := json.Unmarshal(body, &out); err != nil || out.TaskDefinition.TaskDefinitionArn == "" {
		return nil, fmt.Errorf("moto's DescribeTaskDefinition answer for %s is unreadable: %s", ref, truncate(string(body), 200))
	}
	return &out.TaskDefinition, nil
}

func (e *Emulator) lookupTaskDefinitionLocked(ref string) *taskDefinitionWire {
	if td := e.taskDefs[ref]; td != nil {
		return td
	}
	name := ref
	if i := strings.LastIndex(ref, ":task-definition/"); i >= 0 {
		name = ref[i+len(":task-definition/"):]
	}
	if td := e.taskDefs[name]; td != nil {
		return td
	}
	if n := e.families[name]; n > 0 {
		return e.taskDefs[name+":"+strconv.Itoa(n)]
	}
	return nil
}

// --- operations

func (e *Emulator) hCreateService(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in createServiceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	var ctl struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(in.DeploymentController, &ctl)
	var cfg deploymentConfiguration
	if len(in.DeploymentConfiguration) > 0 {
		if err := json.Unmarshal(in.DeploymentConfiguration, &cfg); err != nil {
			return nil, &apiError{typ: "InvalidParameterException", msg: "deploymentConfiguration: " + err.Error()}
		}
	}
	if !emulatedStrategy(cfg.Strategy) || (ctl.Type != "" && ctl.Type != "ECS") {
		if e.opts.Upstream != "" {
			return nil, errForward
		}
		return nil, &apiError{typ: "UnsupportedFeatureException", msg: fmt.Sprintf(
			"the ECS emulator runs only services with deploymentController ECS and deploymentConfiguration.strategy BLUE_GREEN, LINEAR or CANARY (got controller %q, strategy %q)", ctl.Type, cfg.Strategy)}
	}
	var lbs []loadBalancerWire
	if len(in.LoadBalancers) > 0 {
		if err := json.Unmarshal(in.LoadBalancers, &lbs); err != nil {
			return nil, &apiError{typ: "InvalidParameterException", msg: "loadBalancers: " + err.Error()}
		}
	}
	lb, err := validateBlueGreen(cfg, lbs)
	if err != nil {
		return nil, err
	}
	if in.ServiceName == "" {
		return nil, &apiError{typ: "InvalidParameterException", msg: "serviceName is required"}
	}
	cluster := clusterName(in.Cluster)
	e.mu.Lock()
	exists := e.services[svcKey(cluster, in.ServiceName)] != nil
	clusterKnown := e.clusters[cluster]
	var shared string
	for _, other := range e.services {
		for _, arn := range []string{lb.TargetGroupArn, lb.AdvancedConfiguration.AlternateTargetGroupArn} {
			if arn == other.tgs[0] || arn == other.tgs[1] {
				shared = fmt.Sprintf("target group %s is already used by service %s/%s", arn, other.cluster, other.name)
			}
		}
		for _, rule := range []string{lb.AdvancedConfiguration.ProductionListenerRule, lb.AdvancedConfiguration.TestListenerRule} {
			if rule != "" && (rule == other.prodRule || rule == other.testRule) {
				shared = fmt.Sprintf("listener rule %s is already used by service %s/%s", rule, other.cluster, other.name)
			}
		}
	}
	e.mu.Unlock()
	if exists {
		return nil, &apiError{typ: "InvalidParameterException", msg: "Creation of service was not idempotent."}
	}
	if shared != "" {
		return nil, &apiError{typ: "InvalidParameterException", msg: "the ECS emulator gives each blue/green service its own target groups and listener rules: " + shared}
	}
	if e.opts.Upstream == "" && !clusterKnown {
		return nil, &apiError{typ: "ClusterNotFoundException", msg: "Cluster not found."}
	}
	td, err := e.describeTaskDefinition(ctx, hdr, in.TaskDefinition)
	if err != nil {
		return nil, err
	}
	s := &service{cluster: cluster, name: in.ServiceName, launchType: in.LaunchType, platform: in.PlatformVersion,
		createdAt: time.Now(), cfg: cfg, cfgRaw: in.DeploymentConfiguration, controllerRaw: in.DeploymentController,
		lbsRaw: in.LoadBalancers, netRaw: in.NetworkConfiguration, taskDef: td.TaskDefinitionArn, desired: 1}
	if in.DesiredCount != nil {
		s.desired = *in.DesiredCount
	}
	if s.launchType == "" {
		s.launchType = "FARGATE"
	}
	if s.launchType == "FARGATE" && s.platform == "" {
		s.platform = "1.4.0"
	}
	if in.HealthCheckGracePeriodSeconds != nil {
		s.grace = e.scale(time.Duration(*in.HealthCheckGracePeriodSeconds) * time.Second)
	}
	var nc networkConfiguration
	if json.Unmarshal(in.NetworkConfiguration, &nc) == nil && nc.AwsvpcConfiguration != nil && len(nc.AwsvpcConfiguration.Subnets) > 0 {
		s.subnet = nc.AwsvpcConfiguration.Subnets[0]
	}
	if _, err := e.lbContainer(s, td); err != nil && lb.ContainerName != "" {
		found := false
		for _, c := range td.ContainerDefinitions {
			found = found || c.Name == lb.ContainerName
		}
		if !found {
			return nil, &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf("loadBalancers[0].containerName %q is not a container of task definition %s", lb.ContainerName, td.TaskDefinitionArn)}
		}
	}
	var base map[string]any
	if e.opts.Upstream != "" {
		status, resp, err := e.upstreamCall(ctx, hdr, "CreateService", body)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, &rawResponse{status: status, body: resp}
		}
		var out struct {
			Service map[string]any `json:"service"`
		}
		if err := json.Unmarshal(resp, &out); err != nil {
			return nil, fmt.Errorf("moto's CreateService answer is unreadable: %w", err)
		}
		base = out.Service
	}
	s.arn, _ = base["serviceArn"].(string)
	s.clusterArn, _ = base["clusterArn"].(string)
	if s.arn == "" {
		s.arn = e.arn("", "", "service/"+cluster+"/"+s.name)
	}
	// arn:aws:ecs:<region>:<account>:service/…
	if parts := strings.SplitN(s.arn, ":", 6); len(parts) == 6 {
		s.region, s.account = parts[3], parts[4]
	}
	if s.clusterArn == "" {
		s.clusterArn = e.arn(s.account, s.region, "cluster/"+cluster)
	}
	if err := e.setupLoadBalancing(ctx, s, lb); err != nil {
		return nil, err
	}
	e.createService(s, lb, td)
	e.mu.Lock()
	defer e.mu.Unlock()
	return map[string]any{"service": e.serviceOut(base, s)}, nil
}

func (e *Emulator) findService(cluster, svc string) *service {
	c2, name := serviceName(svc)
	if cluster == "" && c2 != "" {
		cluster = c2
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.services[svcKey(clusterName(cluster), name)]
}

func (e *Emulator) hUpdateService(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in updateServiceInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	s := e.findService(in.Cluster, in.Service)
	if s == nil {
		if e.opts.Upstream != "" {
			return nil, errForward
		}
		return nil, &apiError{typ: "ServiceNotFoundException", msg: "Service not found."}
	}
	var cfg *deploymentConfiguration
	if len(in.DeploymentConfiguration) > 0 {
		var c deploymentConfiguration
		if err := json.Unmarshal(in.DeploymentConfiguration, &c); err != nil {
			return nil, &apiError{typ: "InvalidParameterException", msg: "deploymentConfiguration: " + err.Error()}
		}
		if c.Strategy == "" {
			c.Strategy = s.cfg.Strategy
		}
		if !emulatedStrategy(c.Strategy) {
			return nil, &apiError{typ: "UnsupportedFeatureException", msg: fmt.Sprintf("the ECS emulator runs only BLUE_GREEN, LINEAR and CANARY deployments; strategy %q is not emulated", c.Strategy)}
		}
		if c.BakeTimeInMinutes == nil {
			c.BakeTimeInMinutes = s.cfg.BakeTimeInMinutes
		}
		if c.Strategy == s.cfg.Strategy && c.LinearConfiguration == nil && c.CanaryConfiguration == nil {
			c.LinearConfiguration, c.CanaryConfiguration = s.cfg.LinearConfiguration, s.cfg.CanaryConfiguration
		}
		if err := errors.Join(strategyValid(c), hookStagesValid(c)); err != nil {
			return nil, &apiError{typ: "InvalidParameterException", msg: err.Error()}
		}
		cfg = &c
	}
	if in.DesiredCount != nil && *in.DesiredCount < 0 {
		return nil, &apiError{typ: "InvalidParameterException", msg: "desiredCount must be 0 or more"}
	}
	var td *taskDefinitionWire
	if in.TaskDefinition != "" {
		var err error
		if td, err = e.describeTaskDefinition(ctx, hdr, in.TaskDefinition); err != nil {
			return nil, err
		}
		if _, err := e.lbContainer(s, td); err != nil {
			return nil, &apiError{typ: "InvalidParameterException", msg: err.Error()}
		}
	}
	var base map[string]any
	if e.opts.Upstream != "" {
		status, resp, err := e.upstreamCall(ctx, hdr, "UpdateService", body)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, &rawResponse{status: status, body: resp}
		}
		var out struct {
			Service map[string]any `json:"service"`
		}
		_ = json.Unmarshal(resp, &out)
		base = out.Service
	}
	e.updateService(s, td, in, cfg)
	e.mu.Lock()
	defer e.mu.Unlock()
	return map[string]any{"service": e.serviceOut(base, s)}, nil
}

func (e *Emulator) hDescribeServices(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		Cluster  string   `json:"cluster"`
		Services []string `json:"services"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	cluster := clusterName(in.Cluster)
	if e.opts.Upstream != "" {
		status, resp, err := e.upstreamCall(ctx, hdr, "DescribeServices", body)
		if err != nil {
			return nil, err
		}
		if status != http.StatusOK {
			return nil, &rawResponse{status: status, body: resp}
		}
		var out map[string]json.RawMessage
		var svcs []map[string]any
		if json.Unmarshal(resp, &out) != nil || json.Unmarshal(out["services"], &svcs) != nil {
			return nil, &rawResponse{status: status, body: resp}
		}
		e.mu.Lock()
		for i, m := range svcs {
			name, _ := m["serviceName"].(string)
			if s := e.services[svcKey(cluster, name)]; s != nil {
				svcs[i] = e.serviceOut(m, s)
			}
		}
		e.mu.Unlock()
		res := map[string]any{"services": svcs, "failures": json.RawMessage(`[]`)}
		if f, ok := out["failures"]; ok && len(f) > 0 && string(f) != "null" {
			res["failures"] = f
		}
		return res, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	svcs := []map[string]any{}
	failures := []failureWire{}
	for _, ref := range in.Services {
		c2, name := serviceName(ref)
		cl := cluster
		if in.Cluster == "" && c2 != "" {
			cl = c2
		}
		if s := e.services[svcKey(cl, name)]; s != nil {
			svcs = append(svcs, e.serviceOut(nil, s))
		} else {
			failures = append(failures, failureWire{Arn: e.arn("", "", "service/"+cl+"/"+name), Reason: "MISSING"})
		}
	}
	return map[string]any{"services": svcs, "failures": failures}, nil
}

// serviceOrError finds an emulated service or says which of cluster and service is unknown.
func (e *Emulator) serviceOrError(ctx context.Context, hdr http.Header, cluster, svc string) (*service, error) {
	if s := e.findService(cluster, svc); s != nil {
		return s, nil
	}
	c2, _ := serviceName(svc)
	if cluster == "" {
		cluster = c2
	}
	cluster = clusterName(cluster)
	if !e.clusterExists(ctx, hdr, cluster) {
		return nil, &apiError{typ: "ClusterNotFoundException", msg: "Cluster not found."}
	}
	return nil, &apiError{typ: "ServiceNotFoundException", msg: "Service not found."}
}

func (e *Emulator) clusterExists(ctx context.Context, hdr http.Header, cluster string) bool {
	e.mu.Lock()
	if e.clusters[cluster] {
		e.mu.Unlock()
		return true
	}
	for _, s := range e.services {
		if s.cluster == cluster {
			e.mu.Unlock()
			return true
		}
	}
	e.mu.Unlock()
	if e.opts.Upstream == "" {
		return false
	}
	in, _ := json.Marshal(map[string][]string{"clusters": {cluster}})
	status, body, err := e.upstreamCall(ctx, hdr, "DescribeClusters", in)
	if err != nil || status != http.StatusOK {
		return false
	}
	var out struct {
		Clusters []json.RawMessage `json:"clusters"`
	}
	_ = json.Unmarshal(body, &out)
	return len(out.Clusters) > 0
}

func pageToken(next int) string {
	return base64.RawURLEncoding.EncodeToString([]byte("ecsemu:" + strconv.Itoa(next)))
}

func parsePageToken(tok string) (int, error) {
	if tok == "" {
		return 0, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err == nil {
		if n, ok := strings.CutPrefix(string(b), "ecsemu:"); ok {
			if i, err := strconv.Atoi(n); err == nil && i >= 0 {
				return i, nil
			}
		}
	}
	return 0, &apiError{typ: "InvalidParameterException", msg: "nextToken is not one this endpoint issued"}
}

func (e *Emulator) hListServiceDeployments(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		Service   string   `json:"service"`
		Cluster   string   `json:"cluster"`
		Status    []string `json:"status"`
		CreatedAt *struct {
			After  *epoch `json:"after"`
			Before *epoch `json:"before"`
		} `json:"createdAt"`
		MaxResults *int   `json:"maxResults"`
		NextToken  string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Service == "" {
		return nil, &apiError{typ: "InvalidParameterException", msg: "service is required"}
	}
	s, err := e.serviceOrError(ctx, hdr, in.Cluster, in.Service)
	if err != nil {
		return nil, err
	}
	limit := 20
	if in.MaxResults != nil {
		if *in.MaxResults < 1 || *in.MaxResults > 100 {
			return nil, &apiError{typ: "InvalidParameterException", msg: "maxResults must be between 1 and 100"}
		}
		limit = *in.MaxResults
	}
	offset, err := parsePageToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var all []serviceDeploymentBrief
	for i := len(s.deployments) - 1; i >= 0; i-- { // newest first
		d := s.deployments[i]
		if len(in.Status) > 0 && !contains(in.Status, d.status) {
			continue
		}
		if in.CreatedAt != nil {
			if in.CreatedAt.After != nil && d.createdAt.Before(time.Time(*in.CreatedAt.After)) {
				continue
			}
			if in.CreatedAt.Before != nil && d.createdAt.After(time.Time(*in.CreatedAt.Before)) {
				continue
			}
		}
		all = append(all, briefOut(e.deploymentOutLocked(d)))
	}
	out := map[string]any{"serviceDeployments": []serviceDeploymentBrief{}}
	if offset < len(all) {
		end := min(offset+limit, len(all))
		out["serviceDeployments"] = all[offset:end]
		if end < len(all) {
			out["nextToken"] = pageToken(end)
		}
	}
	return out, nil
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

func (e *Emulator) hDescribeServiceDeployments(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		ServiceDeploymentArns []string `json:"serviceDeploymentArns"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.ServiceDeploymentArns) == 0 || len(in.ServiceDeploymentArns) > 20 {
		return nil, &apiError{typ: "InvalidParameterException", msg: "serviceDeploymentArns needs 1 to 20 service-deployment ARNs"}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []serviceDeploymentWire{}
	failures := []failureWire{}
	for _, arn := range in.ServiceDeploymentArns {
		if !strings.Contains(arn, ":service-deployment/") {
			return nil, &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf("%q is not a service-deployment ARN (arn:aws:ecs:<region>:<account>:service-deployment/<cluster>/<service>/<id>)", arn)}
		}
		if d := e.deployments[arn]; d != nil {
			out = append(out, e.deploymentOutLocked(d))
		} else {
			failures = append(failures, failureWire{Arn: arn, Reason: "MISSING"})
		}
	}
	return map[string]any{"serviceDeployments": out, "failures": failures}, nil
}

func (e *Emulator) deploymentOrError(arn string) (*deployment, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if d := e.deployments[arn]; d != nil {
		return d, nil
	}
	return nil, &apiError{typ: "ServiceDeploymentNotFoundException", msg: fmt.Sprintf(
		"The service deployment %s does not exist; list a service's deployments with ListServiceDeployments", arn)}
}

func (e *Emulator) hStopServiceDeployment(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		ServiceDeploymentArn string `json:"serviceDeploymentArn"`
		StopType             string `json:"stopType"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	// Reference §3: the only valid stop type is ROLLBACK ([UNCONFIRMED] for ABORT: rejected).
	if in.StopType != "" && in.StopType != "ROLLBACK" {
		return nil, &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf("stopType %q is not supported: the only valid value is ROLLBACK", in.StopType)}
	}
	d, err := e.deploymentOrError(in.ServiceDeploymentArn)
	if err != nil {
		return nil, err
	}
	if err := e.stopDeployment(d); err != nil {
		return nil, err
	}
	return map[string]string{"serviceDeploymentArn": d.arn}, nil
}

func (e *Emulator) hContinueServiceDeployment(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		ServiceDeploymentArn string `json:"serviceDeploymentArn"`
		HookID               string `json:"hookId"`
		Action               string `json:"action"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.Action == "" {
		in.Action = "CONTINUE"
	}
	if in.Action != "CONTINUE" && in.Action != "ROLLBACK" {
		return nil, &apiError{typ: "InvalidParameterException", msg: fmt.Sprintf("action %q: use CONTINUE or ROLLBACK", in.Action)}
	}
	d, err := e.deploymentOrError(in.ServiceDeploymentArn)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	err = e.continueHookLocked(d, in.HookID, in.Action)
	e.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return map[string]string{"serviceDeploymentArn": d.arn}, nil
}

func (e *Emulator) hDescribeServiceRevisions(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		ServiceRevisionArns []string `json:"serviceRevisionArns"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.ServiceRevisionArns) == 0 || len(in.ServiceRevisionArns) > 20 {
		return nil, &apiError{typ: "InvalidParameterException", msg: "serviceRevisionArns needs 1 to 20 service-revision ARNs"}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []serviceRevisionWire{}
	failures := []failureWire{}
	for _, arn := range in.ServiceRevisionArns {
		if r := e.revisions[arn]; r != nil {
			out = append(out, e.revisionOutLocked(r))
		} else {
			failures = append(failures, failureWire{Arn: arn, Reason: "MISSING"})
		}
	}
	return map[string]any{"serviceRevisions": out, "failures": failures}, nil
}

func (e *Emulator) clusterHasServices(cluster string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.services {
		if s.cluster == cluster {
			return true
		}
	}
	return false
}

func (e *Emulator) hListTasks(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		Cluster       string `json:"cluster"`
		ServiceName   string `json:"serviceName"`
		StartedBy     string `json:"startedBy"`
		Family        string `json:"family"`
		DesiredStatus string `json:"desiredStatus"`
		MaxResults    *int   `json:"maxResults"`
		NextToken     string `json:"nextToken"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	cluster := clusterName(in.Cluster)
	if !e.clusterHasServices(cluster) {
		if e.opts.Upstream != "" {
			return nil, errForward
		}
		if !e.clusterExists(ctx, hdr, cluster) {
			return nil, &apiError{typ: "ClusterNotFoundException", msg: "Cluster not found."}
		}
		return map[string]any{"taskArns": []string{}}, nil
	}
	var only *service
	if in.ServiceName != "" {
		s, err := e.serviceOrError(ctx, hdr, cluster, in.ServiceName)
		if err != nil {
			return nil, err
		}
		only = s
	}
	want := in.DesiredStatus
	if want == "" {
		want = "RUNNING"
	}
	limit := 100
	if in.MaxResults != nil && *in.MaxResults > 0 {
		limit = min(*in.MaxResults, 100)
	}
	offset, err := parsePageToken(in.NextToken)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	var arns []string
	var svcs []*service
	for _, s := range e.services {
		if s.cluster == cluster && (only == nil || s == only) {
			svcs = append(svcs, s)
		}
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].name < svcs[j].name })
	for _, s := range svcs {
		for _, t := range s.tasks {
			if want == "RUNNING" && t.desiredStatus != "RUNNING" && t.lastStatus == "STOPPED" {
				continue
			}
			if want == "RUNNING" && t.desiredStatus != "RUNNING" {
				continue
			}
			if want == "STOPPED" && t.desiredStatus != "STOPPED" {
				continue
			}
			if in.StartedBy != "" && "ecs-svc/"+t.rev.id != in.StartedBy {
				continue
			}
			if in.Family != "" && t.rev.td.Family != in.Family {
				continue
			}
			arns = append(arns, t.arn)
		}
	}
	e.mu.Unlock()
	out := map[string]any{"taskArns": []string{}}
	if offset < len(arns) {
		end := min(offset+limit, len(arns))
		out["taskArns"] = arns[offset:end]
		if end < len(arns) {
			out["nextToken"] = pageToken(end)
		}
	}
	return out, nil
}

func (e *Emulator) findTaskLocked(cluster, ref string) *task {
	if t := e.tasksByArn[ref]; t != nil {
		return t
	}
	for _, t := range e.tasksByArn {
		if t.id == ref && t.rev.svc.cluster == cluster {
			return t
		}
	}
	return nil
}

func (e *Emulator) hDescribeTasks(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		Cluster string   `json:"cluster"`
		Tasks   []string `json:"tasks"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Tasks) == 0 || len(in.Tasks) > 100 {
		return nil, &apiError{typ: "InvalidParameterException", msg: "tasks needs 1 to 100 task ARNs or IDs"}
	}
	cluster := clusterName(in.Cluster)
	e.mu.Lock()
	tasks := []taskWire{}
	failures := []failureWire{}
	for _, ref := range in.Tasks {
		if t := e.findTaskLocked(cluster, ref); t != nil {
			tasks = append(tasks, e.taskOutLocked(t))
		} else {
			failures = append(failures, failureWire{Arn: ref, Reason: "MISSING"})
		}
	}
	e.mu.Unlock()
	if len(tasks) == 0 && e.opts.Upstream != "" {
		return nil, errForward
	}
	if len(tasks) == 0 && !e.clusterExists(ctx, hdr, cluster) {
		return nil, &apiError{typ: "ClusterNotFoundException", msg: "Cluster not found."}
	}
	return map[string]any{"tasks": tasks, "failures": failures}, nil
}

func (e *Emulator) hStopTask(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		Cluster string `json:"cluster"`
		Task    string `json:"task"`
		Reason  string `json:"reason"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	t := e.findTaskLocked(clusterName(in.Cluster), in.Task)
	if t == nil {
		e.mu.Unlock()
		if e.opts.Upstream != "" {
			return nil, errForward
		}
		return nil, &apiError{typ: "InvalidParameterException", msg: "The referenced task was not found."}
	}
	reason := in.Reason
	if reason == "" {
		reason = stoppedByUser
	}
	e.stopTaskLocked(t, reason, stopCodeUser)
	e.kickLocked(t.rev.svc)
	out := e.taskOutLocked(t)
	e.mu.Unlock()
	return map[string]any{"task": out}, nil
}

// --- standalone mode (no moto)

func (e *Emulator) hCreateCluster(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		ClusterName string `json:"clusterName"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	name := clusterName(in.ClusterName)
	e.mu.Lock()
	e.clusters[name] = true
	e.mu.Unlock()
	return map[string]any{"cluster": map[string]any{
		"clusterArn": e.arn("", "", "cluster/"+name), "clusterName": name, "status": "ACTIVE",
	}}, nil
}

func (e *Emulator) hRegisterTaskDefinition(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in map[string]any
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	family, _ := in["family"].(string)
	if family == "" {
		return nil, &apiError{typ: "ClientException", msg: "family is required"}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.families[family]++
	rev := e.families[family]
	in["taskDefinitionArn"] = e.arn("", "", "task-definition/"+family+":"+strconv.Itoa(rev))
	in["revision"] = rev
	in["status"] = "ACTIVE"
	in["registeredAt"] = ts(time.Now())
	b, _ := json.Marshal(in)
	var td taskDefinitionWire
	if err := json.Unmarshal(b, &td); err != nil {
		e.families[family]--
		return nil, &apiError{typ: "ClientException", msg: "task definition: " + err.Error()}
	}
	td.raw = b
	e.taskDefs[td.TaskDefinitionArn] = &td
	e.taskDefs[family+":"+strconv.Itoa(rev)] = &td
	return map[string]any{"taskDefinition": json.RawMessage(b)}, nil
}

func (e *Emulator) hDescribeTaskDefinition(ctx context.Context, hdr http.Header, body []byte) (any, error) {
	var in struct {
		TaskDefinition string `json:"taskDefinition"`
	}
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	td := e.lookupTaskDefinitionLocked(in.TaskDefinition)
	if td == nil {
		return nil, &apiError{typ: "ClientException", msg: "Unable to describe task definition."}
	}
	return map[string]any{"taskDefinition": json.RawMessage(td.raw)}, nil
}
