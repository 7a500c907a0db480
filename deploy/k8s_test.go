package deploy_test

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/tsmcp/tsmcp/internal/config"
	"github.com/tsmcp/tsmcp/internal/testutil"
)

// manifests is a kustomize build decoded into the API types.
type manifests struct {
	namespaces      []corev1.Namespace
	serviceAccounts []corev1.ServiceAccount
	secrets         []corev1.Secret
	configMaps      []corev1.ConfigMap
	deployments     []appsv1.Deployment
	statefulSets    []appsv1.StatefulSet
	pdbs            []policyv1.PodDisruptionBudget
	roles           []rbacv1.Role
	roleBindings    []rbacv1.RoleBinding
	netpols         []networkingv1.NetworkPolicy
}

// decodeStrict decodes one YAML document into v, failing on unknown or
// duplicate fields (sigs.k8s.io/yaml converts to JSON and decodes with
// DisallowUnknownFields, as the API server's strict field validation does).
func decodeStrict[T any](t *testing.T, doc []byte) T {
	t.Helper()
	var v T
	if err := yaml.UnmarshalStrict(doc, &v); err != nil {
		t.Fatalf("strict decode into %T: %v\n%s", v, err, doc)
	}
	return v
}

func decodeManifests(t *testing.T, out []byte) manifests {
	t.Helper()
	var m manifests
	// A leading newline makes a first "---" line (helm template prints
	// one) a separator too.
	for _, doc := range bytes.Split(append([]byte("\n"), out...), []byte("\n---\n")) {
		if onlyComments(doc) {
			continue
		}
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			t.Fatal(err)
		}
		switch meta.APIVersion + " " + meta.Kind {
		case "v1 Namespace":
			m.namespaces = append(m.namespaces, decodeStrict[corev1.Namespace](t, doc))
		case "v1 ServiceAccount":
			m.serviceAccounts = append(m.serviceAccounts, decodeStrict[corev1.ServiceAccount](t, doc))
		case "v1 Secret":
			m.secrets = append(m.secrets, decodeStrict[corev1.Secret](t, doc))
		case "v1 ConfigMap":
			m.configMaps = append(m.configMaps, decodeStrict[corev1.ConfigMap](t, doc))
		case "apps/v1 Deployment":
			m.deployments = append(m.deployments, decodeStrict[appsv1.Deployment](t, doc))
		case "apps/v1 StatefulSet":
			m.statefulSets = append(m.statefulSets, decodeStrict[appsv1.StatefulSet](t, doc))
		case "policy/v1 PodDisruptionBudget":
			m.pdbs = append(m.pdbs, decodeStrict[policyv1.PodDisruptionBudget](t, doc))
		case "rbac.authorization.k8s.io/v1 Role":
			m.roles = append(m.roles, decodeStrict[rbacv1.Role](t, doc))
		case "rbac.authorization.k8s.io/v1 RoleBinding":
			m.roleBindings = append(m.roleBindings, decodeStrict[rbacv1.RoleBinding](t, doc))
		case "networking.k8s.io/v1 NetworkPolicy":
			m.netpols = append(m.netpols, decodeStrict[networkingv1.NetworkPolicy](t, doc))
		case "v1 Service":
			svc := decodeStrict[corev1.Service](t, doc)
			t.Errorf("Service %s: tsmcp needs no Service (health is probed on the pod; MCP is on the tailnet)", svc.Name)
		case "networking.k8s.io/v1 Ingress":
			t.Errorf("an Ingress exposes tsmcp outside the tailnet")
		default:
			t.Errorf("unexpected object %s %s; add it to decodeManifests with its API type", meta.APIVersion, meta.Kind)
		}
	}
	return m
}

// onlyComments reports whether a YAML document is empty or comments only
// (helm template heads each document with "# Source: …").
func onlyComments(doc []byte) bool {
	for _, line := range bytes.Split(doc, []byte("\n")) {
		if l := bytes.TrimSpace(line); len(l) > 0 && l[0] != '#' {
			return false
		}
	}
	return true
}

