package main

import (
	"bufio"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/sampleapp"
)

// started is a run in a goroutine, with its log lines as they come.
type started struct {
	addr   string
	lines  chan map[string]any
	cancel context.CancelFunc
	done   chan error
	once   sync.Once
	err    error
}

// wait returns run's result, however many times it is called.
func (s *started) wait() error {
	s.once.Do(func() { s.err = <-s.done })
	return s.err
}

// start calls run as main would and waits for its "listening" line.
func start(t *testing.T, env map[string]string) *started {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{lines: make(chan map[string]any, 100), cancel: cancel, done: make(chan error, 1)}
	go func() {
		err := run(ctx, []string{"app"}, func(k string) string { return env[k] }, pw)
		_ = pw.Close()
		s.done <- err
	}()
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			var m map[string]any
			if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
				m = map[string]any{"msg": "NOT JSON: " + sc.Text()}
			}
			s.lines <- m
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		cancel()
		go func() {
			for range s.lines { // keep run's writes from blocking
			}
		}()
		_ = s.wait()
	})
	for {
		select {
		case m, ok := <-s.lines:
			if !ok {
				t.Fatalf("run ended before listening: %v", s.wait())
			}
			if m["msg"] == "listening" {
				s.addr = m["addr"].(string)
				return s
			}
		case <-time.After(10 * time.Second):
			t.Fatal("run did not log \"listening\" within 10s")
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

func TestRunServesAndStops(t *testing.T) {
	s := start(t, map[string]string{"HOST": "127.0.0.1", "PORT": "0", "VERSION": "v9.9.9", "REVISION": "feedbeef"})

	if code, body := get(t, "http://"+s.addr+"/health"); code != 200 || body != "OK" {
		t.Errorf("GET /health = %d %q, want 200 OK", code, body)
	}
	code, body := get(t, "http://"+s.addr+"/")
	var info sampleapp.Info
	if err := json.Unmarshal([]byte(body), &info); err != nil || code != 200 {
		t.Fatalf("GET / = %d %q: %v", code, body, err)
	}
	host, _ := os.Hostname()
	if info.Version != "v9.9.9" || info.Revision != "feedbeef" || info.Hostname != host {
		t.Errorf("GET / = %+v, want version v9.9.9, revision feedbeef, hostname %q", info, host)
	}

	s.cancel() // what SIGTERM does through signal.NotifyContext
	var msgs []string
	for m := range s.lines { // closed when run returns
		msgs = append(msgs, fmt.Sprint(m["msg"]))
	}
	if err := s.wait(); err != nil {
		t.Errorf("run after SIGTERM = %v, want nil", err)
	}
	if got := strings.Join(msgs, ","); !strings.Contains(got, "request") || !strings.HasSuffix(got, "shutting down,stopped") {
		t.Errorf("log messages after listening = %s, want requests, then shutting down,stopped", got)
	}
}

func TestRunLogsFaultsAtStart(t *testing.T) {
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	env := map[string]string{"HOST": "127.0.0.1", "PORT": "0", "HEALTH_FAIL": "true", "ERROR_RATE": "30%"}
	go func() { done <- run(ctx, []string{"app"}, func(k string) string { return env[k] }, pw); _ = pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("read first log line: %v", err)
	}
	cancel()
	go func() { _, _ = io.Copy(io.Discard, pr) }()
	<-done
	if !strings.Contains(line, `"faults":{"health_fail":true,"error_rate":0.3}`) {
		t.Errorf("listening line = %s, want the faults that are on", line)
	}
}

func TestRunCrashAfter(t *testing.T) {
	env := map[string]string{"HOST": "127.0.0.1", "PORT": "0", "CRASH_AFTER": "200ms"}
	err := run(context.Background(), []string{"app"}, func(k string) string { return env[k] }, io.Discard)
	if !errors.Is(err, sampleapp.ErrCrashed) {
		t.Errorf("run with CRASH_AFTER=200ms = %v, want ErrCrashed", err)
	}
}

func TestRunRejectsBadConfiguration(t *testing.T) {
	env := map[string]string{"ERROR_RATE": "lots"}
	err := run(context.Background(), []string{"app"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `ERROR_RATE="lots"`) {
		t.Errorf("run with ERROR_RATE=lots = %v, want an error naming ERROR_RATE", err)
	}
}

func TestRunPortInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	env := map[string]string{"HOST": "127.0.0.1", "PORT": port}
	err = run(context.Background(), []string{"app"}, func(k string) string { return env[k] }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "listen on 127.0.0.1:"+port+" (HOST, PORT)") {
		t.Errorf("run on a busy port = %v, want an error naming HOST and PORT", err)
	}
}

func TestRunVersionFlag(t *testing.T) {
	var out strings.Builder
	env := map[string]string{"VERSION": "v3.0.0", "REVISION": "cafe"}
	if err := run(context.Background(), []string{"app", "-version"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatalf("run -version: %v", err)
	}
	if out.String() != "v3.0.0 cafe\n" {
		t.Errorf("run -version printed %q, want %q", out.String(), "v3.0.0 cafe\n")
	}
}

// The rehearsal runs several tasks on one machine, each on its own loopback address with
// the same port, as awsvpc tasks each have their own IP. Linux routes all of 127.0.0.0/8
// to the loopback interface.
func TestRunTasksShareAPortOnDifferentLoopbackAddresses(t *testing.T) {
	probe, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("this machine cannot bind 127.0.0.2 (only Linux routes all of 127/8 to lo): %v", err)
	}
	_, port, _ := net.SplitHostPort(probe.Addr().String())
	_ = probe.Close()

	blue := start(t, map[string]string{"HOST": "127.0.0.2", "PORT": port, "VERSION": "blue"})
	green := start(t, map[string]string{"HOST": "127.0.0.3", "PORT": port, "VERSION": "green", "HEALTH_FAIL": "1"})
	if blue.addr != "127.0.0.2:"+port || green.addr != "127.0.0.3:"+port {
		t.Fatalf("listening on %s and %s, want 127.0.0.2:%s and 127.0.0.3:%s", blue.addr, green.addr, port, port)
	}
	if code, body := get(t, "http://"+blue.addr+"/version"); code != 200 || !strings.Contains(body, `"version":"blue"`) {
		t.Errorf("blue /version = %d %s", code, body)
	}
	if code, _ := get(t, "http://"+green.addr+"/health"); code != 500 {
		t.Errorf("green (HEALTH_FAIL=1) /health = %d, want 500", code)
	}
	if code, _ := get(t, "http://"+blue.addr+"/health"); code != 200 {
		t.Errorf("blue /health = %d, want 200", code)
	}
}

// TestBinary builds the image's binary the way app/Dockerfile does, for both image
// platforms: static (no interpreter, so it runs on distroless/static), the right machine,
// and the version stamped with -ldflags.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary three times; skipped with -short")
	}
	dir := t.TempDir()
	ldflags := "-s -w -X main.version=v7.7.7 -X main.revision=0a1b2c3"
	for _, arch := range []struct {
		goarch  string
		machine elf.Machine
	}{{"amd64", elf.EM_X86_64}, {"arm64", elf.EM_AARCH64}} {
		out := filepath.Join(dir, "app-"+arch.goarch)
		build(t, out, ldflags, "GOOS=linux", "GOARCH="+arch.goarch)
		f, err := elf.Open(out)
		if err != nil {
			t.Fatalf("linux/%s binary: %v", arch.goarch, err)
		}
		if f.Machine != arch.machine {
			t.Errorf("linux/%s binary machine = %v, want %v", arch.goarch, f.Machine, arch.machine)
		}
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("linux/%s binary has an interpreter: it is not static and will not run on distroless/static", arch.goarch)
			}
		}
		_ = f.Close()
	}

	host := filepath.Join(dir, "app-host")
	build(t, host, ldflags)
	out, err := exec.Command(host, "-version").Output()
	if err != nil {
		t.Fatalf("%s -version: %v", host, err)
	}
	if string(out) != "v7.7.7 0a1b2c3\n" {
		t.Errorf("-version of a binary built with %q printed %q", ldflags, out)
	}
}

func build(t *testing.T, out, ldflags string, env ...string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, ".")
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0"}, env...)...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", env, err, b)
	}
}
