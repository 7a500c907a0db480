package deploy_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"go.yaml.in/yaml/v3"
	"tailscale.com/ipn/store/awsstore"
)

// CloudFormation YAML: the short intrinsic tags (!Ref, !Sub, !GetAtt, …)
// are turned into their long JSON forms ({"Ref": …}, {"Fn::Sub": …}), the
// template is decoded strictly into its structure, and then evaluated
// with example parameters: conditions, Ref, Fn::Sub, Fn::GetAtt, Fn::If
// and AWS::NoValue resolved, as CloudFormation would. Resolved properties
// are decoded strictly into the ECS SDK's API types (CloudFormation's ECS
// property names are the API's, PascalCase) or into small local structs.

// cfnTags maps short-form tags to their long names.
var cfnTags = map[string]string{
	"!Ref": "Ref", "!Condition": "Condition",
	"!Sub": "Fn::Sub", "!GetAtt": "Fn::GetAtt", "!If": "Fn::If", "!Not": "Fn::Not",
	"!Equals": "Fn::Equals", "!And": "Fn::And", "!Or": "Fn::Or", "!Join": "Fn::Join",
	"!Select": "Fn::Select", "!Split": "Fn::Split", "!GetAZs": "Fn::GetAZs",
	"!ImportValue": "Fn::ImportValue", "!FindInMap": "Fn::FindInMap",
	"!Base64": "Fn::Base64", "!Cidr": "Fn::Cidr",
}

// cfnNode converts a YAML node to plain Go values, with intrinsic tags as
// single-key maps. Unknown tags and duplicate keys are errors.
func cfnNode(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		return cfnNode(n.Content[0])
	case yaml.MappingNode:
		m := map[string]any{}
		for i := 0; i < len(n.Content); i += 2 {
			k := n.Content[i].Value
			if _, dup := m[k]; dup {
				return nil, fmt.Errorf("line %d: duplicate key %q", n.Content[i].Line, k)
			}
			e, err := cfnNode(n.Content[i+1])
			if err != nil {
				return nil, err
			}
			m[k] = e
		}
		v = m
	case yaml.SequenceNode:
		s := []any{}
		for _, c := range n.Content {
			e, err := cfnNode(c)
			if err != nil {
				return nil, err
			}
			s = append(s, e)
		}
		v = s
	case yaml.ScalarNode:
		var s any
		if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
			s = n.Value // tagged scalars are strings (!Ref Name)
		} else if err := n.Decode(&s); err != nil {
			return nil, err
		}
		v = s
	case yaml.AliasNode:
		return nil, fmt.Errorf("line %d: YAML aliases are not CloudFormation", n.Line)
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		long, ok := cfnTags[n.Tag]
		if !ok {
			return nil, fmt.Errorf("line %d: unknown tag %s", n.Line, n.Tag)
		}
		if long == "Fn::GetAtt" {
			if s, ok := v.(string); ok { // !GetAtt Res.Attr
				a, b, _ := strings.Cut(s, ".")
				v = []any{a, b}
			}
		}
		return map[string]any{long: v}, nil
	}
	return v, nil
}

type cfnTemplate struct {
	AWSTemplateFormatVersion string                  `json:"AWSTemplateFormatVersion"`
	Description              string                  `json:"Description"`
	Parameters               map[string]cfnParameter `json:"Parameters"`
	Conditions               map[string]any          `json:"Conditions"`
	Resources                map[string]cfnResource  `json:"Resources"`
	Outputs                  map[string]struct {
		Value       any    `json:"Value"`
		Description string `json:"Description"`
	} `json:"Outputs"`
}

type cfnParameter struct {
	Type           string `json:"Type"`
	Default        any    `json:"Default"`
	Description    string `json:"Description"`
	AllowedPattern string `json:"AllowedPattern"`
	MinValue       any    `json:"MinValue"`
}

