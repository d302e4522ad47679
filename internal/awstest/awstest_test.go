package awstest_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
)

func TestModuleDir(t *testing.T) {
	dir := awstest.ModuleDir(t)
	b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil || !strings.HasPrefix(string(b), "module github.com/greenlight-deploy/greenlight\n") {
		t.Fatalf("ModuleDir() = %s (go.mod: %v); want the greenlight module's root", dir, err)
	}
	if wd, _ := os.Getwd(); filepath.Join(dir, "internal", "awstest") != wd {
		t.Errorf("ModuleDir() = %s; want two levels above %s", dir, wd)
	}
}

// TestEveryUserStopsMoto: a test package that starts the shared moto_server must stop it with
// Main from its TestMain, or every run leaves a moto_server process behind.
func TestEveryUserStopsMoto(t *testing.T) {
	root := awstest.ModuleDir(t)
	self, _ := os.Getwd()
	uses, stops := map[string]bool{}, map[string]bool{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() && (d.Name() == "node_modules" || strings.HasPrefix(d.Name(), ".")) && path != root {
			if err == nil {
				err = filepath.SkipDir
			}
			return err
		}
		if d.IsDir() || !strings.HasSuffix(path, "_test.go") || filepath.Dir(path) == self {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		src, dir := string(b), filepath.Dir(path)
		for _, call := range []string{"awstest.Moto(", "awstest.Config(", "awstest.DefaultAccountConfig("} {
			uses[dir] = uses[dir] || strings.Contains(src, call)
		}
		stops[dir] = stops[dir] || strings.Contains(src, "awstest.Main(")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(uses) == 0 {
		t.Fatal("found no package using awstest; is the module root right?")
	}
	for dir, used := range uses {
		if used && !stops[dir] {
			rel, _ := filepath.Rel(root, dir)
			t.Errorf("%s starts the shared moto_server but never stops it: add func TestMain(m *testing.M) { awstest.Main(m) }", rel)
		}
	}
}
