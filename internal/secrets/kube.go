package secrets

import (
	"context"
	"errors"
	"fmt"
	"regexp"

	"tailscale.com/kube/kubeapi"
	"tailscale.com/kube/kubeclient"

	"github.com/tsmcp/tsmcp/internal/cloudclient"
	"github.com/tsmcp/tsmcp/internal/identity"
)

// kubeSource is "kube:<prefix>": one Kubernetes Secret per identity, in
// the pod's namespace, named <prefix><identity hash> (identity.KeyHash), its
// data keys the secrets' names: e.g. kube:tsmcp-secrets- reads alice's
// jira-token from key jira-token of Secret tsmcp-secrets-<64 hex
// digits>. (Secret names allow neither '@' nor ':', hence the hash.) The
// pod's service account needs get on those Secrets.
//
// Its client (cloudclient.Kube) is made on first use: the service
// account's token and CA from /var/run/secrets/kubernetes.io/serviceaccount
// and the API server of KUBERNETES_SERVICE_HOST.
type kubeSource struct {
	spec   string
	prefix string
	client lazy[kubeclient.Client]
}

// kubePrefixRE is what a kube: prefix matches: the start of a Secret
// name (lower-case letters, digits, '-' and '.'), at most 189 bytes so
// that the name, with 64 hex digits, stays within 253.
var kubePrefixRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,188})?$`)

// ValidKubePrefix reports whether prefix can start a Secret name of the
// kube: source.
func ValidKubePrefix(prefix string) bool { return kubePrefixRE.MatchString(prefix) }

func newKube(spec, prefix string) (*kubeSource, error) {
	if !ValidKubePrefix(prefix) {
		return nil, fmt.Errorf("secrets.source: %q: kube: needs a Secret name prefix of lower-case letters, digits, '-' and '.' (kube:tsmcp-secrets-)", spec)
	}
	return &kubeSource{spec: spec, prefix: prefix}, nil
}

func (k *kubeSource) secretName(key string) string { return k.prefix + identity.KeyHash(key) }

func (k *kubeSource) String() string { return k.spec }

func (k *kubeSource) Where(key, name string) string {
	return fmt.Sprintf("key %s of Kubernetes Secret %s", name, k.secretName(key))
}

func (k *kubeSource) Lookup(ctx context.Context, key, name string) (string, error) {
	if !NameRE.MatchString(name) {
		return "", fmt.Errorf("%q is not a secret name", name)
	}
	c, err := k.client.get(func() (kubeclient.Client, error) { return cloudclient.Kube("tsmcp-secrets") })
	if err != nil {
		return "", err
	}
	sec, err := c.GetSecret(ctx, k.secretName(key))
	if kubeclient.IsNotFoundErr(err) {
		return "", &NotFoundError{Name: name, Where: k.Where(key, name), Detail: "no such Secret"}
	}
	var st *kubeapi.Status
	if errors.As(err, &st) && st.Code == 403 {
		return "", fmt.Errorf("the pod's service account may not get Secret %s (grant get on secrets in a Role bound to it): %w", k.secretName(key), err)
	}
	if err != nil {
		return "", err
	}
	v, ok := sec.Data[name]
	if !ok {
		return "", &NotFoundError{Name: name, Where: k.Where(key, name), Detail: "the Secret has no such key"}
	}
	return checkValue(k, key, name, string(v))
}
