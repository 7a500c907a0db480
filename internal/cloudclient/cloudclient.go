// Package cloudclient sets up the clients with which tsmcp's stores reach
// the services that keep their values: an AWS Systems Manager (Parameter
// Store) client (SSM) and a client of the Kubernetes API server of the pod
// tsmcp runs in (Kube). It only makes clients, with errors that say what
// to fix; what is stored where, and how it is read or written, stays with
// each store (internal/credstore, internal/secrets).
package cloudclient
