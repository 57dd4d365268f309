// The official OpenAI client (npm "openai", pinned in package.json) against
// `ragd serve --llm` on loopback: models, chat completions (plain and
// retrieval-augmented, streaming and not), embeddings, errors. The text of a
// random-weight model is meaningless; schemas, stream framing and usage
// counts are what is checked. Run twice by ctest: over HTTP
// (api_openai_client) and over HTTPS with a generated certificate
// (api_openai_client_tls, see harness.mjs).
import OpenAI from 'openai';
import { startRagd, check } from './harness.mjs';

const srv = await startRagd();
let failed = false;
try {
  if (process.env.RAGD_TLS_DIR) check(srv.url.startsWith('https://'), 'the TLS run talks https', srv.url);
  const client = new OpenAI({ baseURL: srv.url + '/v1', apiKey: 'unused', maxRetries: 0, timeout: 120000 });
  const now = Math.floor(Date.now() / 1000);

  // GET /v1/models
  const models = [];
  for await (const m of client.models.list()) models.push(m);
  const ids = models.map((m) => m.id);
  check(ids.includes('ragd') && ids.includes(srv.llmId), 'models list ragd and the loaded model', ids);
  for (const m of models) check(m.object === 'model' && Number.isInteger(m.created) && typeof m.owned_by === 'string', 'model schema', m);

  // Plain chat, non-streaming.
  const req = { model: srv.llmId, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'How do I fix VPN error 809?' }], max_tokens: 12 };
  const c = await client.chat.completions.create(req);
  check(/^chatcmpl-[A-Za-z0-9]{24}$/.test(c.id), 'completion id', c.id);
  check(c.object === 'chat.completion', 'object', c.object);
  check(Math.abs(c.created - now) < 120, 'created is unix seconds', c.created);
  check(c.model === srv.llmId, 'model echoed', c.model);
  check(typeof c.system_fingerprint === 'string' && c.system_fingerprint.startsWith('fp_'), 'system_fingerprint', c.system_fingerprint);
  check(c.choices.length === 1 && c.choices[0].index === 0, 'one choice', c.choices);
  check(c.choices[0].message.role === 'assistant' && typeof c.choices[0].message.content === 'string', 'message', c.choices[0].message);
  check(['stop', 'length'].includes(c.choices[0].finish_reason), 'finish_reason', c.choices[0].finish_reason);
  const u = c.usage;
  check(u.prompt_tokens > 10 && u.completion_tokens >= 1 && u.completion_tokens <= 12, 'usage counts', u);
  check(u.total_tokens === u.prompt_tokens + u.completion_tokens, 'usage total', u);
  if (c.choices[0].finish_reason === 'length') check(u.completion_tokens === 12, 'length means max_tokens reached', u);

  // The same request streamed (greedy sampling: the same text and usage).
  const stream = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
  const chunks = [];
  for await (const ch of stream) chunks.push(ch);
  check(chunks.length >= 3, 'role, finish and usage chunks at least', chunks.length);
  for (const ch of chunks) {
    check(ch.object === 'chat.completion.chunk' && ch.id === chunks[0].id && ch.id.startsWith('chatcmpl-'), 'chunk ids', ch);
    check(ch.model === srv.llmId && ch.system_fingerprint === c.system_fingerprint && ch.created === chunks[0].created, 'chunk meta', ch);
  }
  check(chunks[0].choices[0].delta.role === 'assistant', 'first chunk carries the role', chunks[0]);
  const last = chunks[chunks.length - 1];
  check(last.choices.length === 0 && last.usage, 'last chunk: usage with empty choices', last);
  const fin = chunks[chunks.length - 2];
  check(fin.choices[0].finish_reason === c.choices[0].finish_reason, 'finish chunk', fin);
  for (const ch of chunks.slice(0, -1)) check(ch.usage === null, 'usage null on choice chunks', ch);
  const text = chunks.flatMap((ch) => ch.choices.map((x) => x.delta.content || '')).join('');
  check(text === c.choices[0].message.content, 'streamed text equals non-streamed', [text, c.choices[0].message.content]);
  check(JSON.stringify(last.usage) === JSON.stringify(u), 'streamed usage equals non-streamed', [last.usage, u]);

  // Raw stream framing: every event is one data line; it ends with [DONE].
  const raw = await fetch(srv.url + '/v1/chat/completions', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ ...req, stream: true }),
  });
  check(raw.status === 200 && raw.headers.get('content-type').startsWith('text/event-stream'), 'SSE content type', raw.headers.get('content-type'));
  const body = await raw.text();
  check(body.endsWith('data: [DONE]\n\n'), 'stream ends with data: [DONE]', body.slice(-40));
  const events = body.split('\n\n').filter(Boolean);
  for (const e of events) check(/^data: [^\n]+$/.test(e), 'one data line per event', e);
  for (const e of events.slice(0, -1)) check(!('usage' in JSON.parse(e.slice(6))), 'no usage without include_usage', e);

  // Retrieval-augmented: model "ragd".
  const r = await client.chat.completions.create({ model: 'ragd', messages: [{ role: 'user', content: 'How do I fix VPN error 809?' }], max_tokens: 24 });
  check(r.object === 'chat.completion' && r.model === 'ragd', 'ragd completion', r);
  check(Array.isArray(r.citations), 'citations extra field', r);
  check(['partial', 'fallback', 'refused'].includes(r.grounding), 'random weights are never verified', r.grounding);
  for (const ci of r.citations) check(Number.isInteger(ci.n) && typeof ci.doc_id === 'string', 'citation schema', ci);
  check(r.usage.completion_tokens >= 1 && r.usage.total_tokens === r.usage.prompt_tokens + r.usage.completion_tokens, 'ragd usage', r.usage);
  const rs = await client.chat.completions.create({ model: 'ragd', messages: [{ role: 'user', content: 'How do I fix VPN error 809?' }], max_tokens: 24, stream: true, stream_options: { include_usage: true } });
  let rfin = null, rusage = null;
  for await (const ch of rs) {
    if (ch.choices.length && ch.choices[0].finish_reason) rfin = ch;
    if (ch.usage) rusage = ch.usage;
  }
  check(rfin && Array.isArray(rfin.citations) && typeof rfin.grounding === 'string', 'ragd stream: citations on the finish chunk', rfin);
  check(rusage && rusage.completion_tokens === r.usage.completion_tokens, 'ragd stream usage', rusage);

  // Embeddings: the client asks for base64 by default and decodes it.
  const e = await client.embeddings.create({ model: 'ragd-embed', input: ['reset vpn token', 'printer offline'] });
  check(e.object === 'list' && e.data.length === 2 && e.model === 'ragd-embed', 'embeddings list', e);
  const dim = e.data[0].embedding.length;
  check(dim > 0 && e.data.every((d, i) => d.object === 'embedding' && d.index === i && d.embedding.length === dim), 'embedding items', e.data.map((d) => d.embedding.length));
  const norm = Math.sqrt(e.data[0].embedding.reduce((s, x) => s + x * x, 0));
  check(Math.abs(norm - 1) < 1e-3, 'L2-normalised', norm);
  check(e.usage.prompt_tokens === 5 && e.usage.total_tokens === 5, 'embedding usage counts words', e.usage);
  const ef = await client.embeddings.create({ model: 'ragd-embed', input: 'reset vpn token', encoding_format: 'float' });
  check(ef.data[0].embedding.every((x, i) => Math.abs(x - e.data[0].embedding[i]) < 1e-6), 'float equals base64', null);

  // Errors come back as APIError with OpenAI's error object.
  try {
    await client.chat.completions.create({ model: srv.llmId, messages: [] });
    check(false, 'empty messages must fail');
  } catch (err) {
    check(err instanceof OpenAI.APIError && err.status === 400, 'APIError 400', [err.status, err.message]);
    check(err.error && err.error.type === 'invalid_request_error', 'error type', err.error);
  }
  console.log(`ok (${srv.url.split(':')[0]}): models ${ids.join(',')}; chat ${u.prompt_tokens}+${u.completion_tokens} tokens, ${chunks.length} chunks; ragd grounding ${r.grounding}; embeddings dim ${dim}`);
} catch (err) {
  failed = true;
  console.error(err);
  console.error('--- server log ---\n' + srv.log());
} finally {
  await srv.stop();
}
process.exit(failed ? 1 : 0);
