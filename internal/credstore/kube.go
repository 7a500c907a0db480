package credstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tailscale.com/ipn"
	"tailscale.com/kube/kubeapi"
	"tailscale.com/kube/kubeclient"

	"github.com/tsmcp/tsmcp/internal/cloudclient"
)

// kubeTimeout bounds each request to the Kubernetes API server.
const kubeTimeout = 10 * time.Second

// kubeStore keeps keys in the data of one Secret, read from the API
// server on every ReadState (tailscale's kubestore caches; this does not).
type kubeStore struct {
	client kubeclient.Client
	secret string
}

func openKube(ctx context.Context, secret string) (ipn.StateStore, error) {
	prefix := "credential store kube:" + secret
	c, err := cloudclient.Kube("tsmcp-credential-store")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	ks := &kubeStore{client: c, secret: secret}
	ctx, cancel := context.WithTimeout(ctx, kubeTimeout)
	defer cancel()
	if _, err := c.GetSecret(ctx, secret); err != nil {
		if kubeclient.IsNotFoundErr(err) {
			return nil, fmt.Errorf("%s: the Secret does not exist; create it (kubectl create secret generic %s) and grant the pod's service account get and patch on it", prefix, secret)
		}
		return nil, fmt.Errorf("%s: reading the Secret (the service account needs get and patch on it): %w", prefix, err)
	}
	return ks, nil
}

func (k *kubeStore) String() string { return "kube:" + k.secret }

func (k *kubeStore) get() (*kubeapi.Secret, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kubeTimeout)
	defer cancel()
	s, err := k.client.GetSecret(ctx, k.secret)
	if err != nil {
		return nil, fmt.Errorf("credential store kube:%s: reading the Secret: %w", k.secret, err)
	}
	return s, nil
}

// ReadState reads the key from the Secret as the API server has it now.
func (k *kubeStore) ReadState(id ipn.StateKey) ([]byte, error) {
	if err := checkKey(id); err != nil {
		return nil, err
	}
	s, err := k.get()
	if err != nil {
		return nil, err
	}
	b, ok := s.Data[string(id)]
	if !ok {
		return nil, errNotExist
	}
	return b, nil
}

// WriteState sets (or, with an empty bs, removes) the key with a JSON
// patch, which touches no other key of the Secret.
func (k *kubeStore) WriteState(id ipn.StateKey, bs []byte) error {
	if err := checkKey(id); err != nil {
		return err
	}
	s, err := k.get()
	if err != nil {
		return err
	}
	path := "/data/" + string(id)
	var patch []kubeclient.JSONPatch
	switch _, has := s.Data[string(id)]; {
	case len(bs) == 0 && !has:
		return nil
	case len(bs) == 0:
		patch = []kubeclient.JSONPatch{{Op: "remove", Path: path}}
	case s.Data == nil:
		patch = []kubeclient.JSONPatch{{Op: "add", Path: "/data", Value: map[string][]byte{string(id): bs}}}
	default:
		patch = []kubeclient.JSONPatch{{Op: "add", Path: path, Value: bs}}
	}
	ctx, cancel := context.WithTimeout(context.Background(), kubeTimeout)
	defer cancel()
	err = k.client.JSONPatchResource(ctx, k.secret, kubeclient.TypeSecrets, patch)
	var st *kubeapi.Status
	if len(bs) == 0 && errors.As(err, &st) && st.Code == 422 {
		return nil // removed meanwhile (by another replica)
	}
	if err != nil {
		return fmt.Errorf("credential store kube:%s: writing the Secret (the service account needs patch on it): %w", k.secret, err)
	}
	return nil
}
