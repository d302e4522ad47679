package rehearsal

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/greenlight-deploy/greenlight/internal/localaws"
)

// rawClient sends the few calls for which greenlight has no SDK client to moto directly:
// EC2's default network (the Go EC2 package takes minutes to compile; local-toolchain §1.1)
// and CloudWatch Logs log groups.
type rawClient struct {
	url  string
	http *http.Client
}

func newRawClient(motoURL string) *rawClient {
	return &rawClient{url: motoURL, http: &http.Client{Timeout: 30 * time.Second}}
}

func (c *rawClient) do(ctx context.Context, service string, hdr map[string]string, body []byte) ([]byte, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url+"/", bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/"+localaws.Region+"/"+service+"/aws4_request, SignedHeaders=host, Signature=rehearsal")
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			last = err
			continue
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			last = err
			continue
		}
		if resp.StatusCode >= 300 {
			return nil, fmt.Errorf("%s: HTTP %d: %s", service, resp.StatusCode, strings.TrimSpace(string(b)))
		}
		return b, nil
	}
	return nil, last
}

// ec2 sends one EC2 query action and returns the values of tag in the answer.
func (c *rawClient) ec2(ctx context.Context, form url.Values, tag string) ([]string, error) {
	form.Set("Version", "2016-11-15")
	b, err := c.do(ctx, "ec2", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, []byte(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("moto EC2 %s: %w", form.Get("Action"), err)
	}
	re := regexp.MustCompile("<" + tag + ">([^<]+)</" + tag + ">")
	var out []string
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		out = append(out, m[1])
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("moto EC2 %s: no <%s> in the answer", form.Get("Action"), tag)
	}
	return out, nil
}

// jsonRPC sends one AWS JSON 1.1 call (X-Amz-Target) and decodes the answer into out.
func (c *rawClient) jsonRPC(ctx context.Context, service, target string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	b, err := c.do(ctx, service, map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}, body)
	if err != nil {
		return fmt.Errorf("%s: %w", target, err)
	}
	if out != nil && len(b) > 0 {
		return json.Unmarshal(b, out)
	}
	return nil
}

// defaultNetwork is moto's default VPC, two of its subnets and its default security group:
// they stand in for the demo environment's VPC (tasks run on loopback addresses anyway).
type defaultNetwork struct {
	vpc            string
	subnets        []string
	securityGroups []string
}

func (c *rawClient) defaultNetwork(ctx context.Context) (defaultNetwork, error) {
	var n defaultNetwork
	subnets, err := c.ec2(ctx, url.Values{"Action": {"DescribeSubnets"}, "Filter.1.Name": {"default-for-az"}, "Filter.1.Value.1": {"true"}}, "subnetId")
	if err != nil {
		return n, err
	}
	if len(subnets) < 2 {
		return n, fmt.Errorf("moto has %d default subnets; want 2", len(subnets))
	}
	vpcs, err := c.ec2(ctx, url.Values{"Action": {"DescribeVpcs"}, "Filter.1.Name": {"isDefault"}, "Filter.1.Value.1": {"true"}}, "vpcId")
	if err != nil {
		return n, err
	}
	sgs, err := c.ec2(ctx, url.Values{"Action": {"DescribeSecurityGroups"}, "Filter.1.Name": {"group-name"}, "Filter.1.Value.1": {"default"}}, "groupId")
	if err != nil {
		return n, err
	}
	n.vpc, n.subnets, n.securityGroups = vpcs[0], subnets[:2], sgs[:1]
	return n, nil
}
