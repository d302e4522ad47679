package localaws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RIEModule is the aws-lambda-rie version greenlight installs with `go install`.
const RIEModule = "github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@v0.0.0-20261030222936-bef5c4ba774d"

// InstallRIE returns the path of aws-lambda-rie in binDir, installing it from its Go module
// when it is not there yet.
func InstallRIE(ctx context.Context, binDir string) (string, error) {
	abs, err := filepath.Abs(binDir)
	if err != nil {
		return "", err
	}
	path := filepath.Join(abs, "aws-lambda-rie")
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	cmd := exec.CommandContext(ctx, "go", "install", RIEModule)
	cmd.Env = append(os.Environ(), "GOBIN="+abs)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install aws-lambda-rie: %w: %s", err, out)
	}
	return path, nil
}

// BuildBootstrap builds the Lambda in package pkg (for example ./functions/start) exactly as
// `sam build` does for provided.al2023 (static, -tags lambda.norpc, binary named bootstrap),
// for this machine's architecture so it can run here. It returns the binary's path.
func BuildBootstrap(ctx context.Context, moduleDir, pkg, outDir string) (string, error) {
	out := filepath.Join(outDir, filepath.Base(pkg), "bootstrap")
	if b, err := goBuild(ctx, moduleDir, out, pkg); err != nil {
		return "", fmt.Errorf("build %s: %w: %s", pkg, err, b)
	}
	return out, nil
}

// BuildBootstraps builds several Lambdas as BuildBootstrap does, in one go build (which
// links them in parallel and loads the packages once), and returns their bootstraps' paths
// in the order of pkgs: outDir/<package base>/bootstrap. The packages' last path elements
// must differ.
func BuildBootstraps(ctx context.Context, moduleDir string, pkgs []string, outDir string) ([]string, error) {
	seen := map[string]string{}
	for _, p := range pkgs {
		if other, dup := seen[filepath.Base(p)]; dup {
			return nil, fmt.Errorf("build %s and %s: both bootstraps would be %s/bootstrap: build them into different directories", other, p, filepath.Base(p))
		}
		seen[filepath.Base(p)] = p
	}
	if len(pkgs) == 0 {
		return nil, nil
	}
	// go build -o <dir>/ names each binary after its package; each then moves to
	// <base>/bootstrap, a directory of the same name.
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(outDir, ".build-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	if tmp, err = filepath.Abs(tmp); err != nil { // go build runs in moduleDir
		return nil, err
	}
	if b, err := goBuild(ctx, moduleDir, tmp+string(filepath.Separator), pkgs...); err != nil {
		return nil, fmt.Errorf("build %s: %w: %s", strings.Join(pkgs, " "), err, b)
	}
	paths := make([]string, len(pkgs))
	for i, p := range pkgs {
		base := filepath.Base(p)
		paths[i] = filepath.Join(outDir, base, "bootstrap")
		if err := os.MkdirAll(filepath.Dir(paths[i]), 0o755); err != nil {
			return nil, err
		}
		if err := os.Rename(filepath.Join(tmp, base), paths[i]); err != nil {
			return nil, err
		}
	}
	return paths, nil
}

