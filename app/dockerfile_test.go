package main

import (
	"os"
	"os/exec"
	"path"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/greenlight-deploy/greenlight/internal/sampleapp"
)

// No Docker engine runs where these tests run, so this checks the Dockerfile's key lines
// instead: cross-compiling build stage, static binary, distroless nonroot, the ldflags
// that TestBinary proves, the fault build args, and that the build context holds every
// package the binary imports.

// instruction is one Dockerfile instruction with continuation lines joined.
type instruction struct {
	cmd  string // upper case
	args string
}

func parseDockerfile(t *testing.T, name string) []instruction {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for _, line := range strings.Split(string(b), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && cur.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.Join(strings.Fields(args), " ")})
		cur.Reset()
	}
	return out
}

// stages splits the instructions at each FROM.
func stages(ins []instruction) [][]instruction {
	var out [][]instruction
	for _, in := range ins {
		if in.cmd == "FROM" {
			out = append(out, nil)
		}
		if len(out) > 0 {
			out[len(out)-1] = append(out[len(out)-1], in)
		}
	}
	return out
}

func find(stage []instruction, cmd string) []string {
	var out []string
	for _, in := range stage {
		if in.cmd == cmd {
			out = append(out, in.args)
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	st := stages(parseDockerfile(t, "Dockerfile"))
	if len(st) != 2 {
		t.Fatalf("Dockerfile has %d stages, want 2 (build, runtime)", len(st))
	}
	build, final := st[0], st[1]

	if got := build[0].args; got != "--platform=$BUILDPLATFORM golang:1.26 AS build" {
		t.Errorf("build stage FROM %q, want the builder's platform (cross-compile, no emulation) on golang:1.26", got)
	}
	args := strings.Join(find(build, "ARG"), " ")
	for _, a := range []string{"TARGETOS", "TARGETARCH", "VERSION", "REVISION"} {
		if !regexp.MustCompile(`(^| )` + a + `(=| |$)`).MatchString(args) {
			t.Errorf("build stage does not declare ARG %s (has %q)", a, args)
		}
	}
	runs := strings.Join(find(build, "RUN"), "\n")
	for _, want := range []string{
		"CGO_ENABLED=0", "GOOS=$TARGETOS", "GOARCH=$TARGETARCH", "-trimpath",
		"-X main.version=${VERSION}", "-X main.revision=${REVISION}", "-o /out/app ./app",
	} {
		if !strings.Contains(runs, want) {
			t.Errorf("build stage RUN lacks %q:\n%s", want, runs)
		}
	}
	// The variables -X sets must exist, or the stamp silently does nothing.
	_, _ = version, revision

	if got := final[0].args; !regexp.MustCompile(`^gcr\.io/distroless/static(-debian\d+)?:nonroot$`).MatchString(got) {
		t.Errorf("runtime stage FROM %q, want gcr.io/distroless/static…:nonroot", got)
	}
	if got := find(final, "COPY"); len(got) != 1 || got[0] != "--from=build /out/app /app" {
		t.Errorf("runtime stage COPY %q, want only the binary from the build stage", got)
	}
	if got := find(final, "USER"); len(got) != 1 || !strings.HasPrefix(got[0], "nonroot") {
		t.Errorf("runtime stage USER %q, want nonroot", got)
	}
	if got := find(final, "EXPOSE"); len(got) != 1 || got[0] != strconv.Itoa(sampleapp.DefaultPort) {
		t.Errorf("runtime stage EXPOSE %q, want %d", got, sampleapp.DefaultPort)
	}
	if got := find(final, "ENTRYPOINT"); len(got) != 1 || got[0] != `["/app"]` {
		t.Errorf("runtime stage ENTRYPOINT %q, want [\"/app\"] (exec form: the app gets SIGTERM itself)", got)
	}

	env := strings.Join(find(final, "ENV"), " ")
	finalArgs := strings.Join(find(final, "ARG"), " ")
	if !strings.Contains(env, "PORT="+strconv.Itoa(sampleapp.DefaultPort)) {
		t.Errorf("runtime stage ENV %q does not set PORT=%d", env, sampleapp.DefaultPort)
	}
	for _, v := range []string{sampleapp.EnvHealthFail, sampleapp.EnvErrorRate, sampleapp.EnvLatencyMs, sampleapp.EnvCrashAfter} {
		if !strings.Contains(finalArgs, v+"=") {
			t.Errorf("runtime stage has no ARG %s= (a build arg that defaults to off)", v)
		}
		if !strings.Contains(env, v+"=${"+v+"}") {
			t.Errorf("runtime stage ENV does not bake the %s build arg in (want %s=${%s})", v, v, v)
		}
	}
}

// TestDockerBuildContext checks that the Dockerfile copies, and the dockerignore keeps,
// every directory of this module that the binary is built from.
func TestDockerBuildContext(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("go list -m: %v", err)
	}
	rootDir := strings.TrimSpace(string(root))

	build := stages(parseDockerfile(t, "Dockerfile"))[0]
	copied := strings.Join(find(build, "COPY"), "\n")
	ignore, err := os.ReadFile("Dockerfile.dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(copied, "go.mod go.sum") || !strings.Contains(string(ignore), "!go.mod") {
		t.Error("the build stage must copy go.mod and go.sum, and the dockerignore keep them")
	}
	for _, dir := range strings.Fields(string(out)) {
		rel := strings.TrimPrefix(strings.TrimPrefix(dir, rootDir), "/") + "/"
		if !strings.Contains(copied, rel+" "+rel) {
			t.Errorf("the binary is built from %s, which the build stage does not COPY (%q)", rel, copied)
		}
		if !strings.Contains(string(ignore), "!"+rel) {
			t.Errorf("the binary is built from %s, which Dockerfile.dockerignore leaves out of the context", rel)
		}
		if path.Clean(rel) != "app" && !strings.HasPrefix(rel, "internal/sampleapp") {
			t.Errorf("the binary now imports %s: keep the sample service on the standard library and internal/sampleapp, or add it to the image", rel)
		}
	}
}
