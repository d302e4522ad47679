package deploy_test

import sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

func sfnStatus(s string) sfntypes.ExecutionStatus {
	if s == "" {
		return sfntypes.ExecutionStatusSucceeded
	}
	return sfntypes.ExecutionStatus(s)
}
