package smoketest

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/aws/smithy-go"
)

// At POST_TEST_TRAFFIC_SHIFT the checks go through the test listener. Here the "load
// balancer" is a fake task server whose address is the ALB's DNS name in the ELB fake.

func TestTestListenerFromRoute(t *testing.T) {
	alb := newFleet(t, 1)
	hs := newHarness(t, routeDoc(t, fmt.Sprintf("testListenerUrl: http://%s\n%s", alb.addr(0), healthCheck)))
	resp := hs.invoke(t, event(StagePostTestTrafficShift, ""))
	wantStatus(t, resp, Succeeded)
	wantReason(t, resp, `^1 of 1 green targets passed 1 check at POST_TEST_TRAFFIC_SHIFT$`)
	if c := hs.ecs.Calls(); len(c) != 0 {
		t.Errorf("ECS calls with the route's test listener URL: %v", c)
	}
	ev := hs.evidence.get(sdARN, StagePostTestTrafficShift)
	if len(ev) != 1 || ev[0].Address != alb.addr(0) || ev[0].Task != "" || !ev[0].Passed {
		t.Fatalf("evidence = %+v", ev)
	}

	alb.apps[0].set(500, "FAIL", 0)
	resp = hs.invoke(t, event(StagePostTestTrafficShift, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^GET /health on `+regexp.QuoteMeta(alb.addr(0))+` returned 500 'FAIL' in \d+ ms`)
}

func TestTestListenerFromHookDetailsMustBeTheServicesLoadBalancer(t *testing.T) {
	alb := newFleet(t, 1)
	other := newFleet(t, 1)
	hs := newHarness(t, routeDoc(t, "testListenerUrl: http://10.9.9.9:1\n"+healthCheck))
	hs.elb = newFakeELB(alb.ips[0], alb.port)
	hs.build()

	// The load balancer's own DNS name (any port of it): accepted, and it wins over the route.
	resp := hs.invoke(t, event(StagePostTestTrafficShift, fmt.Sprintf(`{"testListenerUrl": "http://%s"}`, alb.addr(0))))
	wantStatus(t, resp, Succeeded)
	if alb.apps[0].hits() != 1 {
		t.Fatalf("the load balancer got %d requests; want 1", alb.apps[0].hits())
	}

	// Anything else: refused, naming the URL, and never probed.
	bad := "http://" + other.addr(0)
	resp = hs.invoke(t, event(StagePostTestTrafficShift, `{"testListenerUrl": "`+bad+`"}`))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `^hookDetails.testListenerUrl `+regexp.QuoteMeta(bad)+` rejected: its host is not the service's load balancer \(`+regexp.QuoteMeta(alb.ips[0])+`\); greenlight only probes the service's own tasks and load balancer\. Use http://`+regexp.QuoteMeta(alb.addr(0)))
	if other.apps[0].hits() != 0 {
		t.Fatal("probed a URL taken from hookDetails that is not the service's load balancer")
	}

	// Without an ELB client it cannot be verified, so it is refused too.
	hs.elb = nil
	hs.build()
	resp = hs.invoke(t, event(StagePostTestTrafficShift, fmt.Sprintf(`{"testListenerUrl": "http://%s"}`, alb.addr(0))))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `cannot be checked against the service's own load balancer: the smoke-test function has no load balancer client; set smokeTests.testListenerUrl in the route instead`)
}

func TestTestListenerDerivedFromTheServiceRule(t *testing.T) {
	alb := newFleet(t, 1)
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.elb = newFakeELB(alb.ips[0], alb.port)
	hs.elb.rule.Conditions = append(hs.elb.rule.Conditions, elbtypes.RuleCondition{
		Field: aws.String("http-header"), HttpHeaderConfig: &elbtypes.HttpHeaderConditionConfig{HttpHeaderName: aws.String("X-Greenlight-Test"), Values: []string{"1"}},
	})
	hs.build()

	resp := hs.invoke(t, event(StagePostTestTrafficShift, ""))
	wantStatus(t, resp, Succeeded)
	r := alb.apps[0].requests[0]
	if r.Header.Get("X-Greenlight-Test") != "1" || r.URL.Path != "/health" {
		t.Fatalf("request %s headers %v; want the test rule's header", r.URL, r.Header)
	}
	if got := strings.Join(hs.elb.calls, ","); got != "DescribeRules,DescribeListeners,DescribeLoadBalancers" {
		t.Errorf("ELB calls = %s", got)
	}
	logs := hs.logs.verdicts(t)
	if logs[0]["test_listener_from"] != "load balancer" {
		t.Errorf("verdict log = %v", logs[0])
	}

	// A rule greenlight cannot satisfy: fail, saying what to configure.
	hs.elb.rule.Conditions = []elbtypes.RuleCondition{{Field: aws.String("source-ip"), SourceIpConfig: &elbtypes.SourceIpConditionConfig{Values: []string{"10.0.0.0/8"}}}}
	resp = hs.invoke(t, event(StagePostTestTrafficShift, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `cannot probe the test listener http://.*: the test rule has a source-ip condition greenlight cannot satisfy; set smokeTests.testListenerUrl in the route`)

	hs.elb.rule.Conditions = []elbtypes.RuleCondition{{Field: aws.String("path-pattern"), PathPatternConfig: &elbtypes.PathPatternConditionConfig{Values: []string{"/api/*"}}}}
	resp = hs.invoke(t, event(StagePostTestTrafficShift, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `check "health" path /health does not match the test rule's path patterns \[/api/\*\]`)

	// No test listener rule at all.
	hs.ecs.revision.LoadBalancers[0].AdvancedConfiguration = nil
	resp = hs.invoke(t, event(StagePostTestTrafficShift, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `has no advancedConfiguration.testListenerRule`)
}

func TestTestListenerDerivationErrors(t *testing.T) {
	hs := newHarness(t, routeDoc(t, healthCheck))
	hs.elb = newFakeELB("internal-web.example", 8443)
	hs.elb.errs["DescribeRules"] = &smithy.GenericAPIError{Code: "AccessDenied", Message: "User is not authorized to perform: elasticloadbalancing:DescribeRules", Fault: smithy.FaultClient}
	hs.build()
	resp := hs.invoke(t, event(StagePostTestTrafficShift, ""))
	wantStatus(t, resp, Failed)
	wantReason(t, resp, `cannot find the test listener: describe test listener rule .*elasticloadbalancing:DescribeRules.*grant the smoke-test function's role this action`)

	hs.elb.errs["DescribeRules"] = &smithy.GenericAPIError{Code: "Throttling", Message: "Rate exceeded"}
	resp = hs.invoke(t, event(StagePostTestTrafficShift, ""))
	wantStatus(t, resp, InProgress)
	wantReason(t, resp, `cannot find the test listener: describe test listener rule`)
}

func TestListenerOfRule(t *testing.T) {
	if got := listenerOfRule(testRuleARN); got != testLsnARN {
		t.Fatalf("listenerOfRule(%s) = %s; want %s", testRuleARN, got, testLsnARN)
	}
}

func TestMatchesAny(t *testing.T) {
	for _, tc := range []struct {
		pats []string
		path string
		want bool
	}{
		{[]string{"/*"}, "/health", true},
		{[]string{"*"}, "/", true},
		{[]string{"/api/*"}, "/health", false},
		{[]string{"/api/*", "/health"}, "/health", true},
		{[]string{"/v?/ping"}, "/v2/ping", true},
		{[]string{"/a.b"}, "/axb", false},
	} {
		if got := matchesAny(tc.pats, tc.path); got != tc.want {
			t.Errorf("matchesAny(%v, %s) = %v; want %v", tc.pats, tc.path, got, tc.want)
		}
	}
}
