package ecsemu

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Container is what a Runner needs to know to run one task's container as a local process.
type Container struct {
	Name  string
	Image string
	// Port is the container port the load balancer sends traffic to (also in PORT).
	Port int
	// Environment is the task definition's container environment.
	Environment map[string]string
	// Command is the task definition's command override, if any.
	Command           []string
	TaskDefinitionARN string
	TaskARN           string
	Cluster, Service  string
}

// Command is a local process to start for a container. The emulator adds to Env: the
// container's environment from the task definition, HOST=<the task's loopback IP> and
// PORT=<the container port>, plus PATH, HOME and TMPDIR from its own environment.
type Command struct {
	Path string
	Args []string
	Env  []string
	Dir  string
}

// Runner maps containers to commands. The rehearsal maps the sample app's image to the
// sample app binary; tests map any image to a small test server.
type Runner interface {
	Command(c Container) (Command, error)
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(c Container) (Command, error)

// Command implements Runner.
func (f RunnerFunc) Command(c Container) (Command, error) { return f(c) }

// Images is a Runner keyed by image: the exact image reference first, then the reference
// without its digest, then without its tag, then the repository's last path element, then
// "*".
type Images map[string]Command

// Command implements Runner.
func (m Images) Command(c Container) (Command, error) {
	for _, k := range imageKeys(c.Image) {
		if cmd, ok := m[k]; ok {
			return cmd, nil
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return Command{}, fmt.Errorf("image %q has no command in the emulator's runner (it knows %s); add it to the Runner", c.Image, strings.Join(keys, ", "))
}

func imageKeys(image string) []string {
	keys := []string{image}
	noDigest, _, _ := strings.Cut(image, "@")
	keys = append(keys, noDigest)
	repo := noDigest
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	keys = append(keys, repo, path.Base(repo), "*")
	return keys
}

// --- loopback addresses

// usedAddrs is shared by every emulator in the process, so two emulators in one test binary
// never hand out the same address and port.
var usedAddrs = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

type ipPool struct {
	base, next uint32
}

func newIPPool(base string) (*ipPool, error) {
	ip := net.ParseIP(base).To4()
	if ip == nil {
		return nil, fmt.Errorf("ecsemu: TaskAddressBase %q is not an IPv4 address", base)
	}
	v := binary.BigEndian.Uint32(ip)
	return &ipPool{base: v, next: v}, nil
}

const loopbackLast = 127<<24 | 255<<16 | 255<<8 | 254

// alloc returns the next loopback address on which port is free.
func (p *ipPool) alloc(port int) (string, error) {
	usedAddrs.Lock()
	defer usedAddrs.Unlock()
	for i := 0; i < 4096; i++ {
		v := p.next
		p.next++
		if p.next > loopbackLast {
			p.next = p.base
		}
		if last := v & 0xff; last == 0 || last == 255 {
			continue
		}
		b := make([]byte, 4)
		binary.BigEndian.PutUint32(b, v)
		ip := net.IP(b).String()
		key := net.JoinHostPort(ip, strconv.Itoa(port))
		if usedAddrs.m[key] {
			continue
		}
		ln, err := net.Listen("tcp", key)
		if err != nil {
			continue
		}
		ln.Close()
		usedAddrs.m[key] = true
		return ip, nil
	}
	return "", fmt.Errorf("ecsemu: no free loopback address for port %d after 4096 tries from %s", port, net.IP(binary.BigEndian.AppendUint32(nil, p.base)))
}

func (p *ipPool) release(ip string, port int) {
	if ip == "" {
		return
	}
	usedAddrs.Lock()
	delete(usedAddrs.m, net.JoinHostPort(ip, strconv.Itoa(port)))
	usedAddrs.Unlock()
}

// --- the service scheduler

// schedulerLoop keeps every revision at its requested task count: it launches missing tasks
// (replacing those that stopped) and stops surplus ones.
func (e *Emulator) schedulerLoop(s *service) {
	defer e.wg.Done()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		e.schedule(s)
		select {
		case <-e.ctx.Done():
			return
		case <-s.kick:
		case <-tick.C:
		}
	}
}

func (e *Emulator) kickLocked(s *service) {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

func (e *Emulator) schedule(s *service) {
	var launch []*task
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return
	}
	now := time.Now()
	for _, r := range s.revisions {
		var live []*task
		for _, t := range s.tasks {
			if t.rev == r && t.desiredStatus == "RUNNING" {
				live = append(live, t)
			}
		}
		switch {
		case len(live) < r.desired && !now.Before(r.nextStart):
			for i := len(live); i < r.desired; i++ {
				launch = append(launch, e.newTaskLocked(r))
			}
		case len(live) > r.desired:
			// Stop the newest surplus tasks first.
			for i := len(live) - 1; i >= r.desired; i-- {
				e.stopTaskLocked(live[i], fmt.Sprintf(stoppedScaling, "ecs-svc/"+r.id), stopCodeScheduler)
			}
		}
	}
	e.mu.Unlock()
	for _, t := range launch {
		e.launch(t)
	}
}

func (e *Emulator) newTaskLocked(r *revision) *task {
	s := r.svc
	id := hexID(32)
	t := &task{
		arn:           e.arn(s.account, s.region, "task/"+s.cluster+"/"+id),
		id:            id,
		rev:           r,
		port:          s.containerPort,
		lastStatus:    "PROVISIONING",
		desiredStatus: "RUNNING",
		createdAt:     time.Now(),
		eni:           "eni-" + hexID(16),
		attach:        uuid(),
		mac:           fmt.Sprintf("02:%s:%s:%s:%s:%s", hexID(2), hexID(2), hexID(2), hexID(2), hexID(2)),
		runtimeID:     id + "-" + hexID(10),
		exited:        make(chan struct{}),
		version:       1,
	}
	t.containerArn = e.arn(s.account, s.region, "container/"+s.cluster+"/"+id+"/"+uuid())
	s.tasks = append(s.tasks, t)
	e.tasksByArn[t.arn] = t
	e.targets[t.arn] = t
	return t
}

func (e *Emulator) lbContainer(s *service, td *taskDefinitionWire) (containerDefinition, error) {
	for _, c := range td.ContainerDefinitions {
		if s.containerName == "" || c.Name == s.containerName {
			return c, nil
		}
	}
	return containerDefinition{}, fmt.Errorf("task definition %s has no container named %q (the service's loadBalancers containerName)", td.TaskDefinitionArn, s.containerName)
}

// launch starts a task's process and registers it in its revision's target group.
func (e *Emulator) launch(t *task) {
	s := t.rev.svc
	td := t.rev.td
	fail := func(reason string) {
		e.mu.Lock()
		t.lastStatus, t.desiredStatus = "STOPPED", "STOPPED"
		t.stoppedReason, t.stopCode = reason, stopCodeFailedToStart
		t.stoppedAt, t.stoppingAt = time.Now(), time.Now()
		t.version++
		close(t.exited)
		e.taskFailedLocked(t)
		e.kickLocked(s)
		e.mu.Unlock()
		e.emit(Event{Kind: EventTask, Cluster: s.cluster, Service: s.name, Status: "STOPPED", Message: t.arn + ": " + reason})
	}
	cd, err := e.lbContainer(s, td)
	if err != nil {
		fail(fmt.Sprintf(stoppedCannotStart, err))
		return
	}
	if e.opts.Runner == nil {
		fail(fmt.Sprintf(stoppedCannotPull, "the emulator has no Runner to run image "+cd.Image))
		return
	}
	env := map[string]string{}
	for _, kv := range cd.Environment {
		env[kv.Name] = kv.Value
	}
	cmd, err := e.opts.Runner.Command(Container{
		Name: cd.Name, Image: cd.Image, Port: t.port, Environment: env, Command: cd.Command,
		TaskDefinitionARN: td.TaskDefinitionArn, TaskARN: t.arn, Cluster: s.cluster, Service: s.name,
	})
	if err != nil {
		fail(fmt.Sprintf(stoppedCannotPull, err))
		return
	}
	ip, err := e.ips.alloc(t.port)
	if err != nil {
		fail(fmt.Sprintf(stoppedCannotStart, err))
		return
	}
	logPath := filepath.Join(e.logDir, fmt.Sprintf("%s-%s-%s.log", s.cluster, s.name, t.id[:12]))
	logf, err := os.Create(logPath)
	if err != nil {
		e.ips.release(ip, t.port)
		fail(fmt.Sprintf(stoppedCannotStart, err))
		return
	}
	c := exec.Command(cmd.Path, cmd.Args...)
	c.Dir = cmd.Dir
	c.Stdout, c.Stderr = logf, logf
	c.Env = baseEnv()
	c.Env = append(c.Env, cmd.Env...)
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		c.Env = append(c.Env, k+"="+env[k])
	}
	c.Env = append(c.Env, "HOST="+ip, "PORT="+strconv.Itoa(t.port),
		"ECS_CONTAINER_METADATA_URI_V4=", "GREENLIGHT_EMULATOR_TASK_ARN="+t.arn)
	// Own process group (Close kills the group), and killed if the emulator's process dies.
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	e.mu.Lock()
	if e.closed || t.desiredStatus != "RUNNING" {
		// Stopped (scale-in, rollback, Close) before its process started.
		t.lastStatus, t.stoppedAt = "STOPPED", time.Now()
		close(t.exited)
		e.mu.Unlock()
		logf.Close()
		e.ips.release(ip, t.port)
		return
	}
	t.ip, t.logPath = ip, logPath
	t.lastStatus = "PENDING"
	if err := c.Start(); err != nil {
		e.mu.Unlock()
		logf.Close()
		e.ips.release(ip, t.port)
		fail(fmt.Sprintf(stoppedCannotStart, err))
		return
	}
	t.cmd = c
	t.lastStatus, t.startedAt = "RUNNING", time.Now()
	t.version++
	tg := s.balancer.TargetGroup(t.rev.tg)
	e.wg.Add(1)
	e.mu.Unlock()
	go e.waitTask(t, logf)
	if tg != nil {
		tg.Register(t.arn, net.JoinHostPort(ip, strconv.Itoa(t.port)))
	}
	e.log.Info("ecs emulator: task started", "cluster", s.cluster, "service", s.name, "task_arn", t.arn,
		"address", net.JoinHostPort(ip, strconv.Itoa(t.port)), "pid", c.Process.Pid, "target_group", t.rev.tg, "image", cd.Image)
	e.emit(Event{Kind: EventTask, Cluster: s.cluster, Service: s.name, Status: "RUNNING",
		Message: fmt.Sprintf("%s started on %s:%d (pid %d, revision %s)", t.arn, ip, t.port, c.Process.Pid, t.rev.id)})
}

func baseEnv() []string {
	var out []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// waitTask records a task's exit. An exit the scheduler did not ask for is a failure:
// "Essential container in task exited" with the exit code.
func (e *Emulator) waitTask(t *task, logf *os.File) {
	defer e.wg.Done()
	err := t.cmd.Wait()
	logf.Close()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		code = 1
	}
	s := t.rev.svc
	e.mu.Lock()
	t.exitCode = &code
	failed := !t.intentional
	if failed {
		t.stoppedReason, t.stopCode = stoppedEssentialExited, stopCodeEssentialExited
		t.reason = fmt.Sprintf("Essential container in task exited (exit code %d)", code)
		t.stoppingAt = time.Now()
	}
	t.lastStatus, t.desiredStatus, t.stoppedAt = "STOPPED", "STOPPED", time.Now()
	t.healthy = false
	t.version++
	close(t.exited)
	ip, port := t.ip, t.port
	tg := s.balancer.TargetGroup(t.rev.tg)
	if failed {
		e.taskFailedLocked(t)
	}
	e.kickLocked(s)
	e.mu.Unlock()
	if tg != nil {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		tg.Deregister(ctx, t.arn)
		cancel()
	}
	e.ips.release(ip, port)
	e.log.Info("ecs emulator: task stopped", "cluster", s.cluster, "service", s.name, "task_arn", t.arn,
		"exit_code", code, "stopped_reason", t.stoppedReason)
	e.emit(Event{Kind: EventTask, Cluster: s.cluster, Service: s.name, Status: "STOPPED",
		Message: fmt.Sprintf("%s stopped: %s (exit code %d)", t.arn, t.stoppedReason, code)})
}

// stopTaskLocked asks a task to stop: it is deregistered (connection draining, bounded by
// the target group's deregistration delay), then sent SIGTERM, then SIGKILL after the
// stop timeout.
func (e *Emulator) stopTaskLocked(t *task, reason, code string) {
	if t.desiredStatus == "STOPPED" {
		return
	}
	t.desiredStatus = "STOPPED"
	t.intentional = true
	t.stoppedReason, t.stopCode = reason, code
	t.stoppingAt = time.Now()
	t.version++
	if t.cmd == nil {
		// Not started yet: launch sees desiredStatus and never starts it.
		return
	}
	t.lastStatus = "DEACTIVATING"
	s := t.rev.svc
	tg := s.balancer.TargetGroup(t.rev.tg)
	drain := s.drainDelay
	stopTimeout := e.scale(30 * time.Second)
	if stopTimeout < 500*time.Millisecond {
		stopTimeout = 500 * time.Millisecond
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if tg != nil {
			ctx, cancel := context.WithTimeout(e.ctx, drain)
			tg.Deregister(ctx, t.arn)
			cancel()
		}
		e.mu.Lock()
		if t.lastStatus != "STOPPED" {
			t.lastStatus = "STOPPING"
		}
		e.mu.Unlock()
		pid := t.cmd.Process.Pid
		select {
		case <-t.exited:
			return // already gone (and its PID possibly reused): signal nothing
		default:
		}
		_ = syscall.Kill(-pid, syscall.SIGTERM)
		select {
		case <-t.exited:
		case <-time.After(stopTimeout):
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		case <-e.ctx.Done():
		}
	}()
}

// killTask ends a task's process group at once (Close).
func killTask(t *task) error {
	if t.cmd == nil || t.cmd.Process == nil {
		return nil
	}
	pid := t.cmd.Process.Pid
	select {
	case <-t.exited:
		return nil
	default:
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = t.cmd.Process.Kill()
	select {
	case <-t.exited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("ecsemu: task %s (pid %d) did not exit", t.arn, pid)
	}
}

// taskFailedLocked counts a task failure against the deployment that launched it (the
// circuit breaker) and backs off the revision's next launch.
func (e *Emulator) taskFailedLocked(t *task) {
	if t.failureCounted {
		return
	}
	t.failureCounted = true
	r := t.rev
	r.failures++
	backoff := 10 * time.Second << min(r.failures-1, 5)
	r.nextStart = time.Now().Add(e.scale(backoff))
	d := e.activeDeploymentLocked(r.svc)
	if d == nil || d.target != r || d.status != StatusInProgress || d.abortReason != nil {
		return
	}
	d.cbFailures++
	if d.cbEnabled && d.cbStatus == "MONITORING" && d.cbFailures >= d.cbThreshold {
		d.cbStatus = "TRIGGERED"
		reason := reasonCircuitBreaker
		if !d.cbRollback {
			reason = reasonCBNoRollback
		}
		e.abortLocked(d, abort{kind: abortCircuitBreaker, reason: reason, rollback: d.cbRollback})
	}
}

// onHealth follows target health: a target that turns unhealthy after the grace period
// is stopped and replaced, as ECS does with tasks failing ELB health checks.
func (e *Emulator) onHealth(tgArn, targetID, to string) {
	e.mu.Lock()
	t := e.targets[targetID]
	if t == nil || t.rev.tg != tgArn {
		e.mu.Unlock()
		return
	}
	s := t.rev.svc
	var msg string
	switch to {
	case "healthy":
		t.healthy = true
		t.rev.failures = 0
		msg = t.arn + " is healthy in " + tgArn
	case "unhealthy":
		t.healthy = false
		if t.desiredStatus == "RUNNING" && time.Since(t.startedAt) >= s.grace {
			e.stopTaskLocked(t, fmt.Sprintf(stoppedELBHealth, tgArn), stopCodeScheduler)
			e.taskFailedLocked(t)
			e.kickLocked(s)
			msg = t.arn + " failed ELB health checks in " + tgArn + "; stopping it"
		}
	}
	e.mu.Unlock()
	if msg != "" {
		e.emit(Event{Kind: EventTask, Cluster: s.cluster, Service: s.name, Status: to, Message: msg})
	}
}
