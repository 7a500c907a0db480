// MCP Tasks through tsmcp with the official TypeScript SDK v2 client
// (@modelcontextprotocol/client), run by internal/server/tasks_interop_test.go:
//
//   [TOOL=upstream__simulate-research-query] node tasks.mjs ALICE_URL BOB_URL
//
// Each URL is tsmcp's /mcp as seen through that caller's tailnet node.
// server-everything is bridged as upstream "everything" (or the one TOOL
// names); its simulate-research-query has execution.taskSupport
// "required". Alice
// creates a task, polls tasks/get until it completes, fetches tasks/result
// and hears its status notifications; she creates another and cancels it.
// Bob can neither see (tasks/list) nor get, fetch or cancel her tasks: he
// gets exactly the answer to an unknown task. Every check prints one line;
// the exit status is 1 when one failed.
//
// The Tasks utility is a 2025-11-25 protocol feature: the 2026-07-28
// revision replaced it with the Tasks extension (SEP-2663), which this
// client does not implement (it refuses tasks/result and tasks/list and a
// result of type "task" there) and tsmcp does not bridge. So the checks
// above run with versionNegotiation "legacy". With MODE=auto in the
// environment the clients negotiate with "auto" instead, get 2026-07-28,
// and check that a tool that can only run as a task is not offered there
// (and is unknown when called), since it could never work.
import { Client, StreamableHTTPClientTransport, ProtocolError } from '@modelcontextprotocol/client';
import { z } from 'zod';

const [aliceURL, bobURL] = process.argv.slice(2);
if (!aliceURL || !bobURL) {
  console.error('usage: node tasks.mjs ALICE_URL BOB_URL');
  process.exit(2);
}
const TOOL = process.env.TOOL || 'everything__simulate-research-query';
const mode = process.env.MODE === 'auto' ? 'auto' : 'legacy';

const TaskSchema = z.looseObject({
  taskId: z.string(),
  status: z.string(),
  statusMessage: z.string().optional(),
  pollInterval: z.number().optional(),
});
const CreateTaskResultSchema = z.looseObject({ task: TaskSchema });
const ListTasksResultSchema = z.looseObject({ tasks: z.array(TaskSchema) });
const ToolResultSchema = z.looseObject({
  content: z.array(z.looseObject({ type: z.string(), text: z.string().optional() })),
  isError: z.boolean().optional(),
  _meta: z.record(z.string(), z.unknown()).optional(),
});

let failed = false;
function check(name, ok, detail) {
  console.log(`${ok ? 'ok' : 'FAIL'} ${name}${ok || detail === undefined ? '' : ': ' + detail}`);
  if (!ok) failed = true;
}

async function connect(name, url) {
  const client = new Client({ name: `tasks-interop-${name}`, version: '1.0.0' },
    { capabilities: {}, versionNegotiation: { mode } });
  const statuses = [];
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  client.setNotificationHandler('notifications/tasks/status', (n) => { statuses.push(n.params); });
  return { client, statuses };
}

// answer runs a request and returns {result} or {error: "code message"}.
async function answer(client, method, params, schema) {
  try {
    return { result: await client.request({ method, params }, schema) };
  } catch (e) {
    if (e instanceof ProtocolError) return { error: `${e.code} ${e.message}` };
    return { error: `not a protocol error: ${e?.name}: ${e?.message}` };
  }
}

async function createTask(client, topic) {
  const r = await answer(client, 'tools/call',
    { name: TOOL, arguments: { topic }, task: { ttl: 60000 } }, CreateTaskResultSchema);
  if (r.error) throw new Error(`tools/call ${TOOL} as a task: ${r.error}`);
  return r.result.task;
}

const sleep = (ms) => new Promise((res) => setTimeout(res, ms));

