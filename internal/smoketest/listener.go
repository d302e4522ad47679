package smoketest

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight-deploy/greenlight/internal/routes"
)

// elbAPI is the part of the ELBv2 client the hook uses to find the service's own test
// listener; *elasticloadbalancingv2.Client satisfies it.
type elbAPI interface {
	DescribeRules(ctx context.Context, in *elbv2.DescribeRulesInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeRulesOutput, error)
	DescribeListeners(ctx context.Context, in *elbv2.DescribeListenersInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeListenersOutput, error)
	DescribeLoadBalancers(ctx context.Context, in *elbv2.DescribeLoadBalancersInput, optFns ...func(*elbv2.Options)) (*elbv2.DescribeLoadBalancersOutput, error)
}

// testListener is the service's own test listener, as its load balancer configuration says.
type testListener struct {
	base    *url.URL          // scheme://<load balancer DNS name>:<listener port>
	host    string            // the load balancer's DNS name
	headers map[string]string // header values the test rule requires
	// unusable says why base cannot be used as is (a rule condition greenlight cannot
	// satisfy); the DNS name still identifies the load balancer.
	unusable string
}

// findTestListener follows the green revision's test listener rule to its listener and load
// balancer (reference §1.3: an ALB rule ARN, or for an NLB a listener ARN).
func findTestListener(ctx context.Context, api elbAPI, rev revision, checks []routes.Check) (testListener, error) {
	if api == nil {
		return testListener{}, permanent("the smoke-test function has no load balancer client")
	}
	adv := rev.lb.AdvancedConfiguration
	if adv == nil || aws.ToString(adv.TestListenerRule) == "" {
		return testListener{}, permanent("the service's load balancer entry has no advancedConfiguration.testListenerRule, so it has no test listener; set smokeTests.testListenerUrl in the route or check at POST_SCALE_UP instead")
	}
	ruleARN := aws.ToString(adv.TestListenerRule)
	var tl testListener
	listenerARN := ruleARN
	if strings.Contains(ruleARN, ":listener-rule/") {
		out, err := api.DescribeRules(ctx, &elbv2.DescribeRulesInput{RuleArns: []string{ruleARN}})
		if err != nil {
			return testListener{}, awsError("describe test listener rule "+ruleARN, err)
		}
		if len(out.Rules) == 0 {
			return testListener{}, permanent("test listener rule %s not found", ruleARN)
		}
		tl.headers, tl.unusable = ruleRequirements(out.Rules[0], checks)
		listenerARN = listenerOfRule(ruleARN)
	}
	lo, err := api.DescribeListeners(ctx, &elbv2.DescribeListenersInput{ListenerArns: []string{listenerARN}})
	if err != nil {
		return testListener{}, awsError("describe test listener "+listenerARN, err)
	}
	if len(lo.Listeners) == 0 {
		return testListener{}, permanent("test listener %s not found", listenerARN)
	}
	l := lo.Listeners[0]
	bo, err := api.DescribeLoadBalancers(ctx, &elbv2.DescribeLoadBalancersInput{LoadBalancerArns: []string{aws.ToString(l.LoadBalancerArn)}})
	if err != nil {
		return testListener{}, awsError("describe load balancer "+aws.ToString(l.LoadBalancerArn), err)
	}
	if len(bo.LoadBalancers) == 0 || aws.ToString(bo.LoadBalancers[0].DNSName) == "" {
		return testListener{}, permanent("load balancer %s not found", aws.ToString(l.LoadBalancerArn))
	}
	tl.host = strings.ToLower(aws.ToString(bo.LoadBalancers[0].DNSName))
	scheme := "http"
	switch l.Protocol {
	case elbtypes.ProtocolEnumHttps, elbtypes.ProtocolEnumTls:
		scheme = "https"
	case elbtypes.ProtocolEnumHttp, elbtypes.ProtocolEnumTcp:
	default:
		if tl.unusable == "" {
			tl.unusable = fmt.Sprintf("the test listener's protocol is %s, not HTTP(S)", l.Protocol)
		}
	}
	tl.base = &url.URL{Scheme: scheme, Host: net.JoinHostPort(tl.host, strconv.Itoa(int(aws.ToInt32(l.Port))))}
	return tl, nil
}

// listenerOfRule turns …:listener-rule/app/<lb>/<lb-id>/<listener-id>/<rule-id> into
// …:listener/app/<lb>/<lb-id>/<listener-id>.
func listenerOfRule(rule string) string {
	s := strings.Replace(rule, ":listener-rule/", ":listener/", 1)
	if i := strings.LastIndex(s, "/"); i > 0 {
		s = s[:i]
	}
	return s
}

// ruleRequirements reads what a request must carry to match the test rule: http-header
// conditions with one literal value are sent as headers; path-pattern conditions must match
// every check's path; any other condition makes the derived address unusable (say which).
func ruleRequirements(r elbtypes.Rule, checks []routes.Check) (map[string]string, string) {
	if aws.ToBool(r.IsDefault) {
		return nil, ""
	}
	headers := map[string]string{}
	for _, c := range r.Conditions {
		field := aws.ToString(c.Field)
		switch field {
		case "http-header":
			h := c.HttpHeaderConfig
			if h == nil || len(h.Values) != 1 || strings.ContainsAny(h.Values[0], "*?") || strings.EqualFold(aws.ToString(h.HttpHeaderName), "Host") {
				return nil, "the test rule's http-header condition has no single literal value greenlight can send"
			}
			headers[aws.ToString(h.HttpHeaderName)] = h.Values[0]
		case "path-pattern":
			var pats []string
			if c.PathPatternConfig != nil {
				pats = c.PathPatternConfig.Values
			}
			if len(pats) == 0 {
				pats = c.Values
			}
			if len(pats) == 0 {
				return nil, "the test rule's path-pattern condition uses regular expressions greenlight does not evaluate"
			}
			for _, ch := range checks {
				if !matchesAny(pats, pathOnly(ch.Path)) {
					return nil, fmt.Sprintf("check %q path %s does not match the test rule's path patterns %v", ch.Name, ch.Path, pats)
				}
			}
		default:
			return nil, fmt.Sprintf("the test rule has a %s condition greenlight cannot satisfy", field)
		}
	}
	if len(headers) == 0 {
		headers = nil
	}
	return headers, ""
}

func pathOnly(p string) string {
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return p[:i]
	}
	return p
}

// matchesAny matches ALB path patterns: case-sensitive, '*' any run of characters, '?' one.
func matchesAny(patterns []string, path string) bool {
	for _, p := range patterns {
		var b strings.Builder
		b.WriteString("^")
		for _, r := range p {
			switch r {
			case '*':
				b.WriteString(".*")
			case '?':
				b.WriteString(".")
			default:
				b.WriteString(regexp.QuoteMeta(string(r)))
			}
		}
		b.WriteString("$")
		if regexp.MustCompile(b.String()).MatchString(path) {
			return true
		}
	}
	return false
}

// parseBaseURL reads a test listener base URL: http(s), a host, an optional port and path
// prefix, nothing else.
func parseBaseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %v", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) base URL such as http://my-alb-123.eu-west-1.elb.amazonaws.com:8080", s)
	}
	if u.User != nil || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("%q must be scheme://host[:port][/prefix] without credentials, query or fragment", s)
	}
	return u, nil
}
