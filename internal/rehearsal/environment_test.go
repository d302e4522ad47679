package rehearsal

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	elbtypes "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/greenlight-deploy/greenlight/internal/awstest"
)

// TestMain stops the shared moto_server TestCreateTargetGroupRepeated starts.
func TestMain(m *testing.M) { awstest.Main(m) }

// TestCreateTargetGroupRepeated: the second create of the same target group (what an SDK retry
// after a lost answer sends) returns the first group, as AWS does, instead of moto's error.
func TestCreateTargetGroupRepeated(t *testing.T) {
	ctx := context.Background()
	// moto's default VPC, which lives in its default account.
	net, err := newRawClient(awstest.Moto(t).URL).defaultNetwork(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cfg := awstest.DefaultAccountConfig(t)
	a, b := fmt.Sprintf("tg-a-%d", time.Now().UnixNano()%1e9), fmt.Sprintf("tg-b-%d", time.Now().UnixNano()%1e9)
	elb := elbv2.NewFromConfig(cfg)
	in := func(name string) *elbv2.CreateTargetGroupInput {
		return &elbv2.CreateTargetGroupInput{Name: aws.String(name), Port: aws.Int32(8080),
			Protocol: elbtypes.ProtocolEnumHttp, TargetType: elbtypes.TargetTypeEnumIp, VpcId: aws.String(net.vpc)}
	}
	if _, err := elb.CreateTargetGroup(ctx, in(a)); err != nil {
		t.Fatal(err)
	}
	// moto's answer to the repeat, which createTargetGroup exists for.
	var dup *elbtypes.DuplicateTargetGroupNameException
	if _, err := elb.CreateTargetGroup(ctx, in(a)); !errors.As(err, &dup) {
		t.Logf("moto now answers a repeated CreateTargetGroup with %v; createTargetGroup may no longer be needed", err)
	}
	first, err := elb.DescribeTargetGroups(ctx, &elbv2.DescribeTargetGroupsInput{Names: []string{a}})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := createTargetGroup(ctx, elb, in(a))
	if err != nil {
		t.Fatalf("repeated create: %v", err)
	}
	if aws.ToString(tg.TargetGroupArn) != aws.ToString(first.TargetGroups[0].TargetGroupArn) {
		t.Errorf("repeated create returned %s, want the first group %s", aws.ToString(tg.TargetGroupArn), aws.ToString(first.TargetGroups[0].TargetGroupArn))
	}
	fresh, err := createTargetGroup(ctx, elb, in(b))
	if err != nil || aws.ToString(fresh.TargetGroupName) != b {
		t.Errorf("new group: %+v, %v", fresh, err)
	}
}