// krustyBuild builds a kustomization in-process with sigs.k8s.io/kustomize
// (the version tailscale.com already requires).
func krustyBuild(t *testing.T, dir string) []byte {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	res, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out, err := res.AsYaml()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// kubectlBuild runs `kubectl kustomize dir`, or, where kubectl is not
// installed, the standalone `kustomize build dir` (.ci/run installs one or
// the other). With neither the test is skipped, except in CI (CI set;
// testutil.MissingTool).
func kubectlBuild(t *testing.T, dir string) []byte {
	t.Helper()
	var cmd *exec.Cmd
	if kubectl, err := exec.LookPath("kubectl"); err == nil {
		cmd = exec.Command(kubectl, "kustomize", dir)
	} else if kustomize, err := exec.LookPath("kustomize"); err == nil {
		cmd = exec.Command(kustomize, "build", dir)
	} else {
		testutil.MissingTool(t, "neither kubectl nor kustomize is on PATH (the in-process kustomize build still ran)",
			`apt-get install -y kubectl, or export PATH="$(.ci/tool kustomize):$PATH"`)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(cmd.Args, " "), err, stderr.String())
	}
	return out
}

// k8sTarget is one rendered set of manifests and what it must be.
type k8sTarget struct {
	dir string
	// ssm: the overlay that keeps state in SSM instead of a Secret.
	ssm bool
	// replicated: a StatefulSet of replicas behind a Tailscale Service
	// (checkReplicated) instead of the single-writer Deployment.
	replicated bool
	// noNamespace: the Namespace is not part of the output (a Helm release
	// is installed into an existing namespace); none may be rendered.
	noNamespace bool
}

var k8sTargets = []k8sTarget{
	{dir: "deploy/k8s/base"},
	{dir: "deploy/k8s/overlays/eks", ssm: true},
	{dir: "deploy/k8s/overlays/replicated", replicated: true},
}

func TestKustomizeBuilds(t *testing.T) {
	for _, tg := range k8sTargets {
		dir := filepath.Join(testutil.RepoRoot(t), tg.dir)
		t.Run(tg.dir+"/krusty", func(t *testing.T) {
			checkK8s(t, tg, decodeManifests(t, krustyBuild(t, dir)))
		})
		t.Run(tg.dir+"/kubectl", func(t *testing.T) {
			checkK8s(t, tg, decodeManifests(t, kubectlBuild(t, dir)))
		})
	}
}

func one[T any](t *testing.T, what string, xs []T) T {
	t.Helper()
	if len(xs) != 1 {
		t.Fatalf("want exactly one %s, have %d", what, len(xs))
	}
	return xs[0]
}

