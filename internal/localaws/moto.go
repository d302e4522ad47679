package localaws

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

//go:embed moto_server_patched.py
var motoLauncher []byte

// MotoVersion is the moto release the launcher's patches were written for.
const MotoVersion = "5.2.1"

// Moto is a running, patched moto_server.
type Moto struct {
	// URL is the endpoint, http://127.0.0.1:<port>.
	URL  string
	Port int

	cmd     *exec.Cmd
	dir     string
	logPath string
	done    chan struct{}

	mu      sync.Mutex
	lambdas map[string]string
}

// MotoOptions configures StartMoto.
type MotoOptions struct {
	// Python is the interpreter to run; default "python3".
	Python string
	// Dir holds the launcher, its log and the Lambda map; default a new temporary directory.
	Dir string
	// Env is added to the server's environment (for example MOTO_ECS_SERVICE_RUNNING=2).
	Env []string
}

// ErrMotoMissing reports that moto cannot be imported by the Python interpreter.
var ErrMotoMissing = errors.New("moto is not installed")

// CheckMoto verifies that python can import moto at the pinned version.
func CheckMoto(ctx context.Context, python string) error {
	if python == "" {
		python = "python3"
	}
	out, err := exec.CommandContext(ctx, python, "-c", "import moto, flask; print(moto.__version__)").CombinedOutput()
	if err != nil {
		return fmt.Errorf("%w for %s (%s): install it with: pip install 'moto[server]==%s'",
			ErrMotoMissing, python, strings.TrimSpace(lastLine(string(out))), MotoVersion)
	}
	if v := strings.TrimSpace(string(out)); v != MotoVersion {
		return fmt.Errorf("moto %s is installed, but greenlight's local patches were written for moto %s: install it with: pip install 'moto[server]==%s'", v, MotoVersion, MotoVersion)
	}
	return nil
}

// StartMoto starts the patched moto_server on a free loopback port, waits until it answers,
// and switches on Step Functions execution and Docker-free Lambda (once, before any resource
// exists, as moto requires).
func StartMoto(ctx context.Context, opts MotoOptions) (*Moto, error) {
	python := opts.Python
	if python == "" {
		python = "python3"
	}
	if err := CheckMoto(ctx, python); err != nil {
		return nil, err
	}
	dir := opts.Dir
	if dir == "" {
		d, err := os.MkdirTemp("", "greenlight-moto-")
		if err != nil {
			return nil, err
		}
		dir = d
	}
	script := filepath.Join(dir, "moto_server_patched.py")
	if err := os.WriteFile(script, motoLauncher, 0o644); err != nil {
		return nil, err
	}
	// The port is picked free and bound a moment later by moto: another process can take it
	// in between. A server that exits during start-up is started again on a new port.
	for attempt := 1; ; attempt++ {
		m, err := startMotoOnce(ctx, python, script, dir, opts.Env)
		if err == nil || !errors.Is(err, errMotoExited) || attempt == 3 || ctx.Err() != nil {
			return m, err
		}
	}
}

// errMotoExited reports a moto_server that exited before it answered.
var errMotoExited = errors.New("moto_server exited during start-up")

func startMotoOnce(ctx context.Context, python, script, dir string, env []string) (*Moto, error) {
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	m := &Moto{
		URL:     "http://127.0.0.1:" + strconv.Itoa(port),
		Port:    port,
		dir:     dir,
		logPath: filepath.Join(dir, "moto.log"),
		done:    make(chan struct{}),
		lambdas: map[string]string{},
	}
	if err := m.writeLambdaMap(); err != nil {
		return nil, err
	}
	logf, err := os.Create(m.logPath)
	if err != nil {
		return nil, err
	}
	// Not CommandContext: the server must outlive a start-up context; Stop ends it by PID.
	cmd := exec.Command(python, script, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Env = append(os.Environ(), "MOTO_LAMBDA_RIE_FILE="+m.lambdaMapPath(), "PYTHONUNBUFFERED=1")
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start moto_server: %w", err)
	}
	m.cmd = cmd
	go func() { _ = cmd.Wait(); logf.Close(); close(m.done) }()

	if err := m.waitReady(ctx, 30*time.Second); err != nil {
		_ = m.Stop()
		return nil, err
	}
	if err := m.post(ctx, "/moto-api/config", `{"stepfunctions":{"execute_state_machine":true},"lambda":{"use_docker":false}}`); err != nil {
		_ = m.Stop()
		return nil, fmt.Errorf("configure moto: %w", err)
	}
	return m, nil
}

func (m *Moto) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-m.done:
			return fmt.Errorf("%w: %s", errMotoExited, m.LogTail(20))
		default:
		}
		if err := m.post(ctx, "/moto-api/reset", ""); err == nil {
			// Another test's moto_server may have taken the port first (this one then exits
			// with "address already in use"): only a listener of this process counts.
			if ours, known, _ := listening(m.cmd.Process.Pid, m.Port); ours || !known {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("moto_server did not answer on %s within %s: %s", m.URL, limit, m.LogTail(20))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (m *Moto) post(ctx context.Context, path, body string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, m.URL+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("POST %s: HTTP %d", path, resp.StatusCode)
	}
	return nil
}

// Reset wipes every resource in every account; the execution and Lambda settings stay.
func (m *Moto) Reset(ctx context.Context) error { return m.post(ctx, "/moto-api/reset", "") }

// RouteLambda makes Lambda Invoke of the named function reach the aws-lambda-rie at url
// (http://127.0.0.1:<port>). The function must still be created with CreateFunction.
func (m *Moto) RouteLambda(name, url string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lambdas[name] = url
	return m.writeLambdaMap()
}

func (m *Moto) lambdaMapPath() string { return filepath.Join(m.dir, "lambda-rie.json") }

// writeLambdaMap replaces the map file atomically; the launcher re-reads it on every invoke.
func (m *Moto) writeLambdaMap() error {
	b, err := json.Marshal(m.lambdas)
	if err != nil {
		return err
	}
	tmp := m.lambdaMapPath() + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, m.lambdaMapPath())
}

// LogTail returns the last n lines of the server's log.
func (m *Moto) LogTail(n int) string {
	b, _ := os.ReadFile(m.logPath)
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// LogPath is the server's combined stdout and stderr.
func (m *Moto) LogPath() string { return m.logPath }

// Stop kills the server by its PID and waits for it to exit.
func (m *Moto) Stop() error {
	if m == nil || m.cmd == nil || m.cmd.Process == nil {
		return nil
	}
	select {
	case <-m.done:
		return nil
	default:
	}
	_ = m.cmd.Process.Kill()
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("moto_server (pid %d) did not exit", m.cmd.Process.Pid)
	}
	return nil
}

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}
