// The web page at GET / in real headless Chromium (Debian's chromium driven
// by playwright-core, pinned in package.json): ask the sample KB a question,
// see the answer stream in with citations, click a citation and see the
// source chunk. The screenshots are kept in $RAGD_ARTIFACTS.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRagd, check, need } from './harness.mjs';

const artifacts = need('RAGD_ARTIFACTS');
fs.mkdirSync(artifacts, { recursive: true });
// RAGD_WEB_LLM=0: a default server without --llm; Ask answers extractively,
// not streamed, and the fix comes as a numbered list.
const llm = process.env.RAGD_WEB_LLM !== '0';
const srv = await startRagd({ llm, realGlove: true });
const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'ragd-chromium-'));
let ctx = null;
let page = null;
let failed = false;
try {
  ctx = await chromium.launchPersistentContext(profile, {
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    viewport: { width: 1200, height: 900 },
  });
  page = ctx.pages()[0] || await ctx.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(srv.url)) external.push(r.url()); });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  const resp = await page.goto(srv.url + '/', { waitUntil: 'load' });
  check(resp.status() === 200 && resp.headers()['content-type'].startsWith('text/html'), 'GET / is HTML', resp.headers());
  // The stats panel fills from /v1/stats.
  await page.waitForFunction(() => /documents/.test(document.getElementById('stats').textContent), null, { timeout: 15000 });
  const stats = await page.textContent('#stats');

  await page.fill('#q', 'How do I fix VPN error 809?');
  await page.click('#ask');
  await page.waitForSelector('#citations li a.cite', { timeout: 60000 });
  const grounding = (await page.textContent('#grounding')).trim();
  const answer = (await page.textContent('#answer-text')).trim();
  check(answer.length > 0, 'an answer is shown', answer);
  check(grounding.length > 0, 'grounding badge', grounding);
  const citations = await page.$$eval('#citations li a.cite', (as) => as.map((a) => a.textContent));
  check(citations.length >= 1, 'citations listed', citations);
  if (!llm) {
    check(grounding === 'extractive', 'extractive answer without --llm', grounding);
    const steps = await page.$$eval('#answer-text ol li', (lis) => lis.map((li) => li.textContent));
    check(steps.length >= 3, 'the fix steps render as a numbered list', steps);
    check(steps.some((s) => s.includes('NW-VPN-SSTP')), 'the fallback profile step is listed', steps);
    const inlineCites = await page.$$eval('#answer-text a.cite', (as) => as.length);
    check(inlineCites >= 1, 'citations in the answer are clickable', inlineCites);
    check(!answer.includes('**'), 'no raw Markdown emphasis', answer);
  }
  await page.screenshot({ path: path.join(artifacts, llm ? 'web_answer.png' : 'web_answer_extractive.png'), fullPage: true });

  await page.click('#citations li a.cite >> nth=0');
  await page.waitForSelector('#source.open #cited-chunk', { timeout: 15000 });
  const chunk = (await page.textContent('#cited-chunk')).trim();
  check(chunk.length > 0, 'the cited chunk opens', chunk);
  const title = await page.textContent('#source-title');
  await page.screenshot({ path: path.join(artifacts, 'web_citation.png'), fullPage: true });

  // Filter by kind: policies only -> every passage listed is a policy.
  await page.click('#source-close');
  await page.check('input[name=kind][value=policy]');
  await page.click('#search');
  await page.waitForSelector('#hits .hit', { timeout: 15000 });
  const kinds = await page.$$eval('#hits .hit .muted', (els) => els.map((e) => e.textContent.split(' · ')[0]));
  check(kinds.length > 0 && kinds.every((k) => k === 'policy'), 'kind filter', kinds);

  check(external.length === 0, 'no external requests', external);
  // Without --llm the page's first Ask tries streaming once and gets 501,
  // which Chromium logs as a failed resource load; nothing else may fail.
  const errors = llm ? consoleErrors : consoleErrors.filter((e) => !/status of 501/.test(e));
  check(errors.length === 0, 'no console errors', errors);
  console.log(`ok: grounding ${grounding}, ${citations.length} citation(s), opened "${title}"; stats: ${stats.replace(/\s+/g, ' ').slice(0, 120)}`);
  console.log(`screenshots: ${path.join(artifacts, 'web_answer.png')}, ${path.join(artifacts, 'web_citation.png')}`);
} catch (err) {
  failed = true;
  console.error(err);
  if (page) await page.screenshot({ path: path.join(artifacts, 'web_failure.png'), fullPage: true }).catch(() => {});
  console.error('--- server log ---\n' + srv.log());
} finally {
  if (ctx) await ctx.close();
  fs.rmSync(profile, { recursive: true, force: true });
  await srv.stop();
}
process.exit(failed ? 1 : 0);