func checkK8s(t *testing.T, tg k8sTarget, m manifests) {
	if tg.noNamespace {
		if len(m.namespaces) != 0 {
			t.Errorf("%d Namespaces rendered, want none (the release's namespace exists before install)", len(m.namespaces))
		}
	} else {
		ns := one(t, "Namespace", m.namespaces)
		if ns.Labels["pod-security.kubernetes.io/enforce"] != "restricted" {
			t.Errorf("Namespace %s does not enforce the restricted Pod Security Standard", ns.Name)
		}
	}
	sa := one(t, "ServiceAccount", m.serviceAccounts)

	// The workload: one Deployment of one pod, or a StatefulSet of
	// replicas. podNames are the names its pods get.
	var (
		tmpl     corev1.PodTemplateSpec
		podNames []string
	)
	if tg.replicated {
		sts := checkStatefulSet(t, m)
		tmpl = sts.Spec.Template
		for i := range *sts.Spec.Replicas {
			podNames = append(podNames, fmt.Sprintf("%s-%d", sts.Name, i))
		}
	} else {
		dep := one(t, "Deployment", m.deployments)
		tmpl = dep.Spec.Template
		podNames = []string{dep.Name + "-5d8f7c9b4-x7k2p"}
		// One writer for the state: one replica, never two during a rollout.
		if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 1 {
			t.Errorf("replicas = %v, want 1", dep.Spec.Replicas)
		}
		if dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
			t.Errorf("strategy = %q, want Recreate", dep.Spec.Strategy.Type)
		}
		if len(m.statefulSets) != 0 || len(m.pdbs) != 0 {
			t.Errorf("single replica: %d StatefulSets and %d PodDisruptionBudgets, want none (a PDB of minAvailable 1 on one pod blocks every node drain)", len(m.statefulSets), len(m.pdbs))
		}
	}
	pod := tmpl.Spec
	// No service-link variables: a Service named tsmcp would inject
	// TSMCP_PORT, TSMCP_SERVICE_HOST, ... (tsmcp recognises them, but
	// nothing in the pod needs them).
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Errorf("enableServiceLinks = %v, want false", pod.EnableServiceLinks)
	}
	if pod.ServiceAccountName != sa.Name {
		t.Errorf("pod runs as ServiceAccount %q, manifest has %q", pod.ServiceAccountName, sa.Name)
	}

	// The tsmcp config each pod reads, validated as serve would.
	c := one(t, "container", pod.Containers)
	if !strings.Contains(c.Image, "/") {
		t.Errorf("container image %q is not a registry reference (the kustomization's images: does not reach it)", c.Image)
	}
	var cfgs []*config.Config
	for _, name := range podNames {
		cfgs = append(cfgs, podConfig(t, m, pod, c, name))
	}
	cfg := cfgs[0]

	// Probes on the health port: startup and readiness on /readyz,
	// liveness on /health.
	healthPort := portOf(t, cfg.Health.Addr)
	probes := []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startupProbe", c.StartupProbe, "/readyz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}, {"livenessProbe", c.LivenessProbe, "/health"}}
	for _, p := range probes {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s: missing or not httpGet", p.name)
			continue
		}
		if p.probe.HTTPGet.Path != p.path {
			t.Errorf("%s path = %q, want %q", p.name, p.probe.HTTPGet.Path, p.path)
		}
		if got := resolvePort(c, p.probe.HTTPGet.Port); got != healthPort {
			t.Errorf("%s port = %v (%d), want the health port %d", p.name, p.probe.HTTPGet.Port.String(), got, healthPort)
		}
	}
	if sp := c.StartupProbe; sp != nil {
		if window := time.Duration(sp.PeriodSeconds*sp.FailureThreshold) * time.Second; window < cfg.Tailnet.UpTimeout {
			t.Errorf("startupProbe allows %v, less than tailnet.up_timeout %v", window, cfg.Tailnet.UpTimeout)
		}
	}
	if len(c.Ports) != 1 || c.Ports[0].ContainerPort != int32(healthPort) {
		t.Errorf("container ports %+v, want only the health port %d", c.Ports, healthPort)
	}

	// Grace: the kubelet's SIGKILL must come after tsmcp's own drain:
	// the service drain (replicas), then mcp.shutdown_grace, then closing
	// the node.
	drain := serviceDrain(t, cfg, tg.replicated)
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= drain+cfg.MCP.ShutdownGrace+tsnetCloseMargin {
		t.Errorf("terminationGracePeriodSeconds = %v, want more than tailnet.service_drain %v + mcp.shutdown_grace %v + %v", deref(g), drain, cfg.MCP.ShutdownGrace, tsnetCloseMargin)
	}

	// Restricted security context.
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot and seccomp RuntimeDefault", psc)
	}
	if psc != nil && (psc.RunAsUser == nil || *psc.RunAsUser == 0) {
		t.Errorf("pod runAsUser %v, want a non-root uid", psc.RunAsUser)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Error("container has no securityContext")
	default:
		if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Error("readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Error("allowPrivilegeEscalation is not false")
		}
		if sc.Privileged != nil && *sc.Privileged {
			t.Error("privileged")
		}
		if sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) != 0 {
			t.Errorf("capabilities %+v, want drop [ALL] and no add", sc.Capabilities)
		}
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
		if _, ok := c.Resources.Limits[r]; !ok {
			t.Errorf("no %s limit", r)
		}
	}
	// tsnet's temporary Dir must be writable on a read-only root.
	if !mountedWritable(c, envValue(c, "TMPDIR", "/tmp")) {
		t.Errorf("TMPDIR (%s) is not a writable volume mount", envValue(c, "TMPDIR", "/tmp"))
	}

	// Secrets never in plaintext: the auth key comes from a Secret, and no
	// manifest holds a real key.
	for _, e := range c.Env {
		if isAuthKeyVar(e.Name) && (e.Value != "" || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil) {
			t.Errorf("env %s must come from a secretKeyRef, not a value", e.Name)
		}
		if strings.Contains(e.Value, "tskey-") {
			t.Errorf("env %s holds a Tailscale key in plaintext", e.Name)
		}
	}
	if e := envVar(c, "TS_AUTHKEY"); e == nil || e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
		t.Error("TS_AUTHKEY is not taken from a Secret")
	} else if s := secretNamed(m, e.ValueFrom.SecretKeyRef.Name); s == nil {
		t.Errorf("TS_AUTHKEY refers to Secret %q, which is not in the build", e.ValueFrom.SecretKeyRef.Name)
	}
	for _, s := range m.secrets {
		for k, v := range s.StringData {
			if strings.Contains(v, "tskey-") {
				t.Errorf("Secret %s key %s holds a real Tailscale key; keep keys out of the repository", s.Name, k)
			}
		}
		for k, v := range s.Data {
			if bytes.Contains(v, []byte("tskey-")) {
				t.Errorf("Secret %s key %s holds a real Tailscale key", s.Name, k)
			}
		}
	}
	for _, cm := range m.configMaps {
		for k, v := range cm.Data {
			if strings.Contains(v, "tskey-") {
				t.Errorf("ConfigMap %s key %s holds a Tailscale key", cm.Name, k)
			}
		}
	}
	if cfg.Tailnet.AuthKey != "" {
		t.Error("tailnet.auth_key is set in the ConfigMap")
	}

	checkNetworkPolicy(t, m, tmpl, healthPort)
	if tg.ssm {
		checkSSMState(t, m, sa, pod, cfg.Tailnet.State)
	} else {
		var states []string
		for _, c := range cfgs {
			states = append(states, c.Tailnet.State)
		}
		checkKubeState(t, m, sa, pod, states)
	}
	if tg.replicated {
		checkReplicated(t, m, tmpl, c, podNames, cfgs)
	}
}

