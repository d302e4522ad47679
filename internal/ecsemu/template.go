package ecsemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ServiceRequestFromTemplate turns the Properties of an AWS::ECS::Service resource, with its
// intrinsics (!Ref, !GetAtt …) already resolved to physical values, into the CreateService
// request body: CloudFormation's property names are the API's with the first letter upper
// case (reference §1.5 shows both forms), except inside HookDetails, which is user data and
// passes through unchanged (an object, or the JSON string CloudFormation also accepts).
func ServiceRequestFromTemplate(props map[string]any) ([]byte, error) {
	if len(props) == 0 {
		return nil, errors.New("ecsemu: the AWS::ECS::Service has no Properties")
	}
	out, err := lowerKeys(props, "Properties")
	if err != nil {
		return nil, err
	}
	m := out.(map[string]any)
	for _, k := range []string{"serviceName", "taskDefinition"} {
		if s, _ := m[k].(string); s == "" {
			return nil, fmt.Errorf("ecsemu: the AWS::ECS::Service needs %s (resolve its !Ref first)", strings.ToUpper(k[:1])+k[1:])
		}
	}
	return json.Marshal(m)
}

func lowerKeys(v any, path string) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			if strings.HasPrefix(k, "Fn::") || k == "Ref" {
				return nil, fmt.Errorf("ecsemu: %s still holds the intrinsic %s; resolve it to a physical value first", path, k)
			}
			r, _ := utf8.DecodeRuneInString(k)
			key := string(unicode.ToLower(r)) + k[utf8.RuneLen(r):]
			if k == "HookDetails" {
				out[key] = val
				continue
			}
			conv, err := lowerKeys(val, path+"."+k)
			if err != nil {
				return nil, err
			}
			out[key] = conv
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			conv, err := lowerKeys(val, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = conv
		}
		return out, nil
	}
	return v, nil
}

// CreateServiceFromTemplate creates the service an AWS::ECS::Service resource describes
// (intrinsics resolved; see ServiceRequestFromTemplate) through the emulator's own
// CreateService, in moto account Options.AccountID. It returns the first service
// deployment's ARN; wait for it with WaitDeployment.
func (e *Emulator) CreateServiceFromTemplate(ctx context.Context, props map[string]any) (string, error) {
	body, err := ServiceRequestFromTemplate(props)
	if err != nil {
		return "", err
	}
	hdr := http.Header{}
	hdr.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/"+e.opts.Region+"/ecs/aws4_request, SignedHeaders=host, Signature=emulator")
	hdr.Set("X-Moto-Account-Id", e.opts.AccountID)
	out, err := e.hCreateService(ctx, hdr, body)
	if errors.Is(err, errForward) {
		return "", errors.New("ecsemu: the AWS::ECS::Service is not a blue/green service (DeploymentController ECS, DeploymentConfiguration.Strategy BLUE_GREEN, LINEAR or CANARY)")
	}
	if err != nil {
		return "", fmt.Errorf("ecsemu: CreateService from the template: %w", err)
	}
	svc := out.(map[string]any)["service"].(map[string]any)
	arn, _ := svc["currentServiceDeployment"].(string)
	return arn, nil
}