// goBuild runs go build for provided.al2023 on this machine's architecture, writing to out
// (a file, or a directory when out ends with a separator), and returns its output.
func goBuild(ctx context.Context, moduleDir, out string, pkgs ...string) ([]byte, error) {
	args := append([]string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", out}, pkgs...)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	return cmd.CombinedOutput()
}

// RIE is one aws-lambda-rie process running one bootstrap. Invoke serializes requests:
// the emulator crashes when a second request arrives while one is in flight.
type RIE struct {
	Name string
	// URL is the emulator's invoke endpoint base, http://127.0.0.1:<port>.
	URL string

	cmd     *exec.Cmd
	done    chan struct{}
	logPath string
	mu      sync.Mutex
}

// RIEOptions configures StartRIE.
type RIEOptions struct {
	RIEPath   string // the aws-lambda-rie binary
	Bootstrap string // the function's bootstrap binary
	Name      string // AWS_LAMBDA_FUNCTION_NAME
	Env       []string
	Timeout   time.Duration // AWS_LAMBDA_FUNCTION_TIMEOUT; default 60 s
	MemoryMB  int           // AWS_LAMBDA_FUNCTION_MEMORY_SIZE; default 128
	LogDir    string        // where <name>.log goes; default beside the bootstrap
}

// errRIEExited reports an emulator that exited before it listened: typically a port picked
// free was taken by another process before the emulator bound it.
var errRIEExited = errors.New("exited during start-up")

// StartRIE starts the emulator on two free loopback ports and waits until it accepts
// connections. Ports are picked free and bound a moment later by the emulator, so another
// process can take one in between (tests running alongside); an emulator that exits during
// start-up is started again on new ports, up to three times.
func StartRIE(ctx context.Context, o RIEOptions) (*RIE, error) {
	for attempt := 1; ; attempt++ {
		r, err := startRIEOnce(ctx, o)
		if err == nil || !errors.Is(err, errRIEExited) || attempt == 3 || ctx.Err() != nil {
			return r, err
		}
	}
}

func startRIEOnce(ctx context.Context, o RIEOptions) (*RIE, error) {
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 128
	}
	if o.LogDir == "" {
		o.LogDir = filepath.Dir(o.Bootstrap)
	}
	invokePort, err := FreePort()
	if err != nil {
		return nil, err
	}
	apiPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	r := &RIE{
		Name:    o.Name,
		URL:     "http://127.0.0.1:" + strconv.Itoa(invokePort),
		done:    make(chan struct{}),
		logPath: filepath.Join(o.LogDir, o.Name+".log"),
	}
	logf, err := os.Create(r.logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(o.RIEPath,
		"--runtime-interface-emulator-address", "127.0.0.1:"+strconv.Itoa(invokePort),
		"--runtime-api-address", "127.0.0.1:"+strconv.Itoa(apiPort),
		o.Bootstrap)
	cmd.Env = append(os.Environ(),
		"AWS_LAMBDA_FUNCTION_NAME="+o.Name,
		"AWS_LAMBDA_FUNCTION_TIMEOUT="+strconv.Itoa(int(o.Timeout/time.Second)),
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE="+strconv.Itoa(o.MemoryMB),
		"AWS_REGION="+Region, "AWS_DEFAULT_REGION="+Region,
		"AWS_ACCESS_KEY_ID=testing", "AWS_SECRET_ACCESS_KEY=testing",
	)
	cmd.Env = append(cmd.Env, o.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so Stop also ends the bootstrap the emulator started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start aws-lambda-rie for %s: %w", o.Name, err)
	}
	r.cmd = cmd
	go func() { _ = cmd.Wait(); logf.Close(); close(r.done) }()

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(invokePort), 200*time.Millisecond)
		if err == nil {
			c.Close()
			// The port answers; make sure it is this emulator and not a process that took the
			// port first (this emulator then exits with "address already in use"), and that it
			// holds its runtime API port too.
			invokeOurs, known, _ := listening(cmd.Process.Pid, invokePort)
			apiOurs, _, _ := listening(cmd.Process.Pid, apiPort)
			if !known || invokeOurs && apiOurs {
				return r, nil
			}
		}
		select {
		case <-r.done:
			return nil, fmt.Errorf("aws-lambda-rie for %s %w: %s", o.Name, errRIEExited, r.LogTail(10))
		case <-ctx.Done():
			_ = r.Stop()
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = r.Stop()
			return nil, fmt.Errorf("aws-lambda-rie for %s did not listen within 10s", o.Name)
		}
	}
}

// Invoke sends one event and returns the raw response body. Calls are serialized.
func (r *RIE) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+"/2015-03-31/functions/function/invocations", bytes.NewReader(payload))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("invoke %s: %w", r.Name, err)
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

// PID is the emulator's process ID.
func (r *RIE) PID() int { return r.cmd.Process.Pid }

// LogPath is the emulator's and the function's combined output.
func (r *RIE) LogPath() string { return r.logPath }

// LogTail returns the last n lines of the emulator's log.
func (r *RIE) LogTail(n int) string {
	b, _ := os.ReadFile(r.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop kills the emulator and the bootstrap it runs, by PID. aws-lambda-rie starts the
// bootstrap in a process group of its own, so killing the emulator's group does not reach
// it: its children are found first (in /proc) and killed too, and Stop waits until they
// are gone.
func (r *RIE) Stop() error {
	if r == nil || r.cmd == nil || r.cmd.Process == nil {
		return nil
	}
	select {
	case <-r.done:
		return nil
	default:
	}
	pid := r.cmd.Process.Pid
	kids := childPIDs(pid)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = r.cmd.Process.Kill()
	for _, k := range kids {
		_ = syscall.Kill(-k, syscall.SIGKILL)
		_ = syscall.Kill(k, syscall.SIGKILL)
	}
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("aws-lambda-rie %s (pid %d) did not exit", r.Name, pid)
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, k := range kids {
		for alive(k) {
			if time.Now().After(deadline) {
				return fmt.Errorf("the bootstrap of %s (pid %d) did not exit", r.Name, k)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return nil
}

// childPIDs lists the processes whose parent is pid (Linux /proc; none elsewhere).
func childPIDs(pid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range entries {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid …; comm may hold spaces and parentheses.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, n)
		}
	}
	return out
}

// alive reports whether pid still runs (a zombie counts as gone).
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false // gone (or no /proc to wait with)
	}
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return false
	}
	f := strings.Fields(string(stat[i+1:]))
	return len(f) > 0 && f[0] != "Z" && f[0] != "X"
}
