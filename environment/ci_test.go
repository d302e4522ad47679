package environment_test

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The CI examples build and push only, without access keys, for both image platforms,
// with every build argument the Dockerfile bakes in; and the refs they run on are ones the
// environment stack's push roles trust.

const (
	githubWorkflow = "../.github/workflows/sample-app-image.yml"
	gitlabPipeline = "../ci-examples/gitlab/.gitlab-ci.yml"
)

func readYAML(t *testing.T, path string) (map[string]any, string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return m, string(b)
}

// dockerfileBuildArgs lists the ARGs of app/Dockerfile's final stage (the baked-in fault
// switches) and the build stage's VERSION and REVISION.
func dockerfileBuildArgs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile("../app/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 2 && f[0] == "ARG" && !strings.HasPrefix(f[1], "TARGET") {
			args = append(args, strings.SplitN(f[1], "=", 2)[0])
		}
	}
	if len(args) < 6 {
		t.Fatalf("app/Dockerfile declares build args %v, want VERSION, REVISION and the fault switches", args)
	}
	return args
}

func noStaticKeysOrDeploys(t *testing.T, name, text string) {
	t.Helper()
	text = regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(text, "") // the comments say what is not there
	for _, bad := range []string{"aws-access-key-id", "aws-secret-access-key", "secrets.AWS_", "update-service", "aws ecs ", "register-task-definition"} {
		if strings.Contains(text, bad) {
			t.Errorf("%s contains %q: CI pushes with OIDC only, and greenlight deploys", name, bad)
		}
	}
}

// iamLike reports whether s matches an IAM StringLike pattern (* any run, ? one character).
func iamLike(pattern, s string) bool {
	re := "^" + strings.NewReplacer(`\*`, ".*", `\?`, ".").Replace(regexp.QuoteMeta(pattern)) + "$"
	return regexp.MustCompile(re).MatchString(s)
}

func trustedSubs(t *testing.T, tp *tmpl, role string, subs []any) []string {
	t.Helper()
	var out []string
	for _, s := range subs {
		v, ok := tp.resolve(t, s).(string)
		if !ok {
			t.Fatalf("%s sub pattern %v does not resolve to a string", role, s)
		}
		out = append(out, v)
	}
	return out
}

func TestGitHubWorkflow(t *testing.T) {
	wf, text := readYAML(t, githubWorkflow)
	noStaticKeysOrDeploys(t, githubWorkflow, text)
	if got := mapping(t, wf["permissions"], "permissions")["id-token"]; got != "write" {
		t.Errorf("permissions.id-token = %v, want write (OIDC)", got)
	}

	job := mapping(t, mapping(t, wf["jobs"], "jobs")["image"], "jobs.image")
	if got := job["if"]; got != "vars.AWS_PUSH_ROLE_ARN != ''" {
		t.Errorf("jobs.image.if = %v, want the job skipped until the push role is configured", got)
	}
	steps := map[string]map[string]any{}
	for _, s := range list(t, job["steps"], "steps") {
		m := s.(map[string]any)
		if uses, ok := m["uses"].(string); ok {
			steps[strings.Split(uses, "@")[0]] = m
		}
	}
	creds := mapping(t, steps["aws-actions/configure-aws-credentials"]["with"], "configure-aws-credentials.with")
	if creds["role-to-assume"] != "${{ vars.AWS_PUSH_ROLE_ARN }}" || len(creds) != 2 {
		t.Errorf("configure-aws-credentials with %v, want role-to-assume and aws-region only", creds)
	}
	build := mapping(t, steps["docker/build-push-action"]["with"], "build-push-action.with")
	platforms := strings.Split(build["platforms"].(string), ",")
	if !slices.Contains(platforms, "linux/amd64") || !slices.Contains(platforms, "linux/arm64") {
		t.Errorf("platforms = %v, want linux/amd64 and linux/arm64", platforms)
	}
	if build["file"] != "app/Dockerfile" || build["context"] != "." || build["push"] != true {
		t.Errorf("build-push-action with %v, want app/Dockerfile built from the repository root and pushed", build)
	}
	for _, arg := range dockerfileBuildArgs(t) {
		if !regexp.MustCompile(`(?m)^` + arg + `=`).MatchString(build["build-args"].(string)) {
			t.Errorf("the workflow does not pass the Dockerfile's build arg %s", arg)
		}
	}

	// Every push the workflow runs on is one the GitHub push role trusts.
	tp := environment(t)
	stmt := mapping(t, tp.prop(t, "GitHubPushRole", "AssumeRolePolicyDocument.Statement.0"), "GitHubPushRole trust")
	cond := mapping(t, stmt["Condition"], "Condition")
	if got := mapping(t, cond["StringEquals"], "StringEquals")["token.actions.githubusercontent.com:aud"]; got != "sts.amazonaws.com" {
		t.Errorf("GitHubPushRole audience = %v, want sts.amazonaws.com", got)
	}
	subs := trustedSubs(t, tp, "GitHubPushRole", list(t, mapping(t, cond["StringLike"], "StringLike")["token.actions.githubusercontent.com:sub"], "sub"))
	push := mapping(t, mapping(t, wf["on"], "on")["push"], "on.push")
	refs := []string{}
	for _, b := range list(t, push["branches"], "branches") {
		refs = append(refs, "refs/heads/"+b.(string))
	}
	for _, tag := range list(t, push["tags"], "tags") {
		refs = append(refs, "refs/tags/"+strings.ReplaceAll(tag.(string), "*", "1.2.3"))
	}
	repo := tp.defaultOf(t, "GitHubRepository").(string) // resolve filled the patterns in with it
	for _, r := range refs {
		sub := "repo:" + repo + ":ref:" + r
		if !slices.ContainsFunc(subs, func(p string) bool { return iamLike(p, sub) }) {
			t.Errorf("the workflow runs on %s, which GitHubPushRole does not trust (%v)", r, subs)
		}
	}
	if slices.ContainsFunc(subs, func(p string) bool {
		return iamLike(p, "repo:"+repo+":pull_request") || iamLike(p, "repo:"+repo+":ref:refs/heads/feature")
	}) {
		t.Errorf("GitHubPushRole trusts pull requests or any branch: %v", subs)
	}
}

