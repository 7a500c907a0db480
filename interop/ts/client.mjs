// Interop check: the official MCP TypeScript SDK against `tsmcp dev`.
//
//   node client.mjs ENDPOINTS_JSON_FILE
//
// ENDPOINTS_JSON_FILE is what `tsmcp dev --endpoints-file` writes. For every
// identity and both transports (Streamable HTTP on .mcp, legacy HTTP+SSE on
// .sse) it connects a Client, lists the tools (whoami must be there), calls
// whoami and checks that the host saw that identity. It prints one line per
// check and exits 1 if any failed; on a failure it also prints the HTTP
// exchanges of that connection (set INTEROP_TRACE=1 to print them always).
//
// Every step has a timeout (INTEROP_STEP_TIMEOUT_MS, default 10000), so the
// script never hangs. interop/interop_test.go runs it.

import { readFileSync } from 'node:fs';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const STEP_TIMEOUT_MS = Number(process.env.INTEROP_STEP_TIMEOUT_MS) || 10_000;
const TRACE_ALWAYS = Boolean(process.env.INTEROP_TRACE);
const BODY_LIMIT = 2000;

function sdkVersion() {
    try {
        const url = new URL('./node_modules/@modelcontextprotocol/sdk/package.json', import.meta.url);
        return JSON.parse(readFileSync(url, 'utf8')).version;
    } catch {
        return 'unknown';
    }
}

class StepError extends Error {
    constructor(step, cause) {
        super(`${step}: ${describe(cause)}`);
        this.step = step;
    }
}

function describe(err) {
    if (!(err instanceof Error)) {
        return String(err);
    }
    let s = (err.message || err.name).trim().replace(/\s*\n\s*/g, ' ');
    if (err.code !== undefined && !s.includes(String(err.code))) {
        s += ` (code ${err.code})`;
    }
    if (err.cause) {
        s += ` [cause: ${describe(err.cause)}]`;
    }
    return s;
}

// withTimeout runs fn (which returns a promise) and rejects after ms.
async function withTimeout(step, ms, fn) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms}ms`)), ms);
    });
    try {
        return await Promise.race([fn(), timeout]);
    } catch (err) {
        throw new StepError(step, err);
    } finally {
        clearTimeout(timer);
    }
}

function truncate(s) {
    return s.length > BODY_LIMIT ? `${s.slice(0, BODY_LIMIT)}... (${s.length} bytes)` : s;
}

const TRACED_REQUEST_HEADERS = ['accept', 'content-type', 'mcp-protocol-version', 'mcp-session-id', 'last-event-id'];
const TRACED_RESPONSE_HEADERS = ['content-type', 'mcp-protocol-version', 'mcp-session-id'];

function pickHeaders(headers, names) {
    const h = new Headers(headers ?? {});
    const out = {};
    for (const name of names) {
        const v = h.get(name);
        if (v !== null) {
            out[name] = v;
        }
    }
    return out;
}

// tracingFetch wraps fetch and records each exchange in trace: method, URL,
// the MCP-relevant headers both ways, the request body, and the response body
// of unsuccessful responses (successful ones may be endless SSE streams).
function tracingFetch(trace) {
    return async (url, init = {}) => {
        const entry = {
            method: init.method ?? 'GET',
            url: String(url),
            request: pickHeaders(init.headers, TRACED_REQUEST_HEADERS),
            body: typeof init.body === 'string' ? truncate(init.body) : undefined,
        };
        trace.push(entry);
        let res;
        try {
            res = await fetch(url, init);
        } catch (err) {
            entry.error = describe(err);
            throw err;
        }
        entry.status = res.status;
        entry.response = pickHeaders(res.headers, TRACED_RESPONSE_HEADERS);
        if (!res.ok) {
            try {
                entry.responseBody = truncate(await res.clone().text());
            } catch (err) {
                entry.responseBody = `(unreadable: ${describe(err)})`;
            }
        }
        return res;
    };
}

function formatTrace(trace) {
    return trace
        .map((e, i) => {
            const lines = [`    #${i + 1} ${e.method} ${e.url}`, `       request headers: ${JSON.stringify(e.request)}`];
            if (e.body !== undefined) {
                lines.push(`       request body: ${e.body}`);
            }
            if (e.error !== undefined) {
                lines.push(`       fetch error: ${e.error}`);
            } else if (e.status !== undefined) {
                lines.push(`       -> HTTP ${e.status} ${JSON.stringify(e.response)}`);
                if (e.responseBody !== undefined) {
                    lines.push(`       response body: ${e.responseBody}`);
                }
            } else {
                lines.push('       -> (response still pending)');
            }
            return lines.join('\n');
        })
        .join('\n');
}