type cfnResource struct {
	Type       string         `json:"Type"`
	Condition  string         `json:"Condition"`
	DependsOn  any            `json:"DependsOn"`
	Metadata   map[string]any `json:"Metadata"`
	Properties map[string]any `json:"Properties"`
}

// cfnEval resolves intrinsic functions against example parameters.
type cfnEval struct {
	t      *testing.T
	tmpl   *cfnTemplate
	params map[string]any
	conds  map[string]bool
}

// noValue marks AWS::NoValue; containers drop it.
type noValue struct{}

func (e *cfnEval) cond(name string) bool {
	if v, ok := e.conds[name]; ok {
		return v
	}
	c, ok := e.tmpl.Conditions[name]
	if !ok {
		e.t.Fatalf("unknown condition %q", name)
	}
	v, ok := e.eval(c).(bool)
	if !ok {
		e.t.Fatalf("condition %q is not boolean", name)
	}
	e.conds[name] = v
	return v
}

func (e *cfnEval) ref(name string) any {
	switch name {
	case "AWS::NoValue":
		return noValue{}
	case "AWS::Region":
		return "eu-west-1"
	case "AWS::AccountId":
		return "123456789012"
	case "AWS::Partition":
		return "aws"
	case "AWS::StackName":
		return "tsmcp"
	}
	if v, ok := e.params[name]; ok {
		return v
	}
	if p, ok := e.tmpl.Parameters[name]; ok {
		if p.Default == nil {
			e.t.Fatalf("parameter %s has no default and no example value", name)
		}
		return p.Default
	}
	if r, ok := e.tmpl.Resources[name]; ok {
		if r.Condition != "" && !e.cond(r.Condition) {
			e.t.Errorf("Ref to %s, which is not created (condition %s false)", name, r.Condition)
		}
		return "ref:" + name
	}
	e.t.Fatalf("Ref to unknown %q", name)
	return nil
}

var subVar = regexp.MustCompile(`\$\{([^}!]+)\}`)

func (e *cfnEval) eval(v any) any {
	switch v := v.(type) {
	case []any:
		out := []any{}
		for _, x := range v {
			if r := e.eval(x); r != (noValue{}) {
				out = append(out, r)
			}
		}
		return out
	case map[string]any:
		if len(v) == 1 {
			for k, arg := range v {
				switch k {
				case "Ref":
					return e.ref(arg.(string))
				case "Condition":
					return e.cond(arg.(string))
				case "Fn::GetAtt":
					a := arg.([]any)
					if _, ok := e.tmpl.Resources[a[0].(string)]; !ok {
						e.t.Errorf("GetAtt of unknown resource %v", a[0])
					}
					return fmt.Sprintf("arn:aws:getatt:%v.%v", a[0], a[1])
				case "Fn::Sub":
					return subVar.ReplaceAllStringFunc(arg.(string), func(m string) string {
						name := m[2 : len(m)-1]
						if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
							return fmt.Sprintf("arn:aws:getatt:%s.%s", res, attr)
						}
						return fmt.Sprint(e.ref(name))
					})
				case "Fn::If":
					a := arg.([]any)
					if e.cond(a[0].(string)) {
						return e.eval(a[1])
					}
					return e.eval(a[2])
				case "Fn::Not":
					return !e.eval(arg.([]any)[0]).(bool)
				case "Fn::Equals":
					a := arg.([]any)
					return fmt.Sprint(e.eval(a[0])) == fmt.Sprint(e.eval(a[1]))
				}
				if strings.HasPrefix(k, "Fn::") {
					e.t.Fatalf("intrinsic %s not evaluated by this test; add it", k)
				}
			}
		}
		out := map[string]any{}
		for k, x := range v {
			if r := e.eval(x); r != (noValue{}) {
				out[k] = r
			}
		}
		return out
	}
	return v
}

