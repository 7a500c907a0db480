// Interop check: the official MCP TypeScript SDK against a bridged
// upstream (server-everything, named "every") through `tsmcp dev`.
//
//   node bridged.mjs ENDPOINTS_JSON_FILE
//
// As alice (allowed every tool, prompt and resource) over Streamable HTTP:
// resources and templates listed with <upstream>+ URIs, a resource read,
// a prompt with arguments, a prompt completion, progress on the
// long-running tool, and a subscription whose update arrives. As bob
// (allowed only whoami): no prompts, no resources, and a read of alice's
// resource fails like a missing one. Prints one line per check; exits 1 if
// any failed. interop/interop_test.go runs it.

import { readFileSync } from 'node:fs';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ResourceUpdatedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';

const STEP_TIMEOUT_MS = 20_000;
const endpoints = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const byName = Object.fromEntries(endpoints.identities.map((id) => [id.name, id]));

let failed = 0;
async function check(name, fn) {
    let timer;
    const timeout = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${STEP_TIMEOUT_MS}ms`)), STEP_TIMEOUT_MS);
    });
    try {
        const detail = await Promise.race([fn(), timeout]);
        console.log(`ok   ${name}${detail ? `: ${detail}` : ''}`);
    } catch (err) {
        failed++;
        console.log(`FAIL ${name}: ${err?.message ?? err}`);
    } finally {
        clearTimeout(timer);
    }
}

function assert(cond, msg) {
    if (!cond) {
        throw new Error(msg);
    }
}

async function connect(id) {
    const client = new Client({ name: 'tsmcp-interop-bridged', version: '1' });
    await client.connect(new StreamableHTTPClientTransport(new URL(id.mcp)));
    return client;
}

const alice = await connect(byName.alice);
const bob = await connect(byName.bob);
let firstURI;

await check('alice lists resources named <upstream>+<uri>', async () => {
    const { resources } = await alice.listResources();
    assert(resources.length > 0, 'no resources');
    for (const r of resources) {
        assert(r.uri.startsWith('every+'), `resource ${r.uri} does not name its upstream`);
    }
    firstURI = resources.find((r) => r.uri.includes('static/document')).uri;
    return `${resources.length} resources`;
});

await check('alice reads a resource', async () => {
    const { contents } = await alice.readResource({ uri: firstURI });
    assert(contents.length > 0 && contents[0].uri === firstURI, `contents ${JSON.stringify(contents).slice(0, 200)}`);
    return firstURI;
});

await check('alice lists resource templates', async () => {
    const { resourceTemplates } = await alice.listResourceTemplates();
    assert(resourceTemplates.some((t) => t.uriTemplate === 'every+demo://resource/dynamic/text/{resourceId}'),
        `templates ${resourceTemplates.map((t) => t.uriTemplate)}`);
});

await check('alice gets a prompt with arguments', async () => {
    const { prompts } = await alice.listPrompts();
    assert(prompts.some((p) => p.name === 'every__args-prompt'), `prompts ${prompts.map((p) => p.name)}`);
    const res = await alice.getPrompt({ name: 'every__args-prompt', arguments: { city: 'Lyon', state: 'Rhône' } });
    assert(JSON.stringify(res.messages).includes('Lyon'), `messages ${JSON.stringify(res.messages).slice(0, 200)}`);
});

await check('alice completes a prompt argument', async () => {
    const res = await alice.complete({
        ref: { type: 'ref/prompt', name: 'every__completable-prompt' },
        argument: { name: 'name', value: 'A' },
        context: { arguments: { department: 'Engineering' } },
    });
    assert(res.completion.values.includes('Alice'), `values ${res.completion.values}`);
});

await check('alice gets progress from the long-running tool', async () => {
    const seen = [];
    const res = await alice.callTool(
        { name: 'every__trigger-long-running-operation', arguments: { duration: 2, steps: 4 } },
        undefined,
        { onprogress: (p) => seen.push(p.progress), timeout: STEP_TIMEOUT_MS },
    );
    assert(!res.isError, `tool error ${JSON.stringify(res.content)}`);
    assert(seen.length >= 2, `progress ${seen}`);
    return `progress ${seen.join(',')}`;
});

await check('alice subscribes and receives the update', async () => {
    const uri = 'every+demo://resource/static/document/architecture.md';
    const updated = new Promise((resolve) => {
        alice.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => {
            if (n.params.uri === uri) {
                resolve();
            }
        });
    });
    await alice.subscribeResource({ uri });
    // server-everything sends updates of subscribed resources only while
    // its simulated updates are on.
    const res = await alice.callTool({ name: 'every__toggle-subscriber-updates', arguments: {} });
    assert(!res.isError, `toggle: ${JSON.stringify(res.content)}`);
    await updated;
    return uri;
});

await check('bob, allowed only whoami, sees no prompts or resources', async () => {
    const { prompts } = await bob.listPrompts();
    const { resources } = await bob.listResources();
    assert(prompts.length === 0 && resources.length === 0, `bob sees ${prompts.length} prompts, ${resources.length} resources`);
});

await check("bob's read of alice's resource fails like a missing one", async () => {
    let refused, missing;
    try {
        await bob.readResource({ uri: firstURI });
    } catch (err) {
        refused = err.message;
    }
    try {
        await alice.readResource({ uri: 'every+demo://resource/static/document/no-such-file.md' });
    } catch (err) {
        missing = err.message;
    }
    assert(refused !== undefined && refused === missing, `refused "${refused}", missing "${missing}"`);
});

await alice.close();
await bob.close();
console.log(failed === 0 ? 'all bridged checks passed' : `${failed} bridged checks failed`);
process.exit(failed === 0 ? 0 : 1);