// podConfig is the tsmcp config container c of pod reads in the pod named
// podName: the ConfigMap mounted at its --config path and its environment
// as the kubelet resolves it (podEnv), validated as serve would.
func podConfig(t *testing.T, m manifests, pod corev1.PodSpec, c corev1.Container, podName string) *config.Config {
	t.Helper()
	cfgPath := argAfter(c.Args, "--config")
	if cfgPath == "" {
		t.Fatalf("container args %q lack --config", c.Args)
	}
	cm := configMapMountedAt(t, m, pod, c, cfgPath)
	return loadConfig(t, filepath.Base(cfgPath), cm.Data[filepath.Base(cfgPath)], podEnv(t, m, c, podName))
}

// baseStateSecret is the Secret the base keeps the state in (its
// tailnet.state kube:<name>), which an overlay that moves the state
// elsewhere must drop.
func baseStateSecret(t *testing.T) string {
	t.Helper()
	m := decodeManifests(t, krustyBuild(t, filepath.Join(testutil.RepoRoot(t), "deploy/k8s/base")))
	pod := one(t, "base Deployment", m.deployments).Spec.Template.Spec
	state := podConfig(t, m, pod, one(t, "base container", pod.Containers), "tsmcp-5d8f7c9b4-x7k2p").Tailnet.State
	name, ok := strings.CutPrefix(state, "kube:")
	if !ok || name == "" {
		t.Fatalf("base tailnet.state = %q, want kube:<secret>", state)
	}
	return name
}