// loadTemplate decodes the CloudFormation template at rel (a path in the
// repository).
func loadTemplate(t *testing.T, rel string) *cfnTemplate {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(readFile(t, rel), &root); err != nil {
		t.Fatal(err)
	}
	v, err := cfnNode(&root)
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	b, _ := json.Marshal(v)
	var tmpl cfnTemplate
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tmpl); err != nil {
		t.Fatalf("%s structure: %v", rel, err)
	}
	if tmpl.AWSTemplateFormatVersion != "2010-09-09" {
		t.Errorf("AWSTemplateFormatVersion = %q", tmpl.AWSTemplateFormatVersion)
	}
	return &tmpl
}

// props evaluates a resource's properties and decodes them strictly into
// out, with keys spelled exactly like out's fields.
func props(t *testing.T, e *cfnEval, name string, out any) {
	t.Helper()
	r, ok := e.tmpl.Resources[name]
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	b, _ := json.Marshal(e.eval(r.Properties))
	if err := decodeStrictJSON(b, out, pascal); err != nil {
		t.Fatalf("%s (%s) properties: %v\n%s", name, r.Type, err, b)
	}
}

var cfnExample = map[string]any{
	"ClusterArn":         "arn:aws:ecs:eu-west-1:123456789012:cluster/platform",
	"VpcId":              "vpc-0123456789abcdef0",
	"PrivateSubnetIds":   []any{"subnet-0aaa", "subnet-0bbb"},
	"AlbSecurityGroupId": "sg-0a1b2c3d4e5f60718",
	"Image":              "123456789012.dkr.ecr.eu-west-1.amazonaws.com/tsmcp:v0.1.0-ecs",
	"AuthKeySecretArn":   "arn:aws:secretsmanager:eu-west-1:123456789012:secret:tsmcp/ts-authkey-AbCdEf",
}

type iamPolicyDoc struct {
	Version   string `json:"Version"`
	Statement []struct {
		Effect    string         `json:"Effect"`
		Principal map[string]any `json:"Principal"`
		Action    []string       `json:"Action"`
		Resource  []string       `json:"Resource"`
		Condition map[string]any `json:"Condition"`
	} `json:"Statement"`
}

type iamRole struct {
	AssumeRolePolicyDocument json.RawMessage `json:"AssumeRolePolicyDocument"`
	ManagedPolicyArns        []string        `json:"ManagedPolicyArns"`
	Policies                 []struct {
		PolicyName     string       `json:"PolicyName"`
		PolicyDocument iamPolicyDoc `json:"PolicyDocument"`
	} `json:"Policies"`
}

// allows returns the actions and resources of a role's inline policies.
func (r iamRole) allows() (actions, resources []string) {
	for _, p := range r.Policies {
		for _, s := range p.PolicyDocument.Statement {
			if s.Effect == "Allow" {
				actions = append(actions, s.Action...)
				resources = append(resources, s.Resource...)
			}
		}
	}
	return actions, resources
}

// grant is one Allow statement: its actions (sorted) and resources.
type grant struct{ actions, resources []string }

// grants returns the Allow statements of a role's inline policies.
func (r iamRole) grants() []grant {
	var out []grant
	for _, p := range r.Policies {
		for _, s := range p.PolicyDocument.Statement {
			if s.Effect == "Allow" {
				out = append(out, grant{slices.Sorted(slices.Values(s.Action)), s.Resource})
			}
		}
	}
	return out
}

type sgRule struct {
	Description           string `json:"Description"`
	IpProtocol            string `json:"IpProtocol"`
	FromPort              int    `json:"FromPort"`
	ToPort                int    `json:"ToPort"`
	CidrIp                string `json:"CidrIp"`
	CidrIpv6              string `json:"CidrIpv6"`
	SourceSecurityGroupId string `json:"SourceSecurityGroupId"`
	SourcePrefixListId    string `json:"SourcePrefixListId"`
}

type securityGroup struct {
	GroupDescription     string   `json:"GroupDescription"`
	VpcId                string   `json:"VpcId"`
	SecurityGroupIngress []sgRule `json:"SecurityGroupIngress"`
	SecurityGroupEgress  []sgRule `json:"SecurityGroupEgress"`
}

