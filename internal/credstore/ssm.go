package credstore

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ssm"
	ssmtypes "github.com/aws/aws-sdk-go-v2/service/ssm/types"
	"tailscale.com/ipn"

	"github.com/tsmcp/tsmcp/internal/cloudclient"
)

// ssmTimeout bounds each request to SSM.
const ssmTimeout = 10 * time.Second

// ssmAPI is the part of the SSM client the store uses.
type ssmAPI interface {
	GetParameter(context.Context, *ssm.GetParameterInput, ...func(*ssm.Options)) (*ssm.GetParameterOutput, error)
	PutParameter(context.Context, *ssm.PutParameterInput, ...func(*ssm.Options)) (*ssm.PutParameterOutput, error)
	DeleteParameter(context.Context, *ssm.DeleteParameterInput, ...func(*ssm.Options)) (*ssm.DeleteParameterOutput, error)
}

// ssmStore keeps each key in a SecureString parameter <path>/<key> (the
// value base64: parameters hold text). Intelligent-Tiering lets a value
// past the standard tier's 4 KB (a token with a large id_token) through.
type ssmStore struct {
	api  ssmAPI
	path string
}

func openSSM(ctx context.Context, path string) (ipn.StateStore, error) {
	prefix := "credential store ssm:" + path
	c, err := cloudclient.SSM(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	s := &ssmStore{api: c, path: path}
	// A read of a key nobody writes tells a missing permission or
	// endpoint now rather than at a caller's first Connect.
	if _, err := s.ReadState("tsmcp-credential-store-check"); err != nil && !errors.Is(err, errNotExist) {
		return nil, err
	}
	return s, nil
}

func (s *ssmStore) String() string { return "ssm:" + s.path }

func (s *ssmStore) name(id ipn.StateKey) *string { return aws.String(s.path + "/" + string(id)) }

// ReadState reads the key's parameter, decrypted.
func (s *ssmStore) ReadState(id ipn.StateKey) ([]byte, error) {
	if err := checkKey(id); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ssmTimeout)
	defer cancel()
	out, err := s.api.GetParameter(ctx, &ssm.GetParameterInput{Name: s.name(id), WithDecryption: aws.Bool(true)})
	var nf *ssmtypes.ParameterNotFound
	if errors.As(err, &nf) {
		return nil, errNotExist
	}
	if err != nil {
		return nil, fmt.Errorf("credential store ssm:%s: reading a parameter (the task role needs ssm:GetParameter on %s/* and kms:Decrypt): %w", s.path, s.path, err)
	}
	if out.Parameter == nil || out.Parameter.Value == nil {
		return nil, errNotExist
	}
	b, err := base64.StdEncoding.DecodeString(*out.Parameter.Value)
	if err != nil {
		return nil, fmt.Errorf("credential store ssm:%s: parameter %s is not base64: it was not written by tsmcp", s.path, *s.name(id))
	}
	return b, nil
}

// WriteState puts the key's parameter (overwriting), or deletes it when
// bs is empty.
func (s *ssmStore) WriteState(id ipn.StateKey, bs []byte) error {
	if err := checkKey(id); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), ssmTimeout)
	defer cancel()
	if len(bs) == 0 {
		_, err := s.api.DeleteParameter(ctx, &ssm.DeleteParameterInput{Name: s.name(id)})
		var nf *ssmtypes.ParameterNotFound
		if err != nil && !errors.As(err, &nf) {
			return fmt.Errorf("credential store ssm:%s: deleting a parameter (the task role needs ssm:DeleteParameter on %s/*): %w", s.path, s.path, err)
		}
		return nil
	}
	_, err := s.api.PutParameter(ctx, &ssm.PutParameterInput{
		Name:      s.name(id),
		Value:     aws.String(base64.StdEncoding.EncodeToString(bs)),
		Type:      ssmtypes.ParameterTypeSecureString,
		Overwrite: aws.Bool(true),
		Tier:      ssmtypes.ParameterTierIntelligentTiering,
	})
	if err != nil {
		return fmt.Errorf("credential store ssm:%s: writing a parameter (the task role needs ssm:PutParameter on %s/* and kms:Encrypt): %w", s.path, s.path, err)
	}
	return nil
}