func TestGitLabPipeline(t *testing.T) {
	ci, text := readYAML(t, gitlabPipeline)
	noStaticKeysOrDeploys(t, gitlabPipeline, text)
	job := mapping(t, ci["image"], "image job")
	tokens := mapping(t, job["id_tokens"], "id_tokens")
	if !reflect.DeepEqual(tokens["AWS_ID_TOKEN"], map[string]any{"aud": "sts.amazonaws.com"}) {
		t.Errorf("id_tokens = %v, want AWS_ID_TOKEN for sts.amazonaws.com", tokens)
	}
	for _, want := range []string{"AWS_WEB_IDENTITY_TOKEN_FILE=", `AWS_ROLE_ARN="$AWS_PUSH_ROLE_ARN"`, "--platform linux/amd64,linux/arm64", "-f app/Dockerfile", "--push ."} {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q", gitlabPipeline, want)
		}
	}
	for _, arg := range dockerfileBuildArgs(t) {
		if !strings.Contains(text, "--build-arg "+arg+"=") {
			t.Errorf("the pipeline does not pass the Dockerfile's build arg %s", arg)
		}
	}

	// The refs it runs on are trusted by the GitLab push role.
	tp := environment(t)
	doc, ok := tp.prop(t, "GitLabPushRole", "AssumeRolePolicyDocument").(map[string]any)["Fn::Sub"].([]any)
	if !ok {
		t.Fatal("GitLabPushRole trust is not !Sub [json, vars]")
	}
	trust := tp.resolve(t, map[string]any{"Fn::Sub": doc}).(string)
	for _, want := range []string{
		`"gitlab.com:aud": "sts.amazonaws.com"`,
		`"project_path:${GitLabProject}:ref_type:branch:ref:main"`,
		`"project_path:${GitLabProject}:ref_type:tag:ref:v*"`,
	} {
		want = strings.ReplaceAll(want, "${GitLabProject}", "") // resolve fills the empty default in
		if !strings.Contains(trust, want) {
			t.Errorf("GitLabPushRole trust lacks %s:\n%s", want, trust)
		}
	}
	var tagRule string
	for _, r := range list(t, job["rules"], "rules") {
		if s, _ := r.(map[string]any)["if"].(string); strings.HasPrefix(s, "$CI_COMMIT_TAG =~") {
			tagRule = strings.Trim(strings.TrimPrefix(s, "$CI_COMMIT_TAG =~ "), "/")
		}
	}
	if tagRule == "" || !regexp.MustCompile(tagRule).MatchString("v1.2.3") || !iamLike("v*", "v1.2.3") {
		t.Errorf("the pipeline's tag rule %q and the role's tag pattern v* disagree on v1.2.3", tagRule)
	}
}
