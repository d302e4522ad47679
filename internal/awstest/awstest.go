// Package awstest gives tests a shared local AWS: one patched moto_server per test binary,
// started on first use and stopped by Main, with an isolated moto account per test.
//
// Tests that need it fail (never skip) when moto is missing, unless -short is set: CI must
// not go green without having run them.
package awstest

import (
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/greenlight-deploy/greenlight/internal/localaws"
)

var (
	once    sync.Once
	shared  *localaws.Moto
	started error
)

// Main runs the tests and stops the shared moto_server afterwards. Call it from TestMain.
func Main(m *testing.M) {
	code := m.Run()
	if shared != nil {
		_ = shared.Stop()
	}
	os.Exit(code)
}

// Moto returns the shared moto_server, starting it on first use. With -short it skips.
func Moto(t testing.TB) *localaws.Moto {
	t.Helper()
	if testing.Short() {
		t.Skip("needs moto_server; skipped with -short")
	}
	once.Do(func() {
		shared, started = localaws.StartMoto(context.Background(), localaws.MotoOptions{})
	})
	if started != nil {
		t.Fatalf("start moto_server: %v", started)
	}
	return shared
}

// Account returns a 12-digit moto account ID derived from the test's name, so that tests
// sharing one server do not see each other's resources.
func Account(t testing.TB) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(t.Name()))
	return fmt.Sprintf("%012d", h.Sum64()%1_000_000_000_000)
}

// Config returns an aws.Config for the shared moto_server in the test's own account.
func Config(t testing.TB) aws.Config {
	t.Helper()
	m := Moto(t)
	cfg, err := localaws.Config(context.Background(), m.URL, Account(t))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// DefaultAccountConfig returns an aws.Config in moto's default account, where Step Functions
// task states act; tests that run state machines must use it.
func DefaultAccountConfig(t testing.TB) aws.Config {
	t.Helper()
	m := Moto(t)
	cfg, err := localaws.Config(context.Background(), m.URL, localaws.DefaultAccount)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// StartFunction builds a function's bootstrap and runs it under aws-lambda-rie for the test
// (localaws.StartFunction; with o.Moto, also as a Lambda function in moto). It fails the
// test on error, and stops the function when the test ends, after logging the end of its
// log if the test failed. Defaults: o.ModuleDir is the module's root (found from the working
// directory), o.BuildDir a directory of the test's own. With -short it skips.
func StartFunction(t testing.TB, o localaws.FunctionOptions) *localaws.Function {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs a bootstrap under aws-lambda-rie; skipped with -short")
	}
	if o.ModuleDir == "" {
		o.ModuleDir = ModuleDir(t)
	}
	if o.BuildDir == "" {
		o.BuildDir = t.TempDir()
	}
	f, err := localaws.StartFunction(context.Background(), o)
	if err != nil {
		t.Fatalf("start function %s: %v", o.Name, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("%s log:\n%s", o.Name, f.LogTail(40))
		}
		if err := f.Stop(); err != nil {
			t.Errorf("stop function %s: %v", o.Name, err)
		}
	})
	return f
}

// ModuleDir returns the root of the Go module the test runs in: the nearest directory
// above the working directory (the test's package) that holds go.mod.
func ModuleDir(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the working directory")
		}
		dir = parent
	}
}