// whoamiPayload returns the whoami result as an object: structuredContent if
// present, else the JSON text content. When both are present they must agree.
function whoamiPayload(result) {
    if (result.isError) {
        throw new Error(`whoami returned isError: ${JSON.stringify(result.content)}`);
    }
    const text = (result.content ?? []).find(c => c.type === 'text')?.text;
    let fromText;
    if (text !== undefined) {
        try {
            fromText = JSON.parse(text);
        } catch (err) {
            if (!result.structuredContent) {
                throw new Error(`whoami text content is not JSON (${describe(err)}): ${truncate(text)}`);
            }
        }
    }
    const sc = result.structuredContent;
    if (sc && fromText) {
        for (const k of ['login', 'node', 'tailnet_ip']) {
            if (sc[k] !== fromText[k]) {
                throw new Error(`structuredContent.${k}=${JSON.stringify(sc[k])} but text content has ${JSON.stringify(fromText[k])}`);
            }
        }
    }
    const payload = sc ?? fromText;
    if (!payload || typeof payload !== 'object') {
        throw new Error(`whoami returned neither structuredContent nor JSON text: ${truncate(JSON.stringify(result))}`);
    }
    return { payload, source: sc ? 'structuredContent' : 'text' };
}

function sameTags(a, b) {
    const x = [...(a ?? [])].sort();
    const y = [...(b ?? [])].sort();
    return x.length === y.length && x.every((v, i) => v === y[i]);
}

async function check(id, kind) {
    const trace = [];
    const url = new URL(kind === 'streamable' ? id.mcp : id.sse);
    const transport =
        kind === 'streamable'
            ? new StreamableHTTPClientTransport(url, { fetch: tracingFetch(trace) })
            : new SSEClientTransport(url, { fetch: tracingFetch(trace) });
    // The Client hands the negotiated version to HTTP transports through
    // setProtocolVersion (it sends it as Mcp-Protocol-Version afterwards).
    let negotiated;
    const setProtocolVersion = transport.setProtocolVersion?.bind(transport);
    transport.setProtocolVersion = v => {
        negotiated = v;
        setProtocolVersion?.(v);
    };
    const transportErrors = [];
    const client = new Client({ name: 'tsmcp-interop', version: '0.0.0' });
    client.onerror = err => transportErrors.push(describe(err));
    const opts = { timeout: STEP_TIMEOUT_MS };
    const label = `${id.name} ${kind}`;
    try {
        await withTimeout('connect', STEP_TIMEOUT_MS, () => client.connect(transport, opts));
        const server = client.getServerVersion();
        console.log(
            `   ${label}: connected to ${server?.name ?? '?'} ${server?.version ?? '?'}, protocol version ${negotiated ?? 'unknown'}` +
                (transport.sessionId ? `, session ${transport.sessionId}` : '')
        );

        const tools = await withTimeout('tools/list', STEP_TIMEOUT_MS, () => client.listTools(undefined, opts));
        const names = tools.tools.map(t => t.name);
        if (!names.includes('whoami')) {
            throw new StepError('tools/list', new Error(`whoami missing; tools: ${JSON.stringify(names)}`));
        }

        const result = await withTimeout('tools/call whoami', STEP_TIMEOUT_MS, () =>
            client.callTool({ name: 'whoami', arguments: {} }, undefined, opts)
        );
        let who;
        try {
            who = whoamiPayload(result);
        } catch (err) {
            throw new StepError('whoami result', err);
        }
        const p = who.payload;
        const problems = [];
        if (p.login !== id.login) {
            problems.push(`login ${JSON.stringify(p.login)}, want ${JSON.stringify(id.login)}`);
        }
        if (!Array.isArray(p.tags ?? []) || !sameTags(p.tags, id.tags)) {
            problems.push(`tags ${JSON.stringify(p.tags)}, want ${JSON.stringify(id.tags)}`);
        }
        if (typeof p.node !== 'string' || !p.node.startsWith(`${id.name}.`)) {
            problems.push(`node ${JSON.stringify(p.node)}, want prefix ${JSON.stringify(`${id.name}.`)}`);
        }
        if (problems.length > 0) {
            throw new StepError('whoami result', new Error(`${problems.join('; ')} (full: ${JSON.stringify(p)})`));
        }
        if (kind === 'streamable') {
            // A well-behaved client ends its session with DELETE (the SDK
            // accepts 405 from servers that do not support it).
            await withTimeout('terminate session (DELETE)', STEP_TIMEOUT_MS, () => transport.terminateSession());
        }
        const tags = id.tags.length > 0 ? ` tags ${id.tags.join(',')}` : '';
        console.log(
            `ok ${label}: ${p.login || '(no login)'}${tags} node ${p.node} ip ${p.tailnet_ip} ` +
                `[protocol ${negotiated ?? 'unknown'}, ${names.length} tools, via ${who.source}]`
        );
        if (TRACE_ALWAYS) {
            console.log(formatTrace(trace));
        }
        return { ok: true, label, negotiated };
    } catch (err) {
        const msg = err instanceof StepError ? err.message : `unexpected: ${describe(err)}`;
        console.log(`FAIL ${label} (${url.href}): ${msg}`);
        if (transportErrors.length > 0) {
            console.log(`   transport errors: ${transportErrors.join(' | ')}`);
        }
        console.log(`   HTTP exchanges (protocol version negotiated: ${negotiated ?? 'none'}):`);
        console.log(formatTrace(trace) || '    (none)');
        return { ok: false, label, negotiated, error: msg };
    } finally {
        if (kind === 'streamable' && transport.sessionId !== undefined) {
            // Best effort after a failure; terminateSession clears sessionId on success.
            await withTimeout('terminate session', STEP_TIMEOUT_MS, () => transport.terminateSession()).catch(() => {});
        }
        try {
            await withTimeout('close', STEP_TIMEOUT_MS, () => client.close());
        } catch (err) {
            console.log(`   ${label}: close: ${describe(err)}`);
        }
    }
}

