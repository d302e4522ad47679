package ecsemu

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	"gopkg.in/yaml.v3"
)

func loadTemplateProps(t *testing.T) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "template", "service.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer("TG_A", tgA, "TG_B", tgB, "PROD_RULE", prodRule, "TEST_RULE", testRule).Replace(string(b))
	var props map[string]any
	if err := yaml.Unmarshal([]byte(s), &props); err != nil {
		t.Fatal(err)
	}
	return props
}

func TestServiceRequestFromTemplate(t *testing.T) {
	got, err := ServiceRequestFromTemplate(loadTemplateProps(t))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("testdata", "template", "create-service.json"))
	if err != nil {
		t.Fatal(err)
	}
	wantS := strings.NewReplacer("TG_A", tgA, "TG_B", tgB, "PROD_RULE", prodRule, "TEST_RULE", testRule).Replace(string(want))
	var g, w any
	_ = json.Unmarshal(got, &g)
	if err := json.Unmarshal([]byte(wantS), &w); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("ServiceRequestFromTemplate:\n got %s\nwant %s", got, wantS)
	}

	for _, tc := range []struct {
		props map[string]any
		want  string
	}{
		{map[string]any{}, "no Properties"},
		{map[string]any{"ServiceName": "web"}, "needs TaskDefinition"},
		{map[string]any{"ServiceName": "web", "TaskDefinition": map[string]any{"Ref": "TaskDef"}}, "Properties.TaskDefinition still holds the intrinsic Ref"},
	} {
		if _, err := ServiceRequestFromTemplate(tc.props); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ServiceRequestFromTemplate(%v) = %v, want an error containing %q", tc.props, err, tc.want)
		}
	}
}

// TestCreateServiceFromTemplate creates the reference §1.5 service from its template
// properties and runs a deployment on it; the hookDetails reach the hook unchanged.
func TestCreateServiceFromTemplate(t *testing.T) {
	h := newHarness(t, harnessOpts{cw: newFakeCW(rateAlarm("web-5xx-rate", lbName, tgA, tgB))})
	if _, err := h.em.CreateServiceFromTemplate(h.ctx, loadTemplateProps(t)); err == nil || !strings.Contains(err.Error(), "ClusterNotFoundException") {
		t.Fatalf("before the cluster exists: %v, want ClusterNotFoundException", err)
	}
	if _, err := h.ecs.CreateCluster(h.ctx, &ecs.CreateClusterInput{ClusterName: aws.String("prod")}); err != nil {
		t.Fatal(err)
	}
	h.registerTD("web", map[string]string{"VERSION": "blue"}) // web:1
	arn, err := h.em.CreateServiceFromTemplate(h.ctx, loadTemplateProps(t))
	if err != nil {
		t.Fatal(err)
	}
	if r := h.wait(arn); r.Status != StatusSuccessful {
		t.Fatalf("first deployment %s", r.Status)
	}
	// A second service on the same target groups is refused.
	props := loadTemplateProps(t)
	props["ServiceName"] = "web2"
	if _, err := h.em.CreateServiceFromTemplate(h.ctx, props); err == nil || !strings.Contains(err.Error(), "already used by service prod/web") {
		t.Errorf("second service on the same target groups: %v", err)
	}
	r := h.wait(h.deploy("web", map[string]string{"VERSION": "green"}))
	if r.Status != StatusSuccessful || len(r.Hooks) != 1 {
		t.Fatalf("deployment %s with %d hook invocations", r.Status, len(r.Hooks))
	}
	var ev hookEvent
	_ = json.Unmarshal(r.Hooks[0].Payload, &ev)
	if got := mustJSON(ev.HookDetails); got != `{"Path":"/healthz","RetryCount":2}` {
		t.Errorf("hookDetails = %s", got)
	}
}
