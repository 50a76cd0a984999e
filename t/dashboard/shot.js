#!/usr/bin/env node
// Real-time screenshot of the dashboard (headless Chromium driven over the
// DevTools protocol; no npm packages). Unlike --virtual-time-budget, the page
// runs on the wall clock, so against a live cordis the chart fills and the
// client-side per-command QPS is right.
//
//   node --experimental-websocket t/dashboard/shot.js URL OUT.png \
//        [WIDTHxHEIGHT] [SECONDS] [dark|light] [full]
//
// Defaults: 1400x1000, 20 s, light. "full" grows the shot to the page height.
// Set CHROMIUM to pick the browser. (Node >= 22 needs no flag.)
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');

const [url, out, size = '1400x1000', secs = '20', scheme = 'light', full = ''] = process.argv.slice(2);
if (!url || !out) {
  console.error('usage: shot.js URL OUT.png [WIDTHxHEIGHT] [SECONDS] [dark|light] [full]');
  process.exit(2);
}
if (typeof WebSocket !== 'function') {
  console.error('shot.js: no WebSocket; run with node --experimental-websocket (node 20/21)');
  process.exit(2);
}
const [width, height] = size.split('x').map(Number);
const browser = process.env.CHROMIUM || 'chromium';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cordis-shot-'));
const child = spawn(browser, ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--hide-scrollbars',
  '--user-data-dir=' + dir, '--remote-debugging-port=0', 'about:blank'], { stdio: 'ignore' });
const sleep = ms => new Promise(r => setTimeout(r, ms));
function done(code) {
  try { child.kill('SIGTERM'); } catch (e) { /* gone */ }
  setTimeout(() => { fs.rmSync(dir, { recursive: true, force: true }); process.exit(code); }, 300);
}
setTimeout(() => { console.error('shot.js: timed out'); done(1); }, (Number(secs) + 60) * 1000);

(async () => {
  const portFile = path.join(dir, 'DevToolsActivePort');
  for (let i = 0; i < 200 && !fs.existsSync(portFile); i++) await sleep(50);
  const port = fs.readFileSync(portFile, 'utf8').split('\n')[0];
  const targets = await (await fetch('http://127.0.0.1:' + port + '/json/list')).json();
  const page = targets.find(t => t.type === 'page');
  const ws = new WebSocket(page.webSocketDebuggerUrl);
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = rej; });
  let id = 0;
  const pending = new Map();
  ws.onmessage = ev => {
    const m = JSON.parse(ev.data);
    if (m.id && pending.has(m.id)) { const p = pending.get(m.id); pending.delete(m.id); m.error ? p.rej(new Error(m.error.message)) : p.res(m.result); }
  };
  const send = (method, params = {}) => new Promise((res, rej) => {
    pending.set(++id, { res, rej });
    ws.send(JSON.stringify({ id, method, params }));
  });
  await send('Emulation.setDeviceMetricsOverride', { width, height, deviceScaleFactor: 1, mobile: false });
  await send('Emulation.setEmulatedMedia', { features: [{ name: 'prefers-color-scheme', value: scheme === 'dark' ? 'dark' : 'light' }] });
  await send('Page.enable');
  await send('Page.navigate', { url });
  await sleep(Number(secs) * 1000);
  let clip;
  if (full === 'full') {
    const m = await send('Page.getLayoutMetrics');
    const h = Math.ceil((m.cssContentSize || m.contentSize).height);
    await send('Emulation.setDeviceMetricsOverride', { width, height: Math.max(height, h), deviceScaleFactor: 1, mobile: false });
    await sleep(300);
    clip = { x: 0, y: 0, width, height: Math.max(height, h), scale: 1 };
  }
  const shot = await send('Page.captureScreenshot', clip ? { format: 'png', clip } : { format: 'png' });
  fs.writeFileSync(out, Buffer.from(shot.data, 'base64'));
  console.log(out);
  ws.close();
  done(0);
})().catch(e => { console.error('shot.js: ' + e.message); done(1); });
