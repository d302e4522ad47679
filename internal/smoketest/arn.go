package smoketest

import (
	"fmt"
	"strings"
)

// ecsARN is an ECS ARN split into its parts.
type ecsARN struct {
	Partition, Region, Account string
	Type                       string   // service, service-deployment, service-revision
	Path                       []string // after the type: cluster, service, id …
}

func parseECSARN(s, wantType string) (ecsARN, error) {
	parts := strings.SplitN(s, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "ecs" {
		return ecsARN{}, fmt.Errorf("%q is not an ECS %s ARN (arn:aws:ecs:<region>:<account>:%s/…)", s, wantType, wantType)
	}
	typ, rest, _ := strings.Cut(parts[5], "/")
	if typ != wantType {
		return ecsARN{}, fmt.Errorf("%q is a %s ARN, want a %s ARN", s, typ, wantType)
	}
	path := strings.Split(rest, "/")
	for _, p := range path {
		if p == "" {
			return ecsARN{}, fmt.Errorf("%q has an empty part", s)
		}
	}
	return ecsARN{Partition: parts[1], Region: parts[3], Account: parts[4], Type: typ, Path: path}, nil
}

// identity is which service a hook call is about, checked across the event's three ARNs.
type identity struct {
	Cluster, Service string
	Region, Account  string
}

func (i identity) key() string { return i.Cluster + "/" + i.Service }

// identify reads cluster and service from the service-deployment ARN and checks that the
// service ARN and the target revision ARN name the same service: a call whose ARNs disagree
// is refused rather than probing some other service's tasks.
func identify(ev HookEvent) (identity, error) {
	sd, err := parseECSARN(ev.ResourceArn, "service-deployment")
	if err != nil {
		return identity{}, fmt.Errorf("resourceArn: %v", err)
	}
	if len(sd.Path) != 3 {
		return identity{}, fmt.Errorf("resourceArn: %q is not service-deployment/<cluster>/<service>/<id>", ev.ResourceArn)
	}
	id := identity{Cluster: sd.Path[0], Service: sd.Path[1], Region: sd.Region, Account: sd.Account}

	svc, err := parseECSARN(ev.ExecutionDetails.ServiceArn, "service")
	if err != nil {
		return identity{}, fmt.Errorf("executionDetails.serviceArn: %v", err)
	}
	// service/<cluster>/<service>, or the old service/<service> form without the cluster.
	switch {
	case len(svc.Path) == 2 && (svc.Path[0] != id.Cluster || svc.Path[1] != id.Service),
		len(svc.Path) == 1 && svc.Path[0] != id.Service,
		len(svc.Path) > 2,
		svc.Region != id.Region || svc.Account != id.Account:
		return identity{}, fmt.Errorf("executionDetails.serviceArn %q is not the service of resourceArn %q", ev.ExecutionDetails.ServiceArn, ev.ResourceArn)
	}

	rev, err := parseECSARN(ev.ExecutionDetails.TargetServiceRevisionArn, "service-revision")
	if err != nil {
		return identity{}, fmt.Errorf("executionDetails.targetServiceRevisionArn: %v", err)
	}
	if len(rev.Path) != 3 || rev.Path[0] != id.Cluster || rev.Path[1] != id.Service || rev.Region != id.Region || rev.Account != id.Account {
		return identity{}, fmt.Errorf("executionDetails.targetServiceRevisionArn %q is not a revision of the service of resourceArn %q", ev.ExecutionDetails.TargetServiceRevisionArn, ev.ResourceArn)
	}
	return id, nil
}

// taskID is the last part of a task ARN.
func taskID(arn string) string {
	if i := strings.LastIndex(arn, "/"); i >= 0 {
		return arn[i+1:]
	}
	return arn
}

// sameService reports whether two service ARNs name the same service, in either the
// service/<cluster>/<service> or the old service/<service> form.
func sameService(a, b string) bool {
	if a == b {
		return true
	}
	pa, err1 := parseECSARN(a, "service")
	pb, err2 := parseECSARN(b, "service")
	if err1 != nil || err2 != nil || pa.Region != pb.Region || pa.Account != pb.Account {
		return false
	}
	if pa.Path[len(pa.Path)-1] != pb.Path[len(pb.Path)-1] {
		return false
	}
	return len(pa.Path) != 2 || len(pb.Path) != 2 || pa.Path[0] == pb.Path[0]
}
