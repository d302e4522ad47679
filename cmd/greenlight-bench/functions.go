package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/ecsemu"
	"github.com/greenlight-deploy/greenlight/internal/localaws"
	"github.com/greenlight-deploy/greenlight/internal/samtemplate"
)

// sampleEvent names each function's sample event in events/<function>/ (the first JSON
// file there for a function not listed).
var sampleEvent = map[string]string{
	"resolve": "ecr-push.json", "lock": "acquire.json", "start": "start.json", "check": "check.json",
	"watch": "during-bake.json", "finalize": "final-rolled-back.json", "smoketest": "post-scale-up.json",
	"notify": "succeeded.json", "reconcile": "scheduled.json",
}

// functions builds every function of template.yaml for linux/arm64 (sizes) and for this
// machine (cold starts), and measures each one's start-to-first-response under
// aws-lambda-rie against an empty local AWS (moto, and the ECS emulator for ECS).
func (b *bench) functions(ctx context.Context) ([]Function, error) {
	repo := b.o.repo
	tpl, err := samtemplate.Load(ctx, filepath.Join(repo, "template.yaml"))
	if err != nil {
		return nil, err
	}
	ids := tpl.OfType("AWS::Lambda::Function")
	sort.Strings(ids)
	var pkgs, names []string
	byName := map[string]string{}
	for _, id := range ids {
		dir := tpl.CodeDir(id)
		if dir == "" {
			continue
		}
		name := filepath.Base(dir)
		pkgs, names = append(pkgs, "./"+dir), append(names, name)
		byName[name] = id
	}
	work, err := os.MkdirTemp("", "greenlight-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)

	// Sizes: stripped, as make build (and sam build) make them for the template's arm64.
	armDir := filepath.Join(work, "arm64") + string(os.PathSeparator)
	cmd := exec.CommandContext(ctx, "go", append([]string{"build", "-tags", "lambda.norpc", "-trimpath", "-ldflags", "-s -w", "-o", armDir}, pkgs...)...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build linux/arm64 bootstraps: %w: %s", err, out)
	}
	host, err := localaws.BuildBootstraps(ctx, repo, pkgs, filepath.Join(work, "host"))
	if err != nil {
		return nil, err
	}
	b.step("built %d bootstraps for linux/arm64 and for this machine", len(pkgs))

	rie, err := localaws.InstallRIE(ctx, filepath.Join(repo, ".bin"))
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(work, "moto"), 0o755); err != nil {
		return nil, err
	}
	moto, err := localaws.StartMoto(ctx, localaws.MotoOptions{Dir: filepath.Join(work, "moto")})
	if err != nil {
		return nil, err
	}
	defer moto.Stop()
	// ECS's service-deployment calls go to a standalone ECS emulator: moto answers them with
	// HTTP 500, which the SDK would retry for a third of a second.
	em, err := ecsemu.New(ctx, ecsemu.Options{Runner: ecsemu.Images{}, LogDir: filepath.Join(work, "ecs")})
	if err != nil {
		return nil, err
	}
	defer em.Close()

	var out []Function
	for i, name := range names {
		f := Function{Name: name}
		if st, err := os.Stat(filepath.Join(armDir, name)); err == nil {
			f.SizeArm64 = mb(st.Size())
		}
		if st, err := os.Stat(host[i]); err == nil {
			f.SizeHost = mb(st.Size())
		}
		env, timeout, err := coldEnv(tpl, byName[name], moto.URL, em.URL())
		if err != nil {
			return nil, err
		}
		payload, err := readSample(repo, name)
		if err != nil {
			return nil, err
		}
		var starts, inits []float64
		for n := 0; n < b.o.cold; n++ {
			logDir := filepath.Join(work, "logs", fmt.Sprintf("%s-%d", name, n))
			if err := os.MkdirAll(logDir, 0o755); err != nil {
				return nil, err
			}
			t0 := time.Now()
			r, err := localaws.StartRIE(ctx, localaws.RIEOptions{RIEPath: rie, Bootstrap: host[i], Name: name, Env: env, Timeout: timeout, LogDir: logDir})
			if err != nil {
				return nil, err
			}
			_, err = r.Invoke(ctx, payload)
			d := time.Since(t0)
			log, _ := os.ReadFile(r.LogPath())
			_ = r.Stop()
			if err != nil {
				return nil, fmt.Errorf("%s: first invocation: %w", name, err)
			}
			starts = append(starts, ms(d))
			if v, ok := initReport(string(log)); ok {
				inits = append(inits, v)
			}
		}
		f.ColdStart, f.ColdRuns, f.Init = spread(starts).Median, len(starts), spread(inits).Median
		b.step("%-9s %5.2f MB arm64, first response %s ms after start (median of %d), bootstrap init %s ms", name, f.SizeArm64, fmtMs(f.ColdStart), len(starts), fmtMs(f.Init))
		out = append(out, f)
	}
	return out, nil
}

