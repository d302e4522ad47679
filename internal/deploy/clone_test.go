package deploy_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"

	"github.com/greenlight-deploy/greenlight/internal/deploy"
)

const (
	digestA = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd12345678"
	reg     = "111122223333.dkr.ecr.eu-west-1.amazonaws.com"
)

func container(name, image string) ecstypes.ContainerDefinition {
	return ecstypes.ContainerDefinition{Name: aws.String(name), Image: aws.String(image), Essential: aws.Bool(true),
		PortMappings: []ecstypes.PortMapping{{ContainerPort: aws.Int32(8080)}},
		Environment:  []ecstypes.KeyValuePair{{Name: aws.String("MODE"), Value: aws.String(name)}}}
}

func taskDef(cs ...ecstypes.ContainerDefinition) *ecstypes.TaskDefinition {
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	return &ecstypes.TaskDefinition{
		TaskDefinitionArn: aws.String("arn:aws:ecs:eu-west-1:111122223333:task-definition/web:7"),
		Family:            aws.String("web"), Revision: 7, Status: ecstypes.TaskDefinitionStatusActive,
		Cpu: aws.String("256"), Memory: aws.String("512"), NetworkMode: ecstypes.NetworkModeAwsvpc,
		ExecutionRoleArn: aws.String("arn:aws:iam::111122223333:role/exec"), TaskRoleArn: aws.String("arn:aws:iam::111122223333:role/task"),
		RequiresCompatibilities: []ecstypes.Compatibility{ecstypes.CompatibilityFargate},
		Compatibilities:         []ecstypes.Compatibility{ecstypes.CompatibilityEc2, ecstypes.CompatibilityFargate},
		RequiresAttributes:      []ecstypes.Attribute{{Name: aws.String("com.amazonaws.ecs.capability.logging-driver.awslogs")}},
		RegisteredAt:            &at, RegisteredBy: aws.String("arn:aws:iam::111122223333:user/ci"), DeregisteredAt: &at,
		Volumes:              []ecstypes.Volume{{Name: aws.String("tmp")}},
		RuntimePlatform:      &ecstypes.RuntimePlatform{CpuArchitecture: ecstypes.CPUArchitectureArm64},
		ContainerDefinitions: cs,
	}
}

func TestCloneTaskDefinition(t *testing.T) {
	newImage := deploy.ImageURI(reg, "web", digestA)
	tests := []struct {
		name       string
		containers []ecstypes.ContainerDefinition
		target     string
		wantImages map[string]string
		wantErr    string
	}{
		{
			name:       "single container",
			containers: []ecstypes.ContainerDefinition{container("app", reg+"/web:v1")},
			target:     "app",
			wantImages: map[string]string{"app": newImage},
		},
		{
			name: "sidecars untouched",
			containers: []ecstypes.ContainerDefinition{
				container("envoy", "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29"),
				container("app", reg+"/web:v1"),
				container("log-router", "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable"),
			},
			target: "app",
			wantImages: map[string]string{
				"envoy":      "public.ecr.aws/appmesh/aws-appmesh-envoy:v1.29",
				"app":        newImage,
				"log-router": "public.ecr.aws/aws-observability/aws-for-fluent-bit:stable",
			},
		},
		{
			name:       "multi-container, second app image from the same repo is not the target",
			containers: []ecstypes.ContainerDefinition{container("app", reg+"/web:v1"), container("worker", reg+"/web:v1")},
			target:     "worker",
			wantImages: map[string]string{"app": reg + "/web:v1", "worker": newImage},
		},
		{
			name:       "image already by digest",
			containers: []ecstypes.ContainerDefinition{container("app", reg+"/web@sha256:"+strings.Repeat("0", 64))},
			target:     "app",
			wantImages: map[string]string{"app": newImage},
		},
		{
			name:       "missing container names the ones that exist",
			containers: []ecstypes.ContainerDefinition{container("web", reg+"/web:v1"), container("envoy", "envoy:1")},
			target:     "app",
			wantErr:    `has no container "app" (it has "envoy", "web")`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td := taskDef(tt.containers...)
			before := *td.ContainerDefinitions[0].Image
			tags := []ecstypes.Tag{{Key: aws.String(deploy.TagDigest), Value: aws.String(digestA)}}
			in, err := deploy.CloneTaskDefinition(td, tt.target, newImage, tags)
			if tt.wantErr != "" {
				var nf *deploy.ErrContainerNotFound
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &nf) {
					t.Fatalf("CloneTaskDefinition(%s) error = %v; want ErrContainerNotFound containing %q", tt.target, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, c := range in.ContainerDefinitions {
				got[*c.Name] = *c.Image
			}
			if !reflect.DeepEqual(got, tt.wantImages) {
				t.Errorf("images = %v; want %v", got, tt.wantImages)
			}
			if *td.ContainerDefinitions[0].Image != before {
				t.Error("CloneTaskDefinition modified the service's task definition")
			}
			// Everything registerable is kept.
			if *in.Family != "web" || *in.Cpu != "256" || *in.Memory != "512" || in.NetworkMode != ecstypes.NetworkModeAwsvpc ||
				*in.ExecutionRoleArn != *td.ExecutionRoleArn || *in.TaskRoleArn != *td.TaskRoleArn ||
				len(in.Volumes) != 1 || in.RuntimePlatform.CpuArchitecture != ecstypes.CPUArchitectureArm64 ||
				len(in.RequiresCompatibilities) != 1 || len(in.Tags) != 1 {
				t.Errorf("clone lost fields: %+v", in)
			}
			for _, c := range in.ContainerDefinitions {
				if len(c.PortMappings) != 1 || len(c.Environment) != 1 {
					t.Errorf("container %s lost its port mappings or environment", *c.Name)
				}
			}
		})
	}
}

func TestParseImage(t *testing.T) {
	tests := []struct{ ref, repo, tag, digest string }{
		{reg + "/web:v1.2.3", "web", "v1.2.3", ""},
		{reg + "/team/web@" + digestA, "team/web", "", digestA},
		{reg + "/web:v1@" + digestA, "web", "v1", digestA},
		{"nginx", "nginx", "", ""},
		{"localhost:5000/web:dev", "web", "dev", ""},
		{"library/nginx:1.27", "library/nginx", "1.27", ""},
	}
	for _, tt := range tests {
		repo, tag, d := deploy.ParseImage(tt.ref)
		if repo != tt.repo || tag != tt.tag || d != tt.digest {
			t.Errorf("ParseImage(%q) = %q, %q, %q; want %q, %q, %q", tt.ref, repo, tag, d, tt.repo, tt.tag, tt.digest)
		}
	}
	if !deploy.PinsDigest(reg+"/web@"+digestA, "web", digestA) || deploy.PinsDigest(reg+"/api@"+digestA, "web", digestA) {
		t.Error("PinsDigest must match both repository and digest")
	}
}
