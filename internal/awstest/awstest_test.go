package awstest_test

import (
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