function loadEndpoints(file) {
    let eps;
    try {
        eps = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
        throw new Error(`reading endpoints file ${file}: ${describe(err)}`);
    }
    if (!Array.isArray(eps.identities) || eps.identities.length === 0) {
        throw new Error(`endpoints file ${file} has no identities`);
    }
    for (const id of eps.identities) {
        for (const k of ['name', 'mcp', 'sse']) {
            if (typeof id[k] !== 'string' || id[k] === '') {
                throw new Error(`endpoints file ${file}: identity ${JSON.stringify(id)} has no ${k}`);
            }
        }
        id.login ??= '';
        id.tags ??= [];
    }
    return eps;
}

async function main() {
    const file = process.argv[2];
    if (!file) {
        console.error('usage: node client.mjs ENDPOINTS_JSON_FILE');
        return 2;
    }
    const eps = loadEndpoints(file);
    console.log(
        `@modelcontextprotocol/sdk ${sdkVersion()} on node ${process.version}; host ${eps.host}; ` +
            `${eps.identities.length} identities x 2 transports; step timeout ${STEP_TIMEOUT_MS}ms`
    );
    const results = [];
    for (const id of eps.identities) {
        for (const kind of ['streamable', 'sse']) {
            results.push(await check(id, kind));
        }
    }
    const failed = results.filter(r => !r.ok);
    const versions = {};
    for (const r of results) {
        const kind = r.label.split(' ')[1];
        (versions[kind] ??= new Set()).add(r.negotiated ?? 'none');
    }
    console.log(
        `negotiated protocol versions: ${Object.entries(versions)
            .map(([k, v]) => `${k}=${[...v].join(',')}`)
            .join(' ')}`
    );
    if (failed.length > 0) {
        console.log(`FAILED ${failed.length}/${results.length} checks:`);
        for (const r of failed) {
            console.log(`  ${r.label}: ${r.error}`);
        }
        return 1;
    }
    console.log(`PASS ${results.length}/${results.length} checks`);
    return 0;
}

// Exit explicitly (after stdout drains) so that a transport left open by a
// failed close cannot keep the process alive.
function exit(code) {
    process.exitCode = code;
    process.stdout.write('', () => process.exit(code));
}

main().then(exit, err => {
    console.log(`FAIL: ${describe(err)}`);
    exit(1);
});
