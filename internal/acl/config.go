package acl

// DefaultCapability is the app capability tsmcp reads from the tailnet
// policy's grants when Config.Capability is empty.
const DefaultCapability = "tsmcp.dev/cap/mcp"

// Config is the local policy, as written under the `acl` key of the config
// file. The zero value denies every tool to everyone, except what tailnet
// grants under DefaultCapability allow.
type Config struct {
	// Capability is the app capability name read from the tailnet policy's
	// grants (e.g. tsmcp.dev/cap/mcp). Empty means DefaultCapability.
	Capability string `mapstructure:"capability"`
	// Groups maps a group name (used as group:<name> in rules) to the
	// logins in it. Nil means no groups.
	Groups map[string][]string `mapstructure:"groups"`
	// Rules are the local allow rules; a tool is allowed when any rule or
	// any tailnet grant allows it. Nil means no local rules.
	Rules []Rule `mapstructure:"rules"`
}

// Rule allows the principals in Src to see and call the tools in Tools.
type Rule struct {
	// Src lists principals: a login, group:<name>, tag:<name>,
	// autogroup:member, autogroup:shared or "*". Must not be empty.
	Src []string `mapstructure:"src"`
	// Tools lists tool names or patterns where "*" matches any run of
	// characters (e.g. "docs__*", "*"). Must not be empty.
	Tools []string `mapstructure:"tools"`
}

// Grant is one entry of the app capability in the tailnet policy:
//
//	"app": {"tsmcp.dev/cap/mcp": [{"tools": ["docs__*", "whoami"]}]}
type Grant struct {
	// Tools lists tool names or patterns, as in Rule.Tools.
	Tools []string `json:"tools"`
}
