package secrets

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	"github.com/aws/aws-sdk-go-v2/service/ssm/types"

	"github.com/tsmcp/tsmcp/internal/cloudclient"
	"github.com/tsmcp/tsmcp/internal/identity"
)

// ssmSource is "ssm:<path>": one AWS SSM parameter (a SecureString) per
// secret and identity, named <path>/<identity hash>/<NAME>
// (identity.KeyHash: parameter names allow neither '@' nor ':'), in the
// region and with the credentials of the AWS SDK's default chain
// (AWS_REGION, the task role, IRSA, AWS_PROFILE, ...). The task role
// needs ssm:GetParameter on <path>/* and kms:Decrypt on their key.
//
// Its client (cloudclient.SSM) is made on first use.
type ssmSource struct {
	spec   string
	path   string
	client lazy[*ssm.Client]
}

// ssmPathRE is what an ssm: path matches: a parameter hierarchy,
// /segment[/segment...], of letters, digits, '_', '.' and '-'.
var ssmPathRE = regexp.MustCompile(`^(/[a-zA-Z0-9_.-]+){1,10}$`)

// ValidSSMPath reports whether path can be the hierarchy of the ssm:
// source: at most 800 bytes, so that with the identity's hash and a
// secret's name a parameter name stays within SSM's 1011.
func ValidSSMPath(path string) bool { return len(path) <= 800 && ssmPathRE.MatchString(path) }

func newSSM(spec, path string) (*ssmSource, error) {
	if !ValidSSMPath(path) {
		return nil, fmt.Errorf("secrets.source: %q: ssm: needs a parameter path such as ssm:/tsmcp/secrets (segments of letters, digits, '_', '.' and '-')", spec)
	}
	return &ssmSource{spec: spec, path: path}, nil
}

func (s *ssmSource) param(key, name string) string {
	return s.path + "/" + identity.KeyHash(key) + "/" + name
}

func (s *ssmSource) String() string { return s.spec }

func (s *ssmSource) Where(key, name string) string {
	return "SSM parameter " + s.param(key, name)
}

func (s *ssmSource) Lookup(ctx context.Context, key, name string) (string, error) {
	if !NameRE.MatchString(name) {
		return "", fmt.Errorf("%q is not a secret name", name)
	}
	c, err := s.client.get(func() (*ssm.Client, error) { return cloudclient.SSM(ctx) })
	if err != nil {
		return "", err
	}
	out, err := c.GetParameter(ctx, &ssm.GetParameterInput{Name: aws.String(s.param(key, name)), WithDecryption: aws.Bool(true)})
	var nf *types.ParameterNotFound
	if errors.As(err, &nf) {
		return "", &NotFoundError{Name: name, Where: s.Where(key, name), Detail: "no such parameter"}
	}
	if err != nil {
		return "", fmt.Errorf("reading the SSM parameter (the task role needs ssm:GetParameter on it and kms:Decrypt on its key): %w", err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return "", &NotFoundError{Name: name, Where: s.Where(key, name), Detail: "the parameter has no value"}
	}
	return checkValue(s, key, name, *out.Parameter.Value)
}
