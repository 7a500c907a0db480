// A minimal MCP Apps host, run in headless Chromium by
// internal/server/apps_browser_test.go (bundled there with esbuild).
//
// It talks MCP to /mcp on its own origin (the test's relay to tsmcp through
// a tailnet caller node) with the official TypeScript SDK client, and
// renders a tool's UI with the ext-apps host side (AppBridge) as an Apps
// host does: list the tools, take the first whose _meta names a UI
// resource (or the one ?tool= names), read that ui:// resource, load it into a sandboxed iframe
// connected through AppBridge, call the tool and hand the view its input
// and result. What it saw goes to window.appsHost, which the test reads
// over the DevTools protocol (together with the view's own DOM).

import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import {
    AppBridge,
    PostMessageTransport,
    RESOURCE_MIME_TYPE,
    getToolUiResourceUri,
} from '@modelcontextprotocol/ext-apps/app-bridge';

const state = { steps: [], done: false, error: '' };
window.appsHost = state;

function step(name, detail) {
    state.steps.push(detail === undefined ? name : `${name}: ${detail}`);
}

async function main() {
    const hostInfo = { name: 'tsmcp-apps-test-host', version: '1.0.0' };
    const client = new Client(hostInfo);
    await client.connect(new StreamableHTTPClientTransport(new URL('/mcp', window.location.href)));
    step('connected');

    const { tools } = await client.listTools();
    state.tools = tools.map((t) => t.name);
    // ?tool=NAME picks the tool; without it, the first that has a view.
    const wanted = new URLSearchParams(window.location.search).get('tool');
    const tool = tools.find((t) => (wanted ? t.name === wanted : getToolUiResourceUri(t) !== undefined));
    if (!tool || getToolUiResourceUri(tool) === undefined) {
        throw new Error(`no tool ${wanted ?? ''} names a UI resource among ${state.tools.join(', ')}`);
    }
    state.tool = tool.name;
    state.resourceUri = getToolUiResourceUri(tool);
    state.flatResourceUri = tool._meta?.['ui/resourceUri'];
    step('tool', `${tool.name} -> ${state.resourceUri}`);

    const { contents } = await client.readResource({ uri: state.resourceUri });
    const html = contents.find((c) => typeof c.text === 'string');
    if (!html) {
        throw new Error(`${state.resourceUri} has no text contents`);
    }
    state.contentUri = html.uri;
    state.mimeType = html.mimeType;
    if (html.mimeType !== RESOURCE_MIME_TYPE) {
        throw new Error(`${state.resourceUri} is ${html.mimeType}, not ${RESOURCE_MIME_TYPE}`);
    }
    step('read', `${html.text.length} characters of ${html.mimeType}`);

    // The view runs sandboxed, without the host's origin, as Apps hosts
    // run it: only postMessage reaches it.
    const iframe = document.createElement('iframe');
    iframe.id = 'app';
    iframe.setAttribute('sandbox', 'allow-scripts');
    iframe.style.width = '100%';
    iframe.style.height = '480px';
    document.body.appendChild(iframe);

    const bridge = new AppBridge(client, hostInfo, { openLinks: {}, serverTools: {}, logging: {} });
    const initialized = new Promise((resolve) => {
        bridge.oninitialized = () => resolve();
    });
    await bridge.connect(new PostMessageTransport(iframe.contentWindow, iframe.contentWindow));
    iframe.srcdoc = html.text;
    await initialized;
    step('view initialized');

    const args = {};
    const result = await client.callTool({ name: tool.name, arguments: args });
    if (result.isError) {
        throw new Error(`${tool.name} failed: ${JSON.stringify(result.content)}`);
    }
    state.result = result.structuredContent ?? null;
    await bridge.sendToolInput({ arguments: args });
    await bridge.sendToolResult(result);
    step('result sent', JSON.stringify(state.result));
    state.done = true;
}

main().catch((err) => {
    state.error = String(err?.stack ?? err);
    state.done = true;
});