type targetGroup struct {
	VpcId                      string `json:"VpcId"`
	TargetType                 string `json:"TargetType"`
	Protocol                   string `json:"Protocol"`
	Port                       int    `json:"Port"`
	HealthCheckEnabled         bool   `json:"HealthCheckEnabled"`
	HealthCheckProtocol        string `json:"HealthCheckProtocol"`
	HealthCheckPort            string `json:"HealthCheckPort"`
	HealthCheckPath            string `json:"HealthCheckPath"`
	HealthCheckIntervalSeconds int    `json:"HealthCheckIntervalSeconds"`
	HealthCheckTimeoutSeconds  int    `json:"HealthCheckTimeoutSeconds"`
	HealthyThresholdCount      int    `json:"HealthyThresholdCount"`
	UnhealthyThresholdCount    int    `json:"UnhealthyThresholdCount"`
	Matcher                    struct {
		HttpCode string `json:"HttpCode"`
	} `json:"Matcher"`
	TargetGroupAttributes []struct {
		Key   string `json:"Key"`
		Value string `json:"Value"`
	} `json:"TargetGroupAttributes"`
}

type listenerRule struct {
	ListenerArn string `json:"ListenerArn"`
	Priority    int    `json:"Priority"`
	Conditions  []struct {
		Field             string `json:"Field"`
		PathPatternConfig struct {
			Values []string `json:"Values"`
		} `json:"PathPatternConfig"`
	} `json:"Conditions"`
	Actions []struct {
		Type           string `json:"Type"`
		TargetGroupArn string `json:"TargetGroupArn"`
	} `json:"Actions"`
}

func TestCloudFormation(t *testing.T) {
	tmpl := loadTemplate(t, "deploy/ecs/service.yaml")
	known := []string{"AWS::Logs::LogGroup", "AWS::IAM::Role", "AWS::ECS::TaskDefinition", "AWS::EC2::SecurityGroup",
		"AWS::ElasticLoadBalancingV2::TargetGroup", "AWS::ElasticLoadBalancingV2::ListenerRule",
		"AWS::CloudFormation::WaitConditionHandle", "AWS::ECS::Service"}
	for name, r := range tmpl.Resources {
		if !slices.Contains(known, r.Type) {
			t.Errorf("resource %s: type %s is not checked by this test", name, r.Type)
		}
		if r.Type == "AWS::ElasticLoadBalancingV2::LoadBalancer" || r.Type == "AWS::EC2::EIP" {
			t.Errorf("resource %s (%s) would put tsmcp behind a public endpoint", name, r.Type)
		}
	}
	for _, tc := range []struct {
		withALB bool
		kmsKey  string // StateKmsKeyArn; empty leaves it at its default
	}{
		{withALB: true},
		{withALB: false},
		{withALB: false, kmsKey: "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"},
	} {
		t.Run(fmt.Sprintf("alb=%v,kms=%v", tc.withALB, tc.kmsKey != ""), func(t *testing.T) {
			params := map[string]any{}
			for k, v := range cfnExample {
				params[k] = v
			}
			if tc.withALB {
				params["AlbListenerArn"] = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/internal/0123/4567"
			}
			if tc.kmsKey != "" {
				params["StateKmsKeyArn"] = tc.kmsKey
			}
			checkStack(t, &cfnEval{t: t, tmpl: tmpl, params: params, conds: map[string]bool{}}, tc.withALB, tc.kmsKey)
		})
	}
}

