package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"sync"

	"tailscale.com/kube/kubeapi"
	"tailscale.com/kube/kubeclient"

	"github.com/tsmcp/tsmcp/internal/identity"
)

// kubeSource is "kube:<prefix>": one Kubernetes Secret per identity, in
// the pod's namespace, named <prefix><identity hash> (identity.KeyHash), its
// data keys the secrets' names: e.g. kube:tsmcp-secrets- reads alice's
// jira-token from key jira-token of Secret tsmcp-secrets-<64 hex
// digits>. (Secret names allow neither '@' nor ':', hence the hash.) The
// pod's service account needs get on those Secrets.
//
// It uses tailscale's Kubernetes client, as the kube: state store does:
// the service account's token and CA from
// /var/run/secrets/kubernetes.io/serviceaccount and, with
// TS_KUBERNETES_READ_API_SERVER_ADDRESS_FROM_ENV=true, the API server of
// KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT_HTTPS.
type kubeSource struct {
	spec   string
	prefix string

	mu     sync.Mutex // guards the field below
	client kubeclient.Client
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

// kubeClient returns the client, creating it on first use; a failure is
// not kept, so that the next lookup tries again.
func (k *kubeSource) kubeClient() (kubeclient.Client, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.client != nil {
		return k.client, nil
	}
	c, err := kubeclient.New("tsmcp-secrets")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("not running in a Kubernetes pod with a service account (is automountServiceAccountToken false?): %w", err)
		}
		return nil, err
	}
	if os.Getenv("TS_KUBERNETES_READ_API_SERVER_ADDRESS_FROM_ENV") == "true" {
		c.SetURL(fmt.Sprintf("https://%s:%s", os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT_HTTPS")))
	}
	k.client = c
	return c, nil
}

func (k *kubeSource) Lookup(ctx context.Context, key, name string) (string, error) {
	if !NameRE.MatchString(name) {
		return "", fmt.Errorf("%q is not a secret name", name)
	}
	c, err := k.kubeClient()
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
