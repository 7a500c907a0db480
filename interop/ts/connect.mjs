// Interop check: the official MCP TypeScript SDK's StdioClientTransport
// running `tsmcp connect` as a local stdio server, as Claude Desktop does.
//
//   node connect.mjs SPEC_JSON_FILE
//
// SPEC_JSON_FILE holds {"command": "...", "args": [...], "env": {...},
// "mode": "ok" | "down"}. In "ok" mode the client lists the tools, calls
// whoami, calls count with a progress callback and, once the
// three progress notifications arrived, release (which lets count answer); in "down" mode (the host
// is stopped) connecting must fail with the relay's error. It prints one
// line "RESULT <json>" for the Go test (cmd/tsmcp/connect_ts_test.go) to
// check, and exits 1 on any unexpected failure. Every step has a timeout.

import { readFileSync } from 'node:fs';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';

const STEP_TIMEOUT_MS = Number(process.env.INTEROP_STEP_TIMEOUT_MS) || 60_000;

async function step(name, fn) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${name}: timed out after ${STEP_TIMEOUT_MS}ms`)), STEP_TIMEOUT_MS);
    });
    try {
        return await Promise.race([fn(), timeout]);
    } finally {
        clearTimeout(timer);
    }
}

const spec = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const transport = new StdioClientTransport({
    command: spec.command,
    args: spec.args,
    env: spec.env,
    stderr: 'inherit',
});
const client = new Client({ name: 'tsmcp-connect-interop', version: '1.0.0' });
const result = { mode: spec.mode };

try {
    if (spec.mode === 'down') {
        try {
            await step('connect', () => client.connect(transport));
            result.connected = true;
        } catch (err) {
            result.error = String(err?.message ?? err);
        }
    } else {
        await step('connect', () => client.connect(transport));
        const tools = await step('tools/list', () => client.listTools());
        result.tools = tools.tools.map((t) => t.name).sort();
        const who = await step('whoami', () => client.callTool({ name: 'whoami', arguments: {} }));
        result.whoami = who.structuredContent;
        // count reports progress, then waits for release: so the
        // progress is seen while the call is open.
        const progress = [];
        let sawAll;
        const allSeen = new Promise((resolve) => (sawAll = resolve));
        const counting = client.callTool({ name: 'count', arguments: {} }, undefined, {
            onprogress: (p) => {
                progress.push(p.progress);
                if (progress.length === 3) {
                    sawAll();
                }
            },
            timeout: STEP_TIMEOUT_MS,
        });
        counting.catch(() => {});
        await step('progress', () => allSeen);
        await step('release', () => client.callTool({ name: 'release', arguments: {} }));
        const counted = await step('count', () => counting);
        result.count = counted.content?.[0]?.text;
        result.progress = progress;
    }
} catch (err) {
    console.error(`connect.mjs: ${err?.stack ?? err}`);
    process.exitCode = 1;
} finally {
    await client.close().catch(() => {});
}
console.log(`RESULT ${JSON.stringify(result)}`);
