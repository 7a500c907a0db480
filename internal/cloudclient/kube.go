package cloudclient

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"

	"tailscale.com/kube/kubeclient"
)

// Kube returns tailscale's Kubernetes client for the pod tsmcp runs in,
// named name (the component its requests and Events are from). It reads
// the namespace, token and CA of the pod's service account from
// /var/run/secrets/kubernetes.io/serviceaccount (the tests move that root
// with kubeclient.SetRootPathForTesting, as
// internal/statestore/fakekube does) and talks to the API server that
// APIServerURL finds. Outside a pod, or with
// automountServiceAccountToken false, its error says so.
func Kube(name string) (kubeclient.Client, error) {
	c, err := kubeclient.New(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("not running in a Kubernetes pod with a service account (is automountServiceAccountToken false?): %w", err)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the pod's service account: %w", err)
	}
	if url := APIServerURL(); url != "" {
		c.SetURL(url)
	}
	return c, nil
}

// APIServerURL is the Kubernetes API server's URL as client-go's
// in-cluster configuration finds it in a pod's environment:
// https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT_HTTPS (or
// $KUBERNETES_SERVICE_PORT, or 443). Empty when KUBERNETES_SERVICE_HOST
// is unset; the client then keeps kubeclient's default,
// https://kubernetes.default.svc, which needs cluster DNS.
func APIServerURL() string { return apiServerURL(os.Getenv) }

func apiServerURL(getenv func(string) string) string {
	host := getenv("KUBERNETES_SERVICE_HOST")
	if host == "" {
		return ""
	}
	port := cmp.Or(getenv("KUBERNETES_SERVICE_PORT_HTTPS"), getenv("KUBERNETES_SERVICE_PORT"), "443")
	return "https://" + net.JoinHostPort(host, port)
}
