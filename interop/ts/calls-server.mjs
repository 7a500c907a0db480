// A Streamable HTTP MCP server on the official TypeScript SDK for tsmcp's
// call routing tests (internal/server attribution_test.go): what it sends
// about a call (progress, log messages, elicitation) travels on that call's
// own response stream, as the SDK does for everything related to a request.
//
//   node calls-server.mjs      prints {"port": N} once it listens on 127.0.0.1
//
// Tools: log {label} sends a log message and answers "logged"; gate {name,
// label} reports progress labelled label every 100 ms until open {name} is
// called; elicit {label} asks the client and answers "<action> <content>".

import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';

import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ElicitResultSchema, isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const gates = new Map();
function gate(name) {
    if (!gates.has(name)) {
        let open;
        const opened = new Promise((resolve) => { open = resolve; });
        gates.set(name, { opened, open });
    }
    return gates.get(name);
}

function newServer() {
    const server = new McpServer({ name: 'ts-calls', version: '1' }, { capabilities: { logging: {} } });
    const text = (t) => ({ content: [{ type: 'text', text: t }] });
    server.registerTool('log', { inputSchema: { label: z.string() } }, async ({ label }, extra) => {
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', logger: 'child', data: label } });
        return text('logged');
    });
    server.registerTool('gate', { inputSchema: { name: z.string(), label: z.string().optional() } }, async ({ name, label }, extra) => {
        const g = gate(name);
        const token = extra._meta?.progressToken;
        for (let n = 1; ; n++) {
            if (token !== undefined) {
                await extra.sendNotification({ method: 'notifications/progress', params: { progressToken: token, progress: n, message: label ?? '' } });
            }
            const tick = new Promise((resolve) => setTimeout(() => resolve('tick'), 100));
            if (await Promise.race([g.opened.then(() => 'open'), tick]) === 'open') {
                return text('passed');
            }
            if (extra.signal.aborted) {
                throw new Error('cancelled');
            }
        }
    });
    server.registerTool('open', { inputSchema: { name: z.string() } }, async ({ name }) => {
        gate(name).open();
        return text('opened');
    });
    server.registerTool('elicit', { inputSchema: { label: z.string() } }, async ({ label }, extra) => {
        const r = await extra.sendRequest({
            method: 'elicitation/create',
            params: { message: label, requestedSchema: { type: 'object', properties: { name: { type: 'string' } } } },
        }, ElicitResultSchema);
        return text(`${r.action} ${JSON.stringify(r.content ?? {})}`);
    });
    return server;
}

const transports = new Map();

async function readBody(req) {
    const chunks = [];
    for await (const c of req) {
        chunks.push(c);
    }
    const s = Buffer.concat(chunks).toString('utf8');
    return s ? JSON.parse(s) : undefined;
}

const http = createServer(async (req, res) => {
    try {
        const body = req.method === 'POST' ? await readBody(req) : undefined;
        const id = req.headers['mcp-session-id'];
        let transport = id ? transports.get(id) : undefined;
        if (!transport && req.method === 'POST' && isInitializeRequest(body)) {
            transport = new StreamableHTTPServerTransport({
                sessionIdGenerator: () => randomUUID(),
                onsessioninitialized: (sid) => transports.set(sid, transport),
            });
            transport.onclose = () => transports.delete(transport.sessionId);
            await newServer().connect(transport);
        }
        if (!transport) {
            res.writeHead(404).end();
            return;
        }
        await transport.handleRequest(req, res, body);
    } catch (err) {
        if (!res.headersSent) {
            res.writeHead(500).end(String(err));
        }
    }
});

http.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ port: http.address().port }));
});