async function main() {
  const alice = await connect('alice', aliceURL);
  const bob = await connect('bob', bobURL);
  const version = alice.client.getNegotiatedProtocolVersion();
  if (mode === 'auto') {
    check('auto negotiates 2026-07-28', version === '2026-07-28', version);
    const tools = await alice.client.listTools();
    check('a task-only tool is not offered in 2026-07-28', !tools.tools.some((t) => t.name === TOOL),
      JSON.stringify(tools.tools.map((t) => t.name)));
    const call = await answer(alice.client, 'tools/call', { name: TOOL, arguments: { topic: 'x' } }, ToolResultSchema);
    check('calling it is an unknown tool', /not found/.test(call.error ?? ''), JSON.stringify(call));
    const listed = (await alice.client.listTools()).tools.length;
    check('the other tools are offered', listed > 0, String(listed));
    await alice.client.close();
    await bob.client.close();
    return;
  }
  check('legacy negotiates a session protocol', version === '2025-11-25', version);

  const tools = await alice.client.listTools();
  const tool = tools.tools.find((t) => t.name === TOOL);
  check('the tool keeps execution.taskSupport "required"', tool?.execution?.taskSupport === 'required',
    JSON.stringify(tool?.execution));
  const caps = alice.client.getServerCapabilities();
  check('the tasks capability is advertised (list, cancel, tools/call)',
    !!(caps?.tasks?.list && caps?.tasks?.cancel && caps?.tasks?.requests?.tools?.call), JSON.stringify(caps?.tasks));

  // The answers to a task ID nobody was given.
  const unknownID = 't1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
  const unknown = {
    get: await answer(alice.client, 'tasks/get', { taskId: unknownID }, TaskSchema),
    result: await answer(alice.client, 'tasks/result', { taskId: unknownID }, ToolResultSchema),
    cancel: await answer(alice.client, 'tasks/cancel', { taskId: unknownID }, TaskSchema),
  };
  check('an unknown task is an error', !!(unknown.get.error && unknown.result.error && unknown.cancel.error),
    JSON.stringify(unknown));

  // Alice: create, poll, fetch.
  const task = await createTask(alice.client, 'tailnets');
  check('alice created a task with an ID of the host\'s', task.taskId.startsWith('t1.'), task.taskId);
  let status = task.status;
  for (let i = 0; i < 200 && status !== 'completed'; i++) {
    const r = await answer(alice.client, 'tasks/get', { taskId: task.taskId }, TaskSchema);
    if (r.error) { check('alice polls tasks/get', false, r.error); break; }
    status = r.result.status;
    if (['failed', 'cancelled'].includes(status)) break;
    await sleep(100);
  }
  check('alice\'s task completed (tasks/get)', status === 'completed', status);
  const res = await answer(alice.client, 'tasks/result', { taskId: task.taskId }, ToolResultSchema);
  const text = res.result?.content?.map((c) => c.text ?? '').join('') ?? '';
  check('alice fetched the report (tasks/result)', text.includes('Research Report: tailnets'), res.error ?? text.slice(0, 80));
  const related = res.result?._meta?.['io.modelcontextprotocol/related-task'];
  check('the result names alice\'s task', related?.taskId === task.taskId, JSON.stringify(related));

  const aliceList = await answer(alice.client, 'tasks/list', {}, ListTasksResultSchema);
  check('alice lists her task', !!aliceList.result?.tasks.some((t) => t.taskId === task.taskId),
    aliceList.error ?? JSON.stringify(aliceList.result));

  // Bob: sees nothing of alice's task and gets the unknown task's answers.
  const bobList = await answer(bob.client, 'tasks/list', {}, ListTasksResultSchema);
  check('bob\'s tasks/list does not show alice\'s task',
    !!bobList.result && !bobList.result.tasks.some((t) => t.taskId === task.taskId), bobList.error ?? JSON.stringify(bobList.result));
  const bobGet = await answer(bob.client, 'tasks/get', { taskId: task.taskId }, TaskSchema);
  check('bob\'s tasks/get of alice\'s task = unknown task', bobGet.error === unknown.get.error, JSON.stringify(bobGet));
  const bobResult = await answer(bob.client, 'tasks/result', { taskId: task.taskId }, ToolResultSchema);
  check('bob\'s tasks/result of alice\'s task = unknown task', bobResult.error === unknown.result.error, JSON.stringify(bobResult));

  // Alice cancels another task; bob's cancel of it changes nothing.
  const other = await createTask(alice.client, 'cancelled research');
  const bobCancel = await answer(bob.client, 'tasks/cancel', { taskId: other.taskId }, TaskSchema);
  check('bob\'s tasks/cancel of alice\'s task = unknown task', bobCancel.error === unknown.cancel.error, JSON.stringify(bobCancel));
  const still = await answer(alice.client, 'tasks/get', { taskId: other.taskId }, TaskSchema);
  check('alice\'s task still runs after bob\'s cancel', still.result?.status === 'working', JSON.stringify(still));
  const cancelled = await answer(alice.client, 'tasks/cancel', { taskId: other.taskId }, TaskSchema);
  check('alice cancels her task', cancelled.result?.status === 'cancelled' && cancelled.result?.taskId === other.taskId,
    JSON.stringify(cancelled));
  const after = await answer(alice.client, 'tasks/get', { taskId: other.taskId }, TaskSchema);
  check('tasks/get says cancelled', after.result?.status === 'cancelled', JSON.stringify(after));

  // Status notifications: alice's own only; none for bob.
  for (let i = 0; i < 50 && !alice.statuses.some((s) => s.taskId === task.taskId); i++) await sleep(100);
  check('alice heard her task\'s status', alice.statuses.some((s) => s.taskId === task.taskId),
    JSON.stringify(alice.statuses));
  check('every status alice heard names one of her tasks',
    alice.statuses.every((s) => s.taskId === task.taskId || s.taskId === other.taskId), JSON.stringify(alice.statuses));
  check('bob heard no task status', bob.statuses.length === 0, JSON.stringify(bob.statuses));

  await alice.client.close();
  await bob.client.close();
}

main().then(() => process.exit(failed ? 1 : 0), (e) => {
  console.log(`FAIL ${e?.stack ?? e}`);
  process.exit(1);
});