// checkStack checks the evaluated stack. kmsKey is the StateKmsKeyArn
// parameter ("" when not set).
func checkStack(t *testing.T, e *cfnEval, withALB bool, kmsKey string) {
	// The service: Fargate, private subnets, no public IP, one task.
	var svc ecs.CreateServiceInput
	props(t, e, "Service", &svc)
	nc := svc.NetworkConfiguration
	if nc == nil || nc.AwsvpcConfiguration == nil {
		t.Fatal("Service has no awsvpc network configuration")
	}
	if nc.AwsvpcConfiguration.AssignPublicIp != ecstypes.AssignPublicIpDisabled {
		t.Errorf("AssignPublicIp = %q, want DISABLED", nc.AwsvpcConfiguration.AssignPublicIp)
	}
	if !slices.Equal(nc.AwsvpcConfiguration.Subnets, []string{"subnet-0aaa", "subnet-0bbb"}) {
		t.Errorf("Subnets = %v, want the PrivateSubnetIds parameter", nc.AwsvpcConfiguration.Subnets)
	}
	if !slices.Equal(nc.AwsvpcConfiguration.SecurityGroups, []string{"ref:SecurityGroup"}) {
		t.Errorf("SecurityGroups = %v, want only the template's SecurityGroup", nc.AwsvpcConfiguration.SecurityGroups)
	}
	if svc.LaunchType != ecstypes.LaunchTypeFargate {
		t.Errorf("LaunchType = %q", svc.LaunchType)
	}
	if deref(svc.DesiredCount) != 1 {
		t.Errorf("DesiredCount = %v, want 1 (the state parameter has one writer)", svc.DesiredCount)
	}
	if dc := svc.DeploymentConfiguration; dc == nil || dc.MaximumPercent == nil || *dc.MaximumPercent != 100 || dc.MinimumHealthyPercent == nil || *dc.MinimumHealthyPercent != 0 {
		t.Errorf("DeploymentConfiguration %+v: want MaximumPercent 100, MinimumHealthyPercent 0 (never two tasks on one state)", dc)
	}
	if deref(svc.TaskDefinition) != "ref:TaskDefinition" {
		t.Errorf("TaskDefinition = %v", svc.TaskDefinition)
	}

	// The task definition: same container invariants as the JSON one.
	var td ecs.RegisterTaskDefinitionInput
	props(t, e, "TaskDefinition", &td)
	if td.NetworkMode != ecstypes.NetworkModeAwsvpc || !slices.Equal(td.RequiresCompatibilities, []ecstypes.Compatibility{ecstypes.CompatibilityFargate}) {
		t.Errorf("TaskDefinition: %s %v, want awsvpc FARGATE", td.NetworkMode, td.RequiresCompatibilities)
	}
	checkContainer(t, "service.yaml TaskDefinition", &td, false)
	c := td.ContainerDefinitions[0]
	if s := c.Secrets; len(s) != 1 || deref(s[0].ValueFrom) != cfnExample["AuthKeySecretArn"] {
		t.Errorf("container secrets %+v, want TS_AUTHKEY from the AuthKeySecretArn parameter", s)
	}
	stateARN := ""
	for _, kv := range c.Environment {
		if deref(kv.Name) == "TSMCP_TAILNET_STATE" {
			stateARN = deref(kv.Value)
		}
	}
	// The parameter's ARN, and the key (if any) as tsmcp's ?kmsKey=
	// option, which awsstore (through statestore) turns into the KeyId of
	// PutParameter.
	ssmARN := "arn:aws:ssm:eu-west-1:123456789012:parameter/tsmcp/state"
	want := ssmARN
	if kmsKey != "" {
		want += "?kmsKey=" + kmsKey
	}
	if stateARN != want {
		t.Errorf("TSMCP_TAILNET_STATE = %q, want %q", stateARN, want)
	}
	if arn, opts, err := awsstore.ParseARNAndOpts(stateARN); err != nil || arn != ssmARN || len(opts) != min(len(kmsKey), 1) {
		t.Errorf("awsstore parses TSMCP_TAILNET_STATE %q as %q with %d options (%v), want %q with %d", stateARN, arn, len(opts), err, ssmARN, min(len(kmsKey), 1))
	}
	sameContainer(t, loadTaskDefinition(t, "deploy/ecs/task-definition.json").ContainerDefinitions[0], c)

	// Task role: exactly Get/PutParameter on exactly the state parameter
	// (its ARN without tsmcp's ?kmsKey= option), and with a customer
	// key, exactly the KMS actions SecureString needs on exactly that key.
	var task iamRole
	props(t, e, "TaskRole", &task)
	wantGrants := []grant{{[]string{"ssm:GetParameter", "ssm:PutParameter"}, []string{ssmARN}}}
	if kmsKey != "" {
		wantGrants = append(wantGrants, grant{[]string{"kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"}, []string{kmsKey}})
	}
	if got := task.grants(); !reflect.DeepEqual(got, wantGrants) {
		t.Errorf("task role allows %v, want exactly %v", got, wantGrants)
	}
	if len(task.ManagedPolicyArns) != 0 {
		t.Errorf("task role has managed policies %v", task.ManagedPolicyArns)
	}
	if deref(td.TaskRoleArn) != "arn:aws:getatt:TaskRole.Arn" {
		t.Errorf("TaskRoleArn = %v", td.TaskRoleArn)
	}
	// Execution role: reads exactly the auth key secret (plus the AWS
	// managed policy for image pulls and logs).
	var exec iamRole
	props(t, e, "ExecutionRole", &exec)
	actions, resources := exec.allows()
	if !slices.Equal(actions, []string{"secretsmanager:GetSecretValue"}) || !slices.Equal(resources, []string{cfnExample["AuthKeySecretArn"].(string)}) {
		t.Errorf("execution role allows %v on %v, want secretsmanager:GetSecretValue on the auth key secret only", actions, resources)
	}
	for _, arn := range exec.ManagedPolicyArns {
		if !strings.HasSuffix(arn, ":iam::aws:policy/service-role/AmazonECSTaskExecutionRolePolicy") {
			t.Errorf("execution role has managed policy %s", arn)
		}
	}

	// Security group: in, only the health port from the ALB's group.
	var sg securityGroup
	props(t, e, "SecurityGroup", &sg)
	if len(sg.SecurityGroupIngress) != 1 {
		t.Fatalf("SecurityGroupIngress has %d rules, want 1", len(sg.SecurityGroupIngress))
	}
	in := sg.SecurityGroupIngress[0]
	if in.IpProtocol != "tcp" || in.FromPort != 8080 || in.ToPort != 8080 || in.SourceSecurityGroupId != cfnExample["AlbSecurityGroupId"] || in.CidrIp != "" || in.CidrIpv6 != "" || in.SourcePrefixListId != "" {
		t.Errorf("ingress %+v, want tcp 8080 from the AlbSecurityGroupId parameter only", in)
	}
	if len(sg.SecurityGroupEgress) == 0 {
		t.Error("no explicit egress: the default allows everything")
	}
	for _, out := range sg.SecurityGroupEgress {
		if out.IpProtocol == "-1" {
			t.Errorf("egress %+v allows every protocol and port; name the protocol and ports", out)
		}
	}

	// Optional ALB target group: /health on 8080, short deregistration.
	_, hasTG := e.tmpl.Resources["TargetGroup"]
	if !hasTG || e.tmpl.Resources["TargetGroup"].Condition == "" || e.tmpl.Resources["ListenerRule"].Condition == "" {
		t.Fatal("TargetGroup and ListenerRule must exist and be conditional")
	}
	if e.cond(e.tmpl.Resources["TargetGroup"].Condition) != withALB {
		t.Fatalf("TargetGroup created = %v with AlbListenerArn set = %v", !withALB, withALB)
	}
	if !withALB {
		if len(svc.LoadBalancers) != 0 || svc.HealthCheckGracePeriodSeconds != nil {
			t.Errorf("without an ALB the service still has LoadBalancers %v / grace %v", svc.LoadBalancers, svc.HealthCheckGracePeriodSeconds)
		}
		return
	}
	var tg targetGroup
	props(t, e, "TargetGroup", &tg)
	if tg.HealthCheckPath != "/health" || tg.HealthCheckPort != "8080" || tg.Port != 8080 || tg.HealthCheckProtocol != "HTTP" || tg.TargetType != "ip" {
		t.Errorf("target group %+v, want HTTP /health on 8080, target type ip", tg)
	}
	delay := -1
	for _, a := range tg.TargetGroupAttributes {
		if a.Key == "deregistration_delay.timeout_seconds" {
			delay, _ = strconv.Atoi(a.Value)
		}
	}
	if delay < 0 || delay > 30 {
		t.Errorf("deregistration delay = %d s, want set and short (<= 30 s; the ALB carries no MCP connections to drain)", delay)
	}
	if lb := svc.LoadBalancers; len(lb) != 1 || deref(lb[0].ContainerPort) != 8080 || deref(lb[0].TargetGroupArn) != "ref:TargetGroup" {
		t.Errorf("service LoadBalancers %+v, want the target group on container port 8080", lb)
	}
	var rule listenerRule
	props(t, e, "ListenerRule", &rule)
	for _, c := range rule.Conditions {
		if len(c.PathPatternConfig.Values) == 0 {
			t.Errorf("listener rule condition on %s has no values", c.Field)
		}
		for _, p := range c.PathPatternConfig.Values {
			if p != "/health" && p != "/readyz" {
				t.Errorf("listener rule forwards %q; only health paths may reach the task", p)
			}
		}
		if c.Field != "path-pattern" {
			t.Errorf("listener rule condition on %s, want path-pattern", c.Field)
		}
	}
	if len(rule.Conditions) == 0 {
		t.Error("listener rule forwards every path")
	}
	if a := rule.Actions; len(a) != 1 || a[0].Type != "forward" || a[0].TargetGroupArn != "ref:TargetGroup" {
		t.Errorf("listener rule actions %+v, want exactly one forward to the template's TargetGroup", a)
	}
}

