/* In-page checks for src/dashboard.html against the fixtures of serve.py.
 * serve.py injects this at the top of <head> when the page is fetched as
 * /selftest; the result lands in <pre id="selftest" data-result="pass|fail">
 * for chromium --dump-dom to read (see run.sh). Drives the page through the
 * DOM only: clicks, mouse events, what is shown. */
(function () {
  'use strict';
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message || e)); });
  window.addEventListener('unhandledrejection', function (e) { errors.push('rejection: ' + e.reason); });

  function q(s) { return document.querySelector(s); }
  function qa(s) { return Array.prototype.slice.call(document.querySelectorAll(s)); }
  function unfmt(t) { /* "1.2k" -> 1200, "1.45 ms" -> 1450 (µs) */
    t = String(t).trim();
    var m = /^(-?[0-9.]+)\s*([kMGTP]|µs|ms|s)?$/.exec(t);
    if (!m) return NaN;
    var mul = { k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, 'µs': 1, ms: 1e3, s: 1e6 }[m[2]] || 1;
    return parseFloat(m[1]) * mul;
  }
  function col(k) { /* index of the cmd table column with data-k */
    return qa('#cmd-table-wrap th').findIndex(function (th) { return th.dataset.k === k; });
  }
  function column(k, f) {
    var i = col(k);
    return qa('#cmd-table tr[data-cmd]').map(function (tr) { return f(tr.children[i]); });
  }
  function sorted(a, dir, cmp) {
    for (var i = 1; i < a.length; i++) if (dir * cmp(a[i - 1], a[i]) > 0) return false;
    return true;
  }
  function num(a, b) { return a - b; }
  function str(a, b) { return a.localeCompare(b); }
  function click(k) { qa('#cmd-table-wrap th').filter(function (th) { return th.dataset.k === k; })[0].click(); }

  function run() {
    var res = [];
    function ok(c, name) { res.push((c ? 'ok ' : 'not ok ') + (res.length + 1) + ' - ' + name); }

    ok(/^[0-9]+$/.test(q('#qps').textContent), '#qps is an integer: ' + q('#qps').textContent);
    ok(q('#ops-total').textContent !== '–' && +q('#ops-total').dataset.value > 0, '#ops-total shown: ' + q('#ops-total').textContent);
    ok(/^[0-9]+$/.test(q('#sessions-alive').textContent), '#sessions-alive is an integer');
    ok(q('#conn-status').dataset.state === 'live', '#conn-status live');
    ok(q('#reload-status').dataset.state === 'failed', '#reload-status failed');
    ok(q('#reload-banner').classList.contains('show') && /no group with id 7/.test(q('#reload-error').textContent), 'reload banner shows the error');
    ok(/2 ok · 1 failed/.test(q('#reload-counts').textContent), 'reload counts');

    var rows = qa('#cmd-table tr[data-cmd]');
    ok(rows.length === 14, '14 command rows (' + rows.length + ')');
    var calls = column('calls', function (td) { return parseInt(td.title.replace(/,/g, ''), 10); });
    ok(sorted(calls, -1, num), 'default sort: calls desc');
    ok(rows[0].dataset.cmd === 'GET', 'GET first by calls');
    ok(column('qps', function (td) { return unfmt(td.textContent); }).every(function (v) { return v >= 0; }), 'per-command QPS computed');

    click('opstr');
    ok(sorted(column('opstr', function (td) { return td.textContent; }), 1, str), 'click Command: name asc');
    click('opstr');
    ok(sorted(column('opstr', function (td) { return td.textContent; }), -1, str), 'click again: name desc');
    click('usecs_percall');
    ok(sorted(column('usecs_percall', function (td) { return unfmt(td.textContent); }), -1, num) &&
       q('#cmd-table tr').dataset.cmd === 'EVALSHA', 'click Mean: desc, EVALSHA first');
    click('p99_usecs');
    ok(sorted(column('p99_usecs', function (td) { return unfmt(td.textContent); }), -1, num), 'click p99: desc');
    click('redis_errtype');
    ok(sorted(column('redis_errtype', function (td) { return unfmt(td.textContent); }), -1, num), 'click Redis err: desc');
    click('qps');
    ok(q('#cmd-table tr').dataset.cmd === 'GET', 'click QPS: GET first');
    ok(/▼/.test(qa('#cmd-table-wrap th')[col('qps')].textContent), 'sort arrow on the sorted column');
    click('calls');

    var cells = qa('#slot-map > *');
    ok(cells.length === 1024, '1024 slot cells');
    ok(cells.every(function (c, i) { return c.dataset.slot === String(i); }), 'cells in slot order with data-slot');
    var cnt = {};
    cells.forEach(function (c) { cnt[c.dataset.group] = (cnt[c.dataset.group] || 0) + 1; });
    ok(cnt[1] === 256 && cnt[2] === 244 && cnt[3] === 268 && cnt[4] === 192 && cnt[0] === 64, 'slot groups ' + JSON.stringify(cnt));
    ok(qa('#slot-map .m').length === 12 && qa('#slot-map .l').length === 1, 'migrating and locked marked');
    ok(getComputedStyle(cells[0]).backgroundColor !== getComputedStyle(cells[300]).backgroundColor &&
       getComputedStyle(cells[0]).backgroundColor === getComputedStyle(cells[255]).backgroundColor, 'colour per group');
    ok(qa('#slot-legend .it').length === 7, 'legend: 4 groups + unassigned + migrating + locked');

    var r = cells[7].getBoundingClientRect();
    cells[7].dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: r.left + 2, clientY: r.top + 2 }));
    var tip = q('#tip');
    ok(tip.style.display === 'block' && /Slot 7/.test(tip.textContent) && /10\.0\.1\.11:6379/.test(tip.textContent) &&
       /locked/.test(tip.textContent), 'hover slot 7: ' + tip.textContent);
    r = cells[505].getBoundingClientRect();
    cells[505].dispatchEvent(new MouseEvent('mousemove', { bubbles: true, clientX: r.left + 2, clientY: r.top + 2 }));
    ok(/migrating from 10\.0\.1\.12:6379/.test(tip.textContent), 'hover slot 505 shows migration');
    q('#slot-map').dispatchEvent(new MouseEvent('mouseleave'));
    ok(tip.style.display === 'none', 'tooltip hides');

    var it = q('#slot-legend .it');
    it.dispatchEvent(new MouseEvent('mouseenter'));
    ok(getComputedStyle(cells[300]).opacity < 0.5 && getComputedStyle(cells[0]).opacity === '1', 'legend hover focuses a group');
    it.dispatchEvent(new MouseEvent('mouseleave'));
    ok(getComputedStyle(cells[300]).opacity === '1', 'legend leave unfocuses');

    var wr = qa('#workers-table tr');
    ok(wr.length === 5, '5 worker rows (' + wr.length + ')');
    ok(wr.some(function (tr) { return /draining/.test(tr.textContent) && /old/.test(tr.textContent); }), 'draining old-generation worker shown');
    var br = qa('#backends-table tr');
    ok(br.length === 4 && br.filter(function (tr) { return /down/.test(tr.textContent); }).length === 1, '4 backends, 1 down');

    var cv = q('#chart'), ctx = cv.getContext('2d'), d = ctx.getImageData(0, 0, cv.width, cv.height).data, painted = 0;
    for (var i = 3; i < d.length; i += 4) if (d[i]) painted++;
    ok(painted > 2000, 'chart drawn (' + painted + ' px)');

    ok(!qa('script[src],link[href],img[src]').some(function (e) { return !/selftest/.test(e.src || e.href); }), 'no external resources');
    ok(errors.length === 0, 'no script errors ' + errors.join('; '));

    var failed = res.filter(function (l) { return /^not ok/.test(l); }).length;
    var pre = document.createElement('pre');
    pre.id = 'selftest';
    pre.dataset.result = failed ? 'fail' : 'pass';
    pre.textContent = res.join('\n') + '\n';
    document.body.appendChild(pre);
  }

  var tries = 0;
  function wait() {
    tries++;
    var ready = document.querySelectorAll('#cmd-table tr[data-cmd]').length > 0 &&
      document.querySelector('#slot-legend .it') && document.querySelectorAll('#workers-table tr[data-key]').length > 0 &&
      /^[0-9]+$/.test((document.getElementById('qps') || {}).textContent || '');
    /* three samples, so per-command QPS has deltas */
    if (ready && tries > 3) {
      try { run(); } catch (e) { errors.push('selftest: ' + e); var p = document.createElement('pre'); p.id = 'selftest'; p.dataset.result = 'fail'; p.textContent = 'not ok - ' + errors.join('; '); document.body.appendChild(p); }
      return;
    }
    if (tries > 60) {
      var p = document.createElement('pre'); p.id = 'selftest'; p.dataset.result = 'fail';
      p.textContent = 'not ok - page never got ready; errors: ' + errors.join('; '); document.body.appendChild(p);
      return;
    }
    setTimeout(wait, 1000);
  }
  document.addEventListener('DOMContentLoaded', function () { setTimeout(wait, 1000); });
})();