// coldEnv is the function's environment as template.yaml declares it, with plausible values
// for the resources a stack would have created (so that every function initialises as it
// would on AWS), pointed at the local AWS.
func coldEnv(tpl *samtemplate.Template, id, motoURL, ecsURL string) ([]string, time.Duration, error) {
	const account, region, stack = localaws.DefaultAccount, localaws.Region, "greenlight"
	ref := func(rid string) (any, bool) {
		r, ok := tpl.Resources[rid]
		if !ok {
			return nil, false
		}
		switch r.Type {
		case "AWS::SQS::Queue":
			return motoURL + "/" + account + "/" + stack + "-" + rid, true
		case "AWS::SNS::Topic":
			return "arn:aws:sns:" + region + ":" + account + ":" + stack + "-" + rid, true
		case "AWS::StepFunctions::StateMachine":
			return "arn:aws:states:" + region + ":" + account + ":stateMachine:" + stack + "-deploy", true
		}
		return stack + "-" + rid, true
	}
	vals := samtemplate.Values{Pseudo: samtemplate.DefaultPseudo(account, region, stack), Ref: ref,
		GetAtt: func(rid, attr string) (any, bool) {
			v, ok := ref(rid)
			if ok && attr == "Arn" && tpl.Resources[rid].Type == "AWS::SQS::Queue" {
				return "arn:aws:sqs:" + region + ":" + account + ":" + stack + "-" + rid, true
			}
			return v, ok
		}}
	vars, err := tpl.FunctionEnvironment(id, vals)
	if err != nil {
		return nil, 0, err
	}
	env := []string{"AWS_ENDPOINT_URL=" + motoURL, "AWS_ENDPOINT_URL_ECS=" + ecsURL, "GREENLIGHT_CLOUDWATCH_PROTOCOL=query"}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		env = append(env, k+"="+vars[k])
	}
	timeout := 30 * time.Second
	if t, err := strconv.Atoi(fmt.Sprint(tpl.Resources[id].Properties["Timeout"])); err == nil && t > 0 {
		timeout = time.Duration(t) * time.Second
	}
	return env, timeout, nil
}

func readSample(repo, name string) ([]byte, error) {
	dir := filepath.Join(repo, "events", name)
	file := sampleEvent[name]
	if file == "" {
		m, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		if len(m) == 0 {
			return []byte("{}"), nil
		}
		sort.Strings(m)
		file = filepath.Base(m[0])
	}
	return os.ReadFile(filepath.Join(dir, file))
}

var (
	initRE   = regexp.MustCompile(`INIT REPORT\(durationMs: ([0-9.]+)\)`)
	reportRE = regexp.MustCompile(`(?m)^REPORT RequestId: \S+\t(?:Init Duration: [0-9.]+ ms\t)?Duration: ([0-9.]+) ms\tBilled Duration: ([0-9.]+) ms`)
)

// initReport is the first bootstrap init aws-lambda-rie reports in its log.
func initReport(log string) (float64, bool) {
	m := initRE.FindStringSubmatch(log)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// invocation is one REPORT line.
type invocation struct{ duration, billed float64 }

// reports reads every REPORT line of an aws-lambda-rie log.
func reports(log string) []invocation {
	var out []invocation
	for _, m := range reportRE.FindAllStringSubmatch(log, -1) {
		d, err1 := strconv.ParseFloat(m[1], 64)
		bl, err2 := strconv.ParseFloat(m[2], 64)
		if err1 == nil && err2 == nil {
			out = append(out, invocation{d, bl})
		}
	}
	return out
}

// functionName turns a log name (greenlight-CheckFunction) into the function's (check).
func functionName(logName string) string {
	n := strings.TrimSuffix(strings.TrimPrefix(logName, "greenlight-"), ".log")
	n = strings.TrimSuffix(n, "Function")
	if n == "SmokeTest" {
		return "smoketest"
	}
	return strings.ToLower(n)
}