// sameContainer: the CloudFormation task definition must not drift from
// task-definition.json in what the tests guard.
func sameContainer(t *testing.T, a, b ecstypes.ContainerDefinition) {
	t.Helper()
	if a.HealthCheck == nil || b.HealthCheck == nil {
		t.Fatalf("task-definition.json or service.yaml has no health check (%v, %v)", a.HealthCheck, b.HealthCheck)
	}
	if len(a.PortMappings) == 0 || len(b.PortMappings) == 0 {
		t.Fatalf("task-definition.json or service.yaml has no port mapping (%v, %v)", a.PortMappings, b.PortMappings)
	}
	names := func(kv []ecstypes.KeyValuePair) []string {
		var s []string
		for _, x := range kv {
			s = append(s, deref(x.Name))
		}
		return slices.Sorted(slices.Values(s))
	}
	checks := []struct {
		what string
		x, y any
	}{
		{"command", a.Command, b.Command},
		{"user", deref(a.User), deref(b.User)},
		{"readonlyRootFilesystem", deref(a.ReadonlyRootFilesystem), deref(b.ReadonlyRootFilesystem)},
		{"stopTimeout", deref(a.StopTimeout), deref(b.StopTimeout)},
		{"healthCheck", fmt.Sprintf("%v %v %v %v %v", a.HealthCheck.Command, deref(a.HealthCheck.Interval), deref(a.HealthCheck.Timeout), deref(a.HealthCheck.Retries), deref(a.HealthCheck.StartPeriod)),
			fmt.Sprintf("%v %v %v %v %v", b.HealthCheck.Command, deref(b.HealthCheck.Interval), deref(b.HealthCheck.Timeout), deref(b.HealthCheck.Retries), deref(b.HealthCheck.StartPeriod))},
		{"environment names", names(a.Environment), names(b.Environment)},
		{"portMappings", fmt.Sprint(deref(a.PortMappings[0].ContainerPort)), fmt.Sprint(deref(b.PortMappings[0].ContainerPort))},
	}
	for _, c := range checks {
		if fmt.Sprint(c.x) != fmt.Sprint(c.y) {
			t.Errorf("task-definition.json and service.yaml disagree on %s: %v vs %v", c.what, c.x, c.y)
		}
	}
}
