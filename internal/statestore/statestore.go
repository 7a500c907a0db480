// Package statestore opens the state store that tailnet.state names when it
// is not a local directory: "mem:", a Kubernetes Secret ("kube:<secret>")
// or an AWS SSM parameter ("arn:aws:ssm:<region>:<account>:parameter/<name>").
//
// The stores are tailscale's own (tailscale.com/ipn/store/mem, kubestore and
// awsstore), so a node keeps the same state layout as tailscaled and the
// Tailscale Kubernetes operator would. What this package adds is a bound on
// the time spent reaching the store and errors that name tailnet.state and
// say what to fix (not running in a pod, missing RBAC, no AWS credentials).
package statestore

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"tailscale.com/ipn"
	"tailscale.com/ipn/store/awsstore"
	"tailscale.com/ipn/store/kubestore"
	"tailscale.com/ipn/store/mem"
	"tailscale.com/types/logger"
)

// Kind classifies a tailnet.state value. The zero value is Dir.
type Kind int

const (
	// Dir is a directory: tsnet keeps its state file (tailscaled.state)
	// there itself, and no store needs opening.
	Dir Kind = iota
	// Mem is "mem:": state in memory, lost on exit (ephemeral nodes only).
	Mem
	// Kube is "kube:<secret>": a Kubernetes Secret in the pod's namespace.
	Kube
	// SSM is "arn:aws:ssm:…:parameter/…": an AWS SSM SecureString parameter.
	SSM
)

// String returns the kind's name as used in messages.
func (k Kind) String() string {
	switch k {
	case Mem:
		return "memory"
	case Kube:
		return "Kubernetes Secret"
	case SSM:
		return "AWS SSM parameter"
	default:
		return "directory"
	}
}

// KindOf classifies a tailnet.state value. It does not validate it;
// internal/config does that.
func KindOf(state string) Kind {
	switch {
	case strings.HasPrefix(state, "mem:"):
		return Mem
	case strings.HasPrefix(state, "kube:"):
		return Kube
	case strings.HasPrefix(state, "arn:"):
		return SSM
	default:
		return Dir
	}
}

// ServiceAccountDir is where a pod's service account token, CA certificate
// and namespace are mounted; the Kubernetes store reads them from there.
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Open opens the store for a mem:, kube: or arn: state value. A directory
// is an error: tsnet opens its file store in the directory itself.
//
// Opening a Kubernetes or SSM store reads the existing state from the API
// (and checks the permissions the store needs), so it can block on the
// network. ctx bounds that: when ctx ends first, Open returns an error at
// once and the abandoned attempt ends on tailscale's own timeouts (30 s per
// Kubernetes request; the AWS SDK's retries), its result discarded.
//
// logf receives the store's own messages; nil discards them.
func Open(ctx context.Context, logf logger.Logf, state string) (ipn.StateStore, error) {
	if logf == nil {
		logf = logger.Discard
	}
	switch KindOf(state) {
	case Mem:
		return new(mem.Store), nil
	case Kube:
		return openKube(ctx, logf, state)
	case SSM:
		return openSSM(ctx, logf, state)
	default:
		return nil, fmt.Errorf("tailnet.state: %q is a directory, not a store (tsnet keeps its state file there itself)", state)
	}
}

func openKube(ctx context.Context, logf logger.Logf, state string) (ipn.StateStore, error) {
	name := strings.TrimPrefix(state, "kube:")
	if name == "" {
		return nil, fmt.Errorf("tailnet.state: %q: kube: needs a Secret name (kube:<secret-name>)", state)
	}
	st, err := bounded(ctx, func() (ipn.StateStore, error) { return kubestore.New(logf, name) })
	if err == nil {
		return st, nil
	}
	prefix := fmt.Sprintf("tailnet.state: %s", state)
	switch {
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		return nil, fmt.Errorf("%s: no answer from the Kubernetes API server in time: %w", prefix, err)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("%s: not running in a Kubernetes pod with a service account (no %s; is automountServiceAccountToken false?): %w", prefix, ServiceAccountDir, err)
	case strings.Contains(err.Error(), "missing ") && strings.Contains(err.Error(), " permission on secret"):
		return nil, fmt.Errorf("%s: the pod's service account may not use Secret %q: %w (grant get, update and patch on secrets with resourceNames [%s] in a Role bound to it)", prefix, name, err, name)
	default:
		return nil, fmt.Errorf("%s: opening the Kubernetes Secret store: %w", prefix, err)
	}
}

func openSSM(ctx context.Context, logf logger.Logf, state string) (ipn.StateStore, error) {
	prefix := fmt.Sprintf("tailnet.state: %s", state)
	arn, opts, err := awsstore.ParseARNAndOpts(state)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", prefix, err)
	}
	// Find credentials first, under ctx: awsstore's own first request runs
	// without a deadline, and a missing credential is the usual mistake,
	// which deserves its own message rather than an SDK chain dump.
	region := ""
	if parts := strings.SplitN(arn, ":", 6); len(parts) == 6 {
		region = parts[3]
	}
	cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion(region))
	if err != nil {
		return nil, fmt.Errorf("%s: loading the AWS configuration: %w", prefix, err)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("%s: no AWS credentials found (on ECS give the task a task role; on EKS use IRSA or EKS Pod Identity; elsewhere set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY): %w", prefix, err)
	}
	st, err := bounded(ctx, func() (ipn.StateStore, error) { return awsstore.New(logf, arn, opts...) })
	if err != nil {
		if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
			return nil, fmt.Errorf("%s: no answer from AWS SSM in time (private subnets need a NAT gateway or an SSM VPC endpoint): %w", prefix, err)
		}
		return nil, fmt.Errorf("%s: reading or creating the SSM parameter (the task role needs ssm:GetParameter and ssm:PutParameter on it, and kms:Decrypt/kms:Encrypt on its key): %w", prefix, err)
	}
	return st, nil
}

// bounded runs open in a goroutine and returns its result, or ctx's error
// if ctx ends first.
func bounded(ctx context.Context, open func() (ipn.StateStore, error)) (ipn.StateStore, error) {
	type result struct {
		st  ipn.StateStore
		err error
	}
	ch := make(chan result, 1)
	go func() {
		st, err := open()
		ch <- result{st, err}
	}()
	select {
	case r := <-ch:
		return r.st, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
