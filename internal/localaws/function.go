package localaws

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// FunctionOptions configures StartFunction.
type FunctionOptions struct {
	// ModuleDir is the root of the Go module that holds Package (where go.mod is). Required,
	// unless Bootstrap and RIEPath are both set.
	ModuleDir string
	// Package is the function's main package, relative to ModuleDir, for example
	// ./functions/notify. Required unless Bootstrap is set.
	Package string
	// Bootstrap is an already built bootstrap to run (see BuildBootstraps); when set, Package
	// is not built and BuildDir is not used.
	Bootstrap string
	// Name is the function's name: AWS_LAMBDA_FUNCTION_NAME under aws-lambda-rie, and the
	// Lambda function's name in moto. Required.
	Name string
	// Env is added to the function's environment, after the emulator's own variables (the
	// region and test credentials). Point the function at moto with AWS_ENDPOINT_URL.
	Env []string
	// Timeout is AWS_LAMBDA_FUNCTION_TIMEOUT and the Lambda function's timeout; default 60 s.
	Timeout time.Duration
	// BuildDir is where Package is built, to BuildDir/<package base>/bootstrap; the emulator's
	// log, <Name>.log, goes beside the bootstrap. Default: a new temporary directory, which
	// Stop removes.
	BuildDir string
	// RIEPath is the aws-lambda-rie binary; default InstallRIE(ModuleDir/.bin). Callers that
	// start several functions at once install it first and set it: concurrent installs race.
	RIEPath string

	// Moto, when set, also makes the function a Lambda function there: CreateFunction with
	// the zipped bootstrap (provided.al2023, arm64, as template.yaml declares), and
	// RouteLambda, so Lambda Invoke, Step Functions tasks and SNS "lambda" subscriptions
	// reach the emulator. Without Moto the function is reached only through Invoke.
	Moto *Moto
	// Account is the moto account the Lambda function is created in; default DefaultAccount,
	// where Step Functions task states act.
	Account string
	// RoleARN is the function's execution role; moto requires an existing IAM role (create one
	// with IAM CreateRole in the same account). Required with Moto.
	RoleARN string
}

// Function is a Lambda bootstrap running under aws-lambda-rie and, when StartFunction was
// given a Moto, a Lambda function in moto that routes to it. The embedded RIE gives Invoke
// (directly, not through moto), LogTail and LogPath.
type Function struct {
	*RIE
	// ARN is the Lambda function's ARN in moto; empty when it was not created there.
	ARN string
	// Bootstrap is the binary the emulator runs.
	Bootstrap string

	tempDir string
}

// ErrFunctionOptions reports FunctionOptions that StartFunction cannot work with.
var ErrFunctionOptions = errors.New("localaws: bad FunctionOptions")

func (o FunctionOptions) validate() error {
	var missing []string
	if o.ModuleDir == "" && (o.Bootstrap == "" || o.RIEPath == "") {
		missing = append(missing, "ModuleDir (the Go module's root, where go.mod is)")
	}
	if o.Package == "" && o.Bootstrap == "" {
		missing = append(missing, "Package (for example ./functions/notify) or Bootstrap")
	}
	if o.Name == "" {
		missing = append(missing, "Name (the function's name)")
	}
	if o.Moto != nil && o.RoleARN == "" {
		missing = append(missing, "RoleARN (moto's CreateFunction needs an existing IAM role: create one with IAM CreateRole)")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: set %s", ErrFunctionOptions, joinAnd(missing))
	}
	return nil
}

// StartFunction builds the function's bootstrap as `sam build` does, starts it under
// aws-lambda-rie and, with o.Moto, creates it as a Lambda function in moto and routes
// moto's invocations of it to the emulator. On error nothing it started keeps running.
// Stop ends the emulator and the bootstrap.
func StartFunction(ctx context.Context, o FunctionOptions) (f *Function, err error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	f = &Function{Bootstrap: o.Bootstrap}
	defer func() {
		if err != nil {
			_ = f.Stop()
			f = nil
		}
	}()
	if o.RIEPath == "" {
		if o.RIEPath, err = InstallRIE(ctx, filepath.Join(o.ModuleDir, ".bin")); err != nil {
			return f, err
		}
	}
	if f.Bootstrap == "" {
		if o.BuildDir == "" {
			if f.tempDir, err = os.MkdirTemp("", "greenlight-function-"); err != nil {
				return f, err
			}
			o.BuildDir = f.tempDir
		}
		if f.Bootstrap, err = BuildBootstrap(ctx, o.ModuleDir, o.Package, o.BuildDir); err != nil {
			return f, err
		}
	}
	if f.RIE, err = StartRIE(ctx, RIEOptions{RIEPath: o.RIEPath, Bootstrap: f.Bootstrap, Name: o.Name, Env: o.Env, Timeout: o.Timeout}); err != nil {
		return f, err
	}
	if o.Moto == nil {
		return f, nil
	}
	if f.ARN, err = createFunction(ctx, o, f.Bootstrap); err != nil {
		return f, err
	}
	if err := o.Moto.RouteLambda(o.Name, f.RIE.URL); err != nil {
		return f, fmt.Errorf("route %s to its aws-lambda-rie: %w", o.Name, err)
	}
	return f, nil
}

// createFunction creates the Lambda function in moto with the zipped bootstrap.
func createFunction(ctx context.Context, o FunctionOptions, bootstrap string) (string, error) {
	cfg, err := Config(ctx, o.Moto.URL, o.Account)
	if err != nil {
		return "", err
	}
	zipped, err := ZipBootstrap(bootstrap)
	if err != nil {
		return "", err
	}
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	out, err := lambda.NewFromConfig(cfg).CreateFunction(ctx, &lambda.CreateFunctionInput{
		FunctionName: aws.String(o.Name), Role: aws.String(o.RoleARN),
		Runtime: lambdatypes.RuntimeProvidedal2023, Handler: aws.String("bootstrap"),
		Architectures: []lambdatypes.Architecture{lambdatypes.ArchitectureArm64},
		Timeout:       aws.Int32(int32(timeout / time.Second)),
		Code:          &lambdatypes.FunctionCode{ZipFile: zipped},
	})
	if err != nil {
		return "", fmt.Errorf("create Lambda function %s in moto: %w", o.Name, err)
	}
	return aws.ToString(out.FunctionArn), nil
}

// Stop ends the emulator and the bootstrap (see RIE.Stop) and removes the build directory
// StartFunction made when FunctionOptions.BuildDir was empty. The Lambda function stays in
// moto.
func (f *Function) Stop() error {
	if f == nil {
		return nil
	}
	err := f.RIE.Stop()
	if f.tempDir != "" {
		if rmErr := os.RemoveAll(f.tempDir); err == nil {
			err = rmErr
		}
		f.tempDir = ""
	}
	return err
}

func joinAnd(items []string) string {
	switch len(items) {
	case 0:
		return ""
	case 1:
		return items[0]
	}
	out := items[0]
	for _, s := range items[1 : len(items)-1] {
		out += ", " + s
	}
	return out + " and " + items[len(items)-1]
}