// checkKubeState: each pod's state (states, one per pod) in its own
// Secret that exists, a Role that allows exactly get/update/patch on
// exactly those Secrets, bound to the pods' ServiceAccount, whose token is
// mounted.
func checkKubeState(t *testing.T, m manifests, sa corev1.ServiceAccount, pod corev1.PodSpec, states []string) {
	var names []string
	for _, state := range states {
		name, ok := strings.CutPrefix(state, "kube:")
		if !ok || name == "" {
			t.Fatalf("tailnet.state = %q, want kube:<secret>", state)
		}
		if slices.Contains(names, name) {
			t.Errorf("two pods keep their state in Secret %q: one state has one writer", name)
		}
		names = append(names, name)
		if secretNamed(m, name) == nil {
			t.Errorf("state Secret %q is not created by the manifests (the Role has no create verb)", name)
		}
	}
	slices.Sort(names)
	if pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken {
		t.Error("the pod does not mount its service account token, which kube: state needs")
	}
	role := one(t, "Role", m.roles)
	rule := one(t, "Role rule", role.Rules)
	if !slices.Equal(rule.APIGroups, []string{""}) || !slices.Equal(rule.Resources, []string{"secrets"}) {
		t.Errorf("Role rule on %v %v, want core secrets only", rule.APIGroups, rule.Resources)
	}
	if !slices.Equal(slices.Sorted(slices.Values(rule.ResourceNames)), names) {
		t.Errorf("Role resourceNames = %v, want exactly the state Secrets %v", rule.ResourceNames, names)
	}
	verbs := slices.Sorted(slices.Values(rule.Verbs))
	if !slices.Equal(verbs, []string{"get", "patch", "update"}) {
		t.Errorf("Role verbs = %v, want exactly get, patch, update (what kubestore uses on an existing Secret)", verbs)
	}
	rb := one(t, "RoleBinding", m.roleBindings)
	if rb.RoleRef.Kind != "Role" || rb.RoleRef.Name != role.Name {
		t.Errorf("RoleBinding refers to %s %s, want Role %s", rb.RoleRef.Kind, rb.RoleRef.Name, role.Name)
	}
	subj := one(t, "RoleBinding subject", rb.Subjects)
	if subj.Kind != "ServiceAccount" || subj.Name != sa.Name || subj.Namespace != sa.Namespace {
		t.Errorf("RoleBinding subject %+v, want ServiceAccount %s/%s", subj, sa.Namespace, sa.Name)
	}
}

