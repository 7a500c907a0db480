package cloudclient

import (
	"context"
	"fmt"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
)

// SSM returns an AWS Systems Manager client set up by the AWS SDK's
// default chain: the region of AWS_REGION or the profile; the endpoint of
// AWS_ENDPOINT_URL_SSM when it is set (a VPC endpoint, or the tests'
// internal/testutil/fakessm), else the region's; the credentials of the
// environment, AWS_PROFILE, the ECS task role, IRSA or EKS Pod Identity.
// It retrieves the credentials under ctx, so that their absence is told
// now, as such, rather than by a request's failure.
func SSM(ctx context.Context) (*ssm.Client, error) {
	cfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the AWS configuration: %w", err)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("no AWS credentials found (on ECS give the task a task role; on EKS use IRSA or EKS Pod Identity; elsewhere set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY): %w", err)
	}
	return ssm.NewFromConfig(cfg), nil
}
