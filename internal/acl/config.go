package acl

// DefaultCapability is the app capability tsmcp reads from the tailnet
// policy's grants when Config.Capability is empty.
const DefaultCapability = "tsmcp.dev/cap/mcp"

// Config is the local policy, as written under the `acl` key of the config
// file. The zero value denies everything to everyone, except what tailnet
// grants under DefaultCapability allow.
type Config struct {
	// Capability is the app capability name read from the tailnet policy's
	// grants (e.g. tsmcp.dev/cap/mcp). Empty means DefaultCapability.
	Capability string `mapstructure:"capability"`
	// Groups maps a group name (used as group:<name> in rules) to the
	// logins in it. Nil means no groups.
	Groups map[string][]string `mapstructure:"groups"`
	// Rules are the local allow rules; a tool, prompt or resource is
	// allowed when any rule or any tailnet grant allows it. Nil means no
	// local rules.
	Rules []Rule `mapstructure:"rules"`
}

// Rule allows the principals in Src to see and use the tools, prompts and
// resources its patterns match. At least one of Tools, Prompts and
// Resources must be non-empty; an empty list allows nothing of that kind.
type Rule struct {
	// Src lists principals: a login, group:<name>, tag:<name>,
	// autogroup:member, autogroup:shared or "*". Must not be empty.
	Src []string `mapstructure:"src"`
	// Tools lists tool names or patterns where "*" matches any run of
	// characters (e.g. "docs__*", "*"). Nil means no tools.
	Tools []string `mapstructure:"tools"`
	// Prompts lists prompt names or patterns, as in Tools (bridged prompts
	// are named "<upstream>__<prompt>"). Nil means no prompts.
	Prompts []string `mapstructure:"prompts"`
	// Resources lists resource URI patterns where "*" matches any run of
	// characters; bridged resources are named "<upstream>+<original-uri>"
	// (e.g. "docs+*", "docs+file:///handbook/*"), MCP Apps' ui:// ones
	// "ui://<upstream>+<rest>" (e.g. "ui://docs+*"). Resource templates are
	// matched by their URI template. Nil means no resources.
	Resources []string `mapstructure:"resources"`
}

// Grant is one entry of the app capability in the tailnet policy:
//
//	"app": {"tsmcp.dev/cap/mcp": [{"tools": ["docs__*"], "prompts": ["docs__*"], "resources": ["docs+*"]}]}
//
// It is decoded strictly: keys are exact and case-sensitive, each at most
// once, every value a list of strings; any other key or value makes the
// grant malformed, which denies the caller everything (see Policy.Decide).
type Grant struct {
	// Tools lists tool names or patterns, as in Rule.Tools.
	Tools []string `json:"tools"`
	// Prompts lists prompt names or patterns, as in Rule.Prompts.
	Prompts []string `json:"prompts"`
	// Resources lists resource URI patterns, as in Rule.Resources.
	Resources []string `json:"resources"`
}