// checkSSMState: state in an SSM parameter, AWS credentials from IRSA, and
// no Kubernetes API access left over.
func checkSSMState(t *testing.T, m manifests, sa corev1.ServiceAccount, pod corev1.PodSpec, state string) {
	if !strings.HasPrefix(state, "arn:aws:ssm:") {
		t.Errorf("tailnet.state = %q, want an SSM parameter ARN", state)
	}
	if !strings.HasPrefix(sa.Annotations["eks.amazonaws.com/role-arn"], "arn:aws:iam::") {
		t.Errorf("ServiceAccount lacks the IRSA annotation eks.amazonaws.com/role-arn: %v", sa.Annotations)
	}
	if len(m.roles)+len(m.roleBindings) != 0 {
		t.Errorf("SSM state needs no Kubernetes RBAC; have %d Roles, %d RoleBindings", len(m.roles), len(m.roleBindings))
	}
	if name := baseStateSecret(t); secretNamed(m, name) != nil {
		t.Errorf("the unused state Secret %s (the base's tailnet.state) is still in the build", name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the Kubernetes API token is mounted although SSM state does not use it")
	}
}

func checkNetworkPolicy(t *testing.T, m manifests, tmpl corev1.PodTemplateSpec, healthPort int) {
	np := one(t, "NetworkPolicy", m.netpols)
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if tmpl.Labels[k] != v {
			t.Errorf("NetworkPolicy selects %s=%s, which the pod does not carry", k, v)
		}
	}
	if len(np.Spec.PodSelector.MatchLabels) == 0 {
		t.Error("NetworkPolicy selects every pod")
	}
	types := slices.Sorted(slices.Values(np.Spec.PolicyTypes))
	if !slices.Equal(types, []networkingv1.PolicyType{"Egress", "Ingress"}) {
		t.Errorf("policyTypes = %v, want Ingress and Egress", types)
	}
	for i, r := range np.Spec.Ingress {
		if len(r.Ports) == 0 {
			t.Errorf("ingress rule %d admits every port", i)
		}
		for _, p := range r.Ports {
			if p.Port == nil || p.Port.IntValue() != healthPort || p.Protocol == nil || *p.Protocol != corev1.ProtocolTCP {
				t.Errorf("ingress rule %d admits %v/%v, want only TCP %d", i, p.Protocol, p.Port, healthPort)
			}
		}
	}
	allows := func(proto corev1.Protocol, port int) bool {
		for _, r := range np.Spec.Egress {
			for _, p := range r.Ports {
				if p.Protocol != nil && *p.Protocol == proto && (p.Port == nil || p.Port.IntValue() == port) {
					return true
				}
			}
		}
		return false
	}
	for _, need := range []struct {
		proto corev1.Protocol
		port  int
		why   string
	}{
		{corev1.ProtocolUDP, 53, "DNS"},
		{corev1.ProtocolTCP, 443, "Tailscale control, DERP, Kubernetes API"},
		{corev1.ProtocolUDP, 3478, "STUN"},
		{corev1.ProtocolUDP, 41641, "direct WireGuard paths"},
	} {
		if !allows(need.proto, need.port) {
			t.Errorf("egress does not allow %s %d (%s)", need.proto, need.port, need.why)
		}
	}
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

func configMapMountedAt(t *testing.T, m manifests, pod corev1.PodSpec, c corev1.Container, file string) corev1.ConfigMap {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if filepath.Dir(file) != vm.MountPath {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				for _, cm := range m.configMaps {
					if cm.Name == v.ConfigMap.Name {
						if !vm.ReadOnly {
							t.Errorf("config volume %s is mounted writable", vm.Name)
						}
						return cm
					}
				}
				t.Fatalf("ConfigMap %q is not in the build", v.ConfigMap.Name)
			}
		}
	}
	t.Fatalf("no ConfigMap is mounted at %s", filepath.Dir(file))
	return corev1.ConfigMap{}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	i := strings.LastIndex(addr, ":")
	var p int
	if _, err := fmt.Sscan(addr[i+1:], &p); err != nil {
		t.Fatalf("health.addr %q: %v", addr, err)
	}
	return p
}

func resolvePort(c corev1.Container, p intstr.IntOrString) int {
	if p.Type == intstr.Int {
		return p.IntValue()
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort)
		}
	}
	return -1
}

func envVar(c corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

func envValue(c corev1.Container, name, def string) string {
	if e := envVar(c, name); e != nil && e.Value != "" {
		return e.Value
	}
	return def
}

func mountedWritable(c corev1.Container, dir string) bool {
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == dir && !vm.ReadOnly {
			return true
		}
	}
	return false
}

func secretNamed(m manifests, name string) *corev1.Secret {
	for i := range m.secrets {
		if m.secrets[i].Name == name {
			return &m.secrets[i]
		}
	}
	return nil
}

// isAuthKeyVar reports whether an environment variable carries a Tailscale
// credential.
func isAuthKeyVar(name string) bool {
	switch name {
	case "TS_AUTHKEY", "TS_AUTH_KEY", "TS_CLIENT_SECRET", "TSMCP_TAILNET_AUTH_KEY":
		return true
	}
	return false
}
