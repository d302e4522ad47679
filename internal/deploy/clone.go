package deploy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
)

// ErrContainerNotFound reports that the route's container is not in the task definition.
type ErrContainerNotFound struct {
	Container      string
	TaskDefinition string
	Existing       []string
}

func (e *ErrContainerNotFound) Error() string {
	return fmt.Sprintf("task definition %s has no container %q (it has %s): set the route target's container to one of them",
		e.TaskDefinition, e.Container, quoteList(e.Existing))
}

func quoteList(ss []string) string {
	if len(ss) == 0 {
		return "no containers"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

// CloneTaskDefinition turns the service's current task definition into a registration of
// the same definition with only the named container's image replaced by image. Every field
// RegisterTaskDefinition accepts is kept, sidecars included; the read-only fields
// (taskDefinitionArn, revision, status, requiresAttributes, compatibilities, registeredAt,
// registeredBy, deregisteredAt) are not part of the input and so are dropped. The input td
// is not modified.
func CloneTaskDefinition(td *ecstypes.TaskDefinition, container, image string, tags []ecstypes.Tag) (*ecs.RegisterTaskDefinitionInput, error) {
	if td == nil {
		return nil, fmt.Errorf("clone task definition: no task definition")
	}
	containers := make([]ecstypes.ContainerDefinition, len(td.ContainerDefinitions))
	copy(containers, td.ContainerDefinitions)
	found := false
	var names []string
	for i := range containers {
		name := aws.ToString(containers[i].Name)
		names = append(names, name)
		if name == container {
			containers[i].Image = aws.String(image)
			found = true
		}
	}
	if !found {
		sort.Strings(names)
		return nil, &ErrContainerNotFound{Container: container, TaskDefinition: aws.ToString(td.TaskDefinitionArn), Existing: names}
	}
	return &ecs.RegisterTaskDefinitionInput{
		ContainerDefinitions:          containers,
		Family:                        td.Family,
		Cpu:                           td.Cpu,
		EnableFaultInjection:          td.EnableFaultInjection,
		EphemeralStorage:              td.EphemeralStorage,
		ExecutionRoleArn:              td.ExecutionRoleArn,
		InferenceAccelerators:         td.InferenceAccelerators,
		IpcMode:                       td.IpcMode,
		Memory:                        td.Memory,
		NetworkMode:                   td.NetworkMode,
		PidMode:                       td.PidMode,
		PlacementConstraints:          td.PlacementConstraints,
		ProxyConfiguration:            td.ProxyConfiguration,
		RequiresCompatibilities:       td.RequiresCompatibilities,
		RuntimePlatform:               td.RuntimePlatform,
		TaskRoleArn:                   td.TaskRoleArn,
		TrustedExecutionConfiguration: td.TrustedExecutionConfiguration,
		Volumes:                       td.Volumes,
		Tags:                          tags,
	}, nil
}

// ContainerImage returns the image of the named container, and whether it exists.
func ContainerImage(td *ecstypes.TaskDefinition, container string) (string, bool) {
	if td == nil {
		return "", false
	}
	for _, c := range td.ContainerDefinitions {
		if aws.ToString(c.Name) == container {
			return aws.ToString(c.Image), true
		}
	}
	return "", false
}

// ImageURI is the digest-pinned reference a task definition gets: <registry>/<repo>@<digest>.
func ImageURI(registry, repository, digest string) string {
	return registry + "/" + repository + "@" + digest
}

// ParseImage splits an image reference ("<registry>/<repo>:<tag>", "<registry>/<repo>@<digest>",
// "<repo>:<tag>@<digest>") into repository, tag and digest. The registry is dropped from the
// repository when it looks like a host (contains a dot or a colon, or is localhost).
func ParseImage(ref string) (repo, tag, digest string) {
	rest := ref
	if i := strings.Index(rest, "@"); i >= 0 {
		digest = rest[i+1:]
		rest = rest[:i]
	}
	if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i:], "/") {
		tag = rest[i+1:]
		rest = rest[:i]
	}
	if i := strings.Index(rest, "/"); i >= 0 {
		host := rest[:i]
		if strings.ContainsAny(host, ".:") || host == "localhost" {
			rest = rest[i+1:]
		}
	}
	return rest, tag, digest
}

// PinsDigest reports whether image references repository at exactly digest.
func PinsDigest(image, repository, digest string) bool {
	repo, _, d := ParseImage(image)
	return d == digest && repo == repository
}
