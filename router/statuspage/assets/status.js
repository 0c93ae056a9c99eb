// cellpay status page: fetches status.json every REFRESH_MS and renders it.
// Every piece of data goes into the page through textContent or an
// attribute, never parsed as markup: names come from the cluster.
'use strict';

(function () {
  const REFRESH_MS = 2000;
  const FETCH_TIMEOUT_MS = 5000;
  const EVENTS_SHOWN_MAX = 50;
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const topologySites = readTopologySites();
  let previousSample = null; // {atMs, counters: Map cellId -> {ok, failed}}
  let lastStatusAtMs = 0;
  let refreshes = 0;

  // ---------- small helpers ----------

  function readTopologySites() {
    const node = document.getElementById('cellpay-sites');
    try {
      const list = JSON.parse(node ? node.textContent : '[]');
      return Array.isArray(list) ? list : [];
    } catch (e) {
      return [];
    }
  }

  // el builds an element with a class and text content.
  function el(tag, className, text) {
    const e = document.createElement(tag);
    if (className) e.className = className;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG_NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = String(text);
    return e;
  }

  // num reads a protojson number (64-bit integers arrive as strings).
  function num(v) {
    const n = Number(v);
    return Number.isFinite(n) ? n : 0;
  }

  function siteStateName(v) {
    // "SITE_DOWN" -> "down"; protojson may also give the enum's number.
    const names = ['unknown', 'healthy', 'suspect', 'down', 'drained'];
    if (typeof v === 'number') return names[v] || 'unknown';
    const s = String(v || '').replace(/^SITE_/, '').toLowerCase();
    return names.includes(s) ? s : 'unknown';
  }

  function pad(n, w) {
    return String(n).padStart(w, '0');
  }

  function clock(ms) {
    if (!ms) return '—';
    const d = new Date(ms);
    return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2);
  }

  function clockMs(ms) {
    return clock(ms) + '.' + pad(new Date(ms).getMilliseconds(), 3);
  }

  function ago(ms, nowMs) {
    const s = Math.max(0, Math.round((nowMs - ms) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.floor(s / 60) + ' min ago';
    return Math.floor(s / 3600) + ' h ago';
  }

  function duration(ms) {
    if (ms < 1000) return ms + ' ms';
    return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + ' s';
  }

  function rttText(us) {
    if (us <= 0) return '<0.1 ms';
    const ms = us / 1000;
    return (ms < 10 ? ms.toFixed(1) : ms.toFixed(0)) + ' ms';
  }

  function rate(v) {
    if (v === null || v === undefined) return '—';
    return v < 10 ? v.toFixed(1) : v.toFixed(0);
  }

  // ---------- rates ----------

  // computeRates turns the counters of two refreshes into per-second rates
  // per cell, timed by the router's clock (generated_at), not the browser's.
  function computeRates(st) {
    const atMs = num(st.generated_at_unix_ms);
    const counters = new Map();
    for (const c of st.cells || []) {
      counters.set(num(c.cell_id), { ok: num(c.requests_ok), failed: num(c.requests_failed) });
    }
    const rates = new Map();
    if (previousSample && atMs > previousSample.atMs) {
      const seconds = (atMs - previousSample.atMs) / 1000;
      for (const [id, now] of counters) {
        const before = previousSample.counters.get(id);
        // A counter that went down is a restarted router: no rate this time.
        if (before && now.ok >= before.ok && now.failed >= before.failed) {
          rates.set(id, { ok: (now.ok - before.ok) / seconds, failed: (now.failed - before.failed) / seconds });
        }
      }
    }
    previousSample = { atMs, counters };
    return rates;
  }

  // ---------- model ----------

  // siteModel joins what the status says about each site.
  function siteModel(st) {
    const states = new Map();
    for (const r of st.site_states || []) states.set(r.site, { state: siteStateName(r.state), reason: r.reason || '', since: num(r.since_unix_ms) });
    const metaAnswered = (st.site_states || []).length > 0 || (st.events || []).length > 0;
    const reach = new Map();
    for (const h of st.sites || []) reach.set(h.target_site, h);
    const order = [];
    const region = new Map();
    for (const s of topologySites) {
      if (!region.has(s.id)) order.push(s.id);
      region.set(s.id, s.region || '');
    }
    const extra = [];
    for (const h of st.sites || []) extra.push(h.target_site);
    for (const r of st.site_states || []) extra.push(r.site);
    for (const c of st.cells || []) extra.push(c.home_site);
    for (const id of extra) {
      if (id && !region.has(id)) {
        order.push(id);
        region.set(id, '');
      }
    }
    const nodes = new Map();
    for (const m of st.members || []) {
      if (m.kind !== 'node') continue;
      const n = nodes.get(m.site) || { alive: 0, all: 0 };
      n.all++;
      if (m.state === 'alive') n.alive++;
      nodes.set(m.site, n);
    }
    const leads = new Map();
    const homes = new Map();
    for (const c of st.cells || []) {
      homes.set(c.home_site, (homes.get(c.home_site) || 0) + 1);
      if (c.acting_site) leads.set(c.acting_site, (leads.get(c.acting_site) || 0) + 1);
    }
    return order.map((id) => {
      const rec = states.get(id);
      return {
        id,
        region: region.get(id),
        state: rec ? rec.state : (metaAnswered ? 'healthy' : 'unknown'),
        reason: rec ? rec.reason : '',
        reach: reach.get(id) || null,
        nodes: nodes.get(id) || { alive: 0, all: 0 },
        leads: leads.get(id) || 0,
        homes: homes.get(id) || 0,
      };
    });
  }

  function placement(c) {
    if (!c.leader_node_id || !c.acting_site) return 'none';
    return c.acting_site === c.home_site ? 'home' : 'away';
  }

  // ---------- rendering ----------

  function renderTiles(st, sites, rates) {
    const box = document.getElementById('tiles');
    const cells = st.cells || [];
    let ok = 0;
    let failed = 0;
    let haveRates = false;
    for (const r of rates.values()) {
      ok += r.ok;
      failed += r.failed;
      haveRates = true;
    }
    const counts = { home: 0, away: 0, none: 0 };
    let unresolved = 0;
    for (const c of cells) {
      counts[placement(c)]++;
      unresolved += num(c.unresolved_payouts);
    }
    const notHealthy = sites.filter((s) => s.state !== 'healthy' && s.state !== 'unknown');
    const tiles = [
      { label: 'requests ok', value: haveRates ? rate(ok) : '—', unit: '/s', sub: 'through this router', tone: 'neutral' },
      { label: 'requests failed', value: haveRates ? rate(failed) : '—', unit: '/s', sub: 'answered with an error', tone: failed > 0 ? 'bad' : 'neutral' },
      { label: 'cells at home', value: counts.home + ' / ' + cells.length, unit: '', sub: 'leader in its home site', tone: counts.home === cells.length ? 'good' : 'neutral' },
      { label: 'acting elsewhere', value: String(counts.away), unit: '', sub: counts.none ? counts.none + ' without a leader' : 'failed over or moved', tone: counts.none ? 'bad' : (counts.away ? 'warn' : 'neutral') },
      { label: 'sites', value: (sites.length - notHealthy.length) + ' / ' + sites.length, unit: 'healthy', sub: notHealthy.length ? notHealthy.map((s) => s.id + ' ' + s.state).join(', ') : 'no site suspect, down or drained', tone: notHealthy.some((s) => s.state === 'down') ? 'bad' : (notHealthy.length ? 'warn' : 'good') },
      { label: 'unresolved payouts', value: String(unresolved), unit: '', sub: 'past the alert age', tone: unresolved ? 'bad' : 'neutral' },
    ];
    const out = [];
    for (const t of tiles) {
      const tile = el('div', 'tile tone-' + t.tone);
      tile.append(el('div', 'tile-label', t.label));
      const v = el('div', 'tile-value', t.value);
      if (t.unit) v.append(el('span', 'tile-unit', t.unit));
      tile.append(v, el('div', 'tile-sub', t.sub));
      out.push(tile);
    }
    box.replaceChildren(...out);
  }

  // renderSiteMap draws each region as a column of site boxes, and a link
  // from this router's site to every other site with what the router
  // measures there (reachability, median round-trip time).
  function renderSiteMap(st, sites) {
    const box = document.getElementById('site-map');
    const regions = [];
    const byRegion = new Map();
    for (const s of sites) {
      let g = byRegion.get(s.region);
      if (!g) {
        g = { name: s.region, sites: [] };
        byRegion.set(s.region, g);
        regions.push(g);
      }
      g.sites.push(s);
    }
    const boxW = 168;
    const boxH = 92;
    const colW = 184;
    const gap = 72; // between regions: room for a link and its label
    const margin = 8;
    const headH = 40;
    const rowGap = 60; // room for a link's label between two boxes
    const rowH = boxH + rowGap;
    const rows = Math.max(1, ...regions.map((g) => g.sites.length));
    const width = 2 * margin + Math.max(1, regions.length) * (colW + gap) - gap;
    const height = headH + (rows - 1) * rowH + boxH + 18;
    const root = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, width: '100%', role: 'img', 'aria-label': 'map of the sites by region' });
    root.style.maxWidth = width + 'px';
    const pos = new Map(); // site -> box {x, y, cx, cy, column, row}
    regions.forEach((g, i) => {
      const x0 = margin + i * (colW + gap);
      root.append(svg('rect', { x: x0, y: 8, width: colW, height: height - 16, rx: 14, class: 'region' }));
      root.append(svg('text', { x: x0 + 14, y: 30, class: 'region-name' }, (g.name || 'no region').toUpperCase()));
      const top = headH + (rows - g.sites.length) * rowH / 2;
      g.sites.forEach((s, j) => {
        const x = x0 + (colW - boxW) / 2;
        const y = top + j * rowH;
        pos.set(s.id, { x, y, cx: x + boxW / 2, cy: y + boxH / 2, column: i, row: j });
      });
    });

    // edge is where the segment from a's center towards b's leaves a's box.
    const edge = (a, b, margin) => {
      const dx = b.cx - a.cx;
      const dy = b.cy - a.cy;
      const t = Math.min(dx ? (boxW / 2 + margin) / Math.abs(dx) : Infinity, dy ? (boxH / 2 + margin) / Math.abs(dy) : Infinity);
      return { x: a.cx + dx * t, y: a.cy + dy * t };
    };
    const observer = st.router_site;
    const from = pos.get(observer);
    const links = svg('g', { class: 'links' });
    const labels = svg('g', { class: 'link-labels' });
    if (from) {
      for (const s of sites) {
        const to = pos.get(s.id);
        if (!to || s.id === observer) continue;
        const h = s.reach;
        const kind = !h || !num(h.probed_at_unix_ms) ? 'unprobed' : (h.reachable ? 'reachable' : 'unreachable');
        let d;
        let mx;
        let my;
        if (to.column === from.column && Math.abs(to.row - from.row) > 1) {
          // A straight link would cross the boxes between: go round them.
          const side = from.x - 6;
          const bend = side - 34;
          d = 'M' + side + ' ' + from.cy + ' Q' + bend + ' ' + ((from.cy + to.cy) / 2) + ' ' + side + ' ' + to.cy;
          mx = (side + bend) / 2 + 18;
          my = (from.cy + to.cy) / 2;
        } else {
          const p1 = edge(from, to, 4);
          const p2 = edge(to, from, 4);
          d = 'M' + p1.x + ' ' + p1.y + ' L' + p2.x + ' ' + p2.y;
          mx = (p1.x + p2.x) / 2;
          my = (p1.y + p2.y) / 2;
        }
        links.append(svg('path', { d, class: 'link ' + kind, 'data-target': s.id }));
        const text = kind === 'reachable' ? rttText(num(h.rtt_us)) : (kind === 'unreachable' ? 'unreachable' : 'probing');
        const w = text.length * 7.6 + 16;
        const label = svg('g', { class: 'link-label ' + kind });
        label.append(svg('rect', { x: mx - w / 2, y: my - 11, width: w, height: 22, rx: 11 }));
        label.append(svg('text', { x: mx, y: my + 4.5, 'text-anchor': 'middle' }, text));
        labels.append(label);
      }
    }
    root.append(links, labels);

    for (const s of sites) {
      const p = pos.get(s.id);
      if (!p) continue;
      const g = svg('g', { class: 'site ' + s.state, 'data-site': s.id, 'data-state': s.state, 'data-region': s.region });
      g.append(svg('title', {}, s.id + ': ' + s.state + (s.reason ? ' (' + s.reason + ')' : '')));
      g.append(svg('rect', { x: p.x, y: p.y, width: boxW, height: boxH, rx: 10, class: 'site-box' }));
      const left = p.x + 12;
      g.append(svg('text', { x: left, y: p.y + 25, class: 'site-name' }, s.id));
      g.append(svg('text', { x: p.x + boxW - 12, y: p.y + 25, 'text-anchor': 'end', class: 'site-state' }, s.state));
      g.append(svg('text', { x: left, y: p.y + 47, class: 'site-detail' }, 'leads ' + s.leads + ' · home of ' + s.homes));
      g.append(svg('text', { x: left, y: p.y + 65, class: 'site-detail' }, s.nodes.all ? s.nodes.alive + ' of ' + s.nodes.all + ' nodes alive' : 'no nodes seen'));
      if (s.id === observer) {
        const self = s.reach && num(s.reach.probed_at_unix_ms) ? (s.reach.reachable ? ' · ' + rttText(num(s.reach.rtt_us)) : ' · nodes unreachable') : '';
        g.append(svg('text', { x: left, y: p.y + 83, class: 'observer-label' }, 'this router' + self));
      }
      root.append(g);
    }
    box.replaceChildren(root);
    document.getElementById('sites-sub').textContent = observer ? 'as seen from ' + (st.router_id || 'this router') + ' in ' + observer : '';
  }

  function renderCells(st, rates) {
    const box = document.getElementById('cells');
    const cells = (st.cells || []).slice().sort((a, b) => num(a.cell_id) - num(b.cell_id));
    const cards = [];
    for (const c of cells) {
      const id = num(c.cell_id);
      const where = placement(c);
      const card = el('article', 'cell ' + where);
      card.dataset.cellId = String(id);
      card.dataset.home = c.home_site || '';
      card.dataset.acting = c.acting_site || '';
      card.dataset.leader = c.leader_node_id || '';
      card.dataset.placement = where;

      const head = el('div', 'cell-head');
      head.append(el('span', 'cell-name', 'cell ' + id));
      const badge = { home: 'at home', away: 'acting in ' + c.acting_site, none: 'no leader' }[where];
      head.append(el('span', 'badge ' + where, badge));
      card.append(head);

      const route = el('div', 'cell-route');
      route.append('home ', el('b', '', c.home_site || '?'));
      if (where === 'away') route.append(' → acting ', el('b', '', c.acting_site));
      card.append(route);
      card.append(el('div', 'cell-leader', c.leader_node_id ? 'leader ' + c.leader_node_id + ' · term ' + num(c.term) : 'leader unknown · term ' + num(c.term)));

      const list = el('ul', 'replicas');
      for (const r of c.replicas || []) {
        const lag = num(r.lag);
        const state = !r.reachable ? 'down' : (lag > 0 ? 'lag' : 'ok');
        const li = el('li', 'replica ' + state);
        li.dataset.node = r.node_id || '';
        li.append(el('span', 'dot ' + state));
        li.append(el('span', 'replica-node', r.node_id));
        let what;
        if (!r.reachable) what = 'unreachable';
        else if (r.leader) what = '★ leader';
        else what = lag > 0 ? lag + ' behind' : 'caught up';
        li.append(el('span', 'replica-state', what));
        list.append(li);
      }
      card.append(list);

      const r = rates.get(id);
      const rateLine = el('div', 'cell-rates');
      rateLine.append(el('span', 'rate-ok', (r ? rate(r.ok) : '—') + ' ok/s'));
      rateLine.append(el('span', 'rate-failed' + (r && r.failed > 0 ? ' bad' : ''), (r ? rate(r.failed) : '—') + ' failed/s'));
      card.append(rateLine);

      const unresolved = num(c.unresolved_payouts);
      if (unresolved > 0) {
        card.append(el('div', 'cell-alert', unresolved + ' payout' + (unresolved === 1 ? '' : 's') + ' unresolved since ' + clock(num(c.oldest_unresolved_payout_unix_ms))));
      }
      cards.push(card);
    }
    box.replaceChildren(...cards);
    const counts = { home: 0, away: 0, none: 0 };
    for (const c of cells) counts[placement(c)]++;
    document.getElementById('cells-sub').textContent = cells.length + ' cells · ' + counts.home + ' at home · ' + counts.away + ' acting elsewhere' + (counts.none ? ' · ' + counts.none + ' without a leader' : '');
  }

  // describeEvent gives an event's category (its color), a short title and
  // one line of what happened.
  function describeEvent(e) {
    const cell = num(e.cell_id);
    const ms = num(e.duration_ms);
    const reason = e.reason || '';
    switch (e.kind) {
      case 'site_state': {
        const state = siteStateName(e.state);
        return { tone: 'state-' + state, title: 'site ' + state, what: (e.site || '?') + ' is ' + state + (e.drill_id ? ' (drill ' + e.drill_id + ')' : ''), detail: reason };
      }
      case 'decision':
        return { tone: 'decision', title: 'decision', what: 'cell ' + cell + ': move ' + (e.from_node || '?') + ' → ' + (e.to_node || '?'), detail: reason };
      case 'leader_moved': {
        const tone = reason === 'failover' ? 'failover' : (reason === 'failback' ? 'failback' : 'moved');
        return { tone, title: reason === 'failover' || reason === 'failback' ? reason : 'leader moved', what: 'cell ' + cell + ': ' + (e.from_node || '?') + ' → ' + (e.to_node || '?') + ' in ' + duration(ms), detail: reason ? 'kind: ' + reason : '' };
      }
      case 'move_failed':
        return { tone: 'bad', title: 'move failed', what: 'cell ' + cell + ': ' + (e.from_node || '?') + ' → ' + (e.to_node || '?'), detail: reason };
      case 'first_write':
        return { tone: 'rto', title: 'first write', what: 'cell ' + cell + ' writes again via ' + (e.to_node || '?') + ' · RTO ' + duration(ms), detail: reason };
      case 'drill_started':
      case 'drill_finished': {
        const target = e.site ? 'site ' + e.site : (cell ? 'cell ' + cell : '');
        return { tone: 'drill', title: e.kind === 'drill_started' ? 'drill started' : 'drill finished', what: 'drill ' + (e.drill_id || '?') + (target ? ' on ' + target : ''), detail: reason };
      }
      case 'reconciled': {
        const clear = /all clear/.test(reason);
        return { tone: clear ? 'good' : 'bad', title: 'reconciled', what: clear ? 'all clear' : 'findings', detail: reason };
      }
      default:
        return { tone: 'other', title: e.kind || 'event', what: [e.site, cell ? 'cell ' + cell : ''].filter(Boolean).join(' '), detail: reason };
    }
  }

  function renderEvents(st) {
    const body = document.getElementById('events');
    const events = (st.events || []).slice().sort((a, b) => num(b.seq) - num(a.seq) || num(b.at_unix_ms) - num(a.at_unix_ms)).slice(0, EVENTS_SHOWN_MAX);
    const now = num(st.generated_at_unix_ms);
    const rows = [];
    for (const e of events) {
      const d = describeEvent(e);
      const tr = el('tr', 'event tone-' + d.tone);
      tr.dataset.kind = e.kind || '';
      tr.dataset.site = e.site || '';
      tr.dataset.cellId = String(num(e.cell_id));
      if (e.kind === 'site_state') tr.dataset.state = siteStateName(e.state);
      if (e.kind === 'leader_moved') tr.dataset.moveKind = e.reason || '';
      const at = num(e.at_unix_ms);
      const time = el('td', 'c-time');
      time.append(el('span', 'ev-clock', at ? clockMs(at) : '—'));
      if (at && now) time.append(el('span', 'ev-ago', ago(at, now)));
      const kind = el('td', 'c-kind');
      kind.append(el('span', 'ev-kind', d.title));
      tr.append(time, kind, el('td', 'c-what', d.what), el('td', 'c-detail', d.detail));
      rows.push(tr);
    }
    body.replaceChildren(...rows);
    document.getElementById('events-empty').hidden = rows.length > 0;
  }

  function setConnection(ok, text) {
    const conn = document.getElementById('conn');
    conn.dataset.state = ok ? 'live' : 'stale';
    document.getElementById('conn-text').textContent = text;
    const banner = document.getElementById('banner');
    if (ok) {
      banner.hidden = true;
      banner.textContent = '';
    } else {
      banner.hidden = false;
      banner.textContent = 'Cannot refresh the status (' + text + ')' + (lastStatusAtMs ? '; showing what the router said at ' + clock(lastStatusAtMs) + '.' : '.');
    }
  }

  function render(st) {
    const rates = computeRates(st);
    const sites = siteModel(st);
    renderTiles(st, sites, rates);
    renderSiteMap(st, sites);
    renderCells(st, rates);
    renderEvents(st);
    lastStatusAtMs = num(st.generated_at_unix_ms);
  }

  async function fetchStatus() {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), FETCH_TIMEOUT_MS);
    try {
      const resp = await fetch('status.json', { cache: 'no-store', signal: controller.signal });
      if (!resp.ok) {
        let message = 'HTTP ' + resp.status;
        try {
          const body = await resp.json();
          if (body && body.error && body.error.message) message += ': ' + body.error.message;
        } catch (e) { /* not JSON: the status code says enough */ }
        throw new Error(message);
      }
      return await resp.json();
    } finally {
      clearTimeout(timer);
    }
  }

  // refresh runs one fetch at a time: the next starts REFRESH_MS after the
  // previous one ended, so a slow router is never asked twice at once.
  async function refresh() {
    try {
      const st = await fetchStatus();
      render(st);
      setConnection(true, 'live · router ' + (st.router_id || '?') + ' · updated ' + clock(num(st.generated_at_unix_ms)));
    } catch (e) {
      setConnection(false, e && e.name === 'AbortError' ? 'timed out' : String(e && e.message ? e.message : e));
    } finally {
      refreshes++;
      document.body.dataset.refreshes = String(refreshes);
      setTimeout(refresh, REFRESH_MS);
    }
  }

  refresh();
})();
