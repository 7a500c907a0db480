package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tsmcp/tsmcp/internal/testutil"
)

// promtool returns Debian's promtool (package prometheus). When it is
// missing the test fails if CI is set (.ci/run installs it) and is
// skipped otherwise (testutil.NeedTool).
func promtool(t *testing.T) string {
	t.Helper()
	return testutil.NeedTool(t, "promtool", "apt-get install -y prometheus")
}

// TestAlertRules: the alerting rules pass `promtool check rules`
// (Prometheus's own parser and checks), and the PrometheusRule of the
// Kubernetes monitoring component holds exactly the same groups.
func TestAlertRules(t *testing.T) {
	pt := promtool(t)
	rules := filepath.Join(testutil.RepoRoot(t), "deploy", "observability", "alerts.yaml")
	if out, err := exec.Command(pt, "check", "rules", rules).CombinedOutput(); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rules, err, out)
	}

	var plain, cr struct {
		Spec   any `json:"spec"`
		Groups any `json:"groups"`
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/observability/alerts.yaml"), &plain); err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(readFile(t, "deploy/k8s/components/monitoring/prometheusrule.yaml"), &cr); err != nil {
		t.Fatal(err)
	}
	spec, _ := cr.Spec.(map[string]any)
	if !reflect.DeepEqual(spec["groups"], plain.Groups) {
		t.Errorf("deploy/k8s/components/monitoring/prometheusrule.yaml differs from deploy/observability/alerts.yaml")
	}
}

// TestDashboardQueries: every PromQL expression of the Grafana dashboard
// parses, checked by promtool as recording rules (Grafana's $variables
// replaced by values), and names only metrics tsmcp exports.
func TestDashboardQueries(t *testing.T) {
	pt := promtool(t)
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(readFile(t, "deploy/observability/grafana-dashboard.json"), &dash); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			expr := strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*").Replace(tg.Expr)
			js, _ := json.Marshal(expr)
			fmt.Fprintf(&b, "      - record: dashboard:panel_%d\n        expr: %s\n", n, js)
			n++
			for _, f := range strings.FieldsFunc(expr, func(r rune) bool { return !(r == '_' || r >= 'a' && r <= 'z') }) {
				if strings.HasPrefix(f, "tsmcp_") && !exported[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(f, "_bucket"), "_count"), "_sum")] {
					t.Errorf("panel %q uses %s, which tsmcp does not export", p.Title, f)
				}
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d dashboard queries", n)
	}
	f := filepath.Join(t.TempDir(), "dashboard-rules.yaml")
	if err := os.WriteFile(f, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(pt, "check", "rules", f).CombinedOutput(); err != nil {
		t.Fatalf("a dashboard query does not parse: %v\n%s", err, out)
	}
}

// exported are the tsmcp metric families internal/metrics and the host
// export.
var exported = map[string]bool{
	"tsmcp_build_info": true, "tsmcp_mcp_requests_total": true, "tsmcp_mcp_request_duration_seconds": true,
	"tsmcp_decisions_total": true, "tsmcp_tool_calls_total": true, "tsmcp_tool_call_duration_seconds": true,
	"tsmcp_sessions_open": true, "tsmcp_whois_failures_total": true, "tsmcp_whois_cache_total": true,
	"tsmcp_limit_refusals_total": true, "tsmcp_upstream_up": true, "tsmcp_ready": true, "tsmcp_tailnet_state": true,
	"tsmcp_upstream_restarts_total": true, "tsmcp_upstream_children": true,
	"tsmcp_oauth_token_refreshes_total": true, "tsmcp_oauth_authorizations_total": true, "tsmcp_oauth_connected_identities": true,
}

// TestMonitoringOverlayBuilds: the base with the monitoring component
// builds, and adds a PodMonitor scraping /metrics on the health port of
// the tsmcp pods, and the PrometheusRule.
func TestMonitoringOverlayBuilds(t *testing.T) {
	out := krustyBuild(t, filepath.Join(testutil.RepoRoot(t), "deploy", "k8s", "overlays", "monitoring"))
	var kinds []string
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Namespace string `json:"namespace"`
			} `json:"metadata"`
			Spec struct {
				Selector struct {
					MatchLabels map[string]string `json:"matchLabels"`
				} `json:"selector"`
				Endpoints []struct {
					Port string `json:"port"`
					Path string `json:"path"`
				} `json:"podMetricsEndpoints"`
			} `json:"spec"`
		}
		if err := yaml.Unmarshal(doc, &obj); err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, obj.Kind)
		if obj.Kind != "PodMonitor" {
			continue
		}
		if obj.Metadata.Namespace != "tsmcp" || obj.Spec.Selector.MatchLabels["app.kubernetes.io/name"] != "tsmcp" ||
			len(obj.Spec.Endpoints) != 1 || obj.Spec.Endpoints[0].Port != "health" || obj.Spec.Endpoints[0].Path != "/metrics" {
			t.Errorf("PodMonitor does not scrape /metrics on the health port of the tsmcp pods: %s", doc)
		}
	}
	for _, want := range []string{"PodMonitor", "PrometheusRule", "Deployment"} {
		if !strings.Contains(strings.Join(kinds, ","), want) {
			t.Errorf("overlay lacks a %s (has %v)", want, kinds)
		}
	}
}
