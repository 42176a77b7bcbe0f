// @ts-check
/**
 * The demo page: a plain ES module over @ssehub/client (mapped to the served build by the page's
 * import map). Type-checked by `tsc` through JSDoc against the demo's event map.
 *
 * @typedef {import('../src/events.js').DemoEvents} DemoEvents
 * @typedef {import('../src/events.js').DemoConfig} DemoConfig
 * @typedef {import('../src/events.js').Standing} Standing
 * @typedef {import('@ssehub/client').SSEClient<DemoEvents>} Client
 * @typedef {import('@ssehub/client').ClientStatus} ClientStatus
 * @typedef {import('@ssehub/client').ClientTransport} ClientTransport
 * @typedef {import('@ssehub/client').EventMeta} EventMeta
 */
import { SSEClient, streamUrl } from '@ssehub/client';

// ---------------------------------------------------------------- DOM helpers

/**
 * @template {HTMLElement} [T=HTMLElement]
 * @param {string} testid
 * @returns {T}
 */
function $(testid) {
  const element = document.querySelector(`[data-testid="${testid}"]`);
  if (!element) throw new Error(`missing element ${testid}`);
  return /** @type {T} */ (element);
}

/**
 * @param {string} tag
 * @param {string} [className]
 * @param {string} [text]
 */
function el(tag, className, text) {
  const element = document.createElement(tag);
  if (className) element.className = className;
  if (text !== undefined) element.textContent = text;
  return element;
}

/** @param {number} [at] */
const clock = (at = Date.now()) => new Date(at).toLocaleTimeString([], { hour12: false });

/** @param {unknown} value */
const isObject = (value) => value !== null && typeof value === 'object';

/**
 * @param {unknown} data
 * @param {string} key
 */
const field = (data, key) =>
  isObject(data) ? /** @type {Record<string, unknown>} */ (data)[key] : undefined;

/** @param {unknown} data */
const preview = (data) => (typeof data === 'string' ? data : JSON.stringify(data));

/**
 * @param {string} url
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
async function call(url, body) {
  const response = await fetch(
    url,
    body === undefined
      ? { method: 'POST' }
      : {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body),
        },
  );
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(answer.message ?? answer.error ?? `HTTP ${response.status}`);
  return answer;
}

// ---------------------------------------------------------------- state

const identityForm = /** @type {HTMLFormElement} */ ($('identity-form'));
const groupInput = $(/** @type {const} */ ('group-input'));
const sendForm = /** @type {HTMLFormElement} */ ($('send-form'));

/** @type {DemoConfig} */
let config = { base: '/api/v1/sse', tokenRequired: false, publisherKey: false };
/** @type {Client | undefined} */
let client;
let me = { group: '', id: '' };
/** Connections opened by the current client: from the second on, replay is expected. */
let connections = 0;
/** Between a reconnection's `connected` and the server's `live` marker: events are replays. */
let replaying = false;
let replayedCount = 0;
let lastIdBeforeDrop = '';
/** The server could not replay (e.g. it restarted): a `reset` came instead. */
let historyGap = false;

const pageParams = new URLSearchParams(location.search);
/**
 * Shared mode by default: the tabs of this browser that show the same (group, id) share one
 * connection, so more than six tabs stay connected over HTTP/1.1. `?shared=0` turns it off.
 */
const shared = pageParams.get('shared') !== '0';
/** `?transport=fetch`: the token goes in an Authorization header instead of the URL. */
const transport = /** @type {ClientTransport} */ (
  pageParams.get('transport') === 'fetch' ? 'fetch' : 'eventsource'
);

// ---------------------------------------------------------------- connection

/** @param {ClientStatus} status */
function showStatus(status) {
  const badge = $('status');
  const label = status === 'open' ? 'connected' : status;
  badge.dataset.status = label;
  badge.textContent = label;
  const role = client?.role ?? 'single';
  const roleBadge = $('role');
  roleBadge.dataset.role = role;
  roleBadge.textContent =
    role === 'leader'
      ? 'shared: this tab holds the connection'
      : role === 'follower'
        ? "shared: via another tab's connection"
        : 'own connection';
}

/** @param {string} message */
function notice(message) {
  const box = $('notice');
  box.textContent = message;
  box.hidden = message === '';
}

async function connect() {
  const data = new FormData(identityForm);
  const group = String(data.get('group') ?? '').trim();
  const id = String(data.get('id') ?? '').trim();
  if (!group || !id) return;
  client?.close();
  me = { group, id };
  connections = 0;
  replaying = false;
  const query = new URLSearchParams(pageParams);
  query.set('group', group);
  query.set('id', id);
  history.replaceState(null, '', `?${query}`);
  resetPanels();

  notice(
    config.tokenRequired
      ? 'SSE_SECRET is set: this page gets its stream tokens from the demo-only POST /demo/token.'
      : '',
  );

  /** @type {Client} */
  const next = new SSEClient(streamUrl(config.base, { group, id }), {
    shared,
    transport,
    // A token source, not a token: the server ends a stream when its token expires, and the
    // client then fetches a fresh one and resumes from the last event id.
    // Demo only: a real app hands tokens to users it has authenticated.
    getToken: config.tokenRequired
      ? async () => (await call('/demo/token', { group, id })).token
      : undefined,
    onError: (error) =>
      notice(`Could not get a token: ${error instanceof Error ? error.message : error}`),
  });
  client = next;
  showStatus(next.status);
  next.onStatus((status) => {
    if (client !== next) return;
    if (status === 'reconnecting' && !replaying) lastIdBeforeDrop = next.lastEventId;
    showStatus(status);
  });

  next.on('connected', (info, meta) => {
    connections++;
    replaying = connections > 1;
    replayedCount = 0;
    historyGap = false;
    log(meta, info, connections > 1 ? 'reconnected: replay follows' : 'connected');
  });
  next.on('live', (_data, meta) => {
    if (replaying) {
      replaying = false;
      const summary = $('replay-summary');
      summary.hidden = false;
      const after = lastIdBeforeDrop ? `event #${lastIdBeforeDrop.split('-').pop()}` : 'the start';
      summary.textContent = historyGap
        ? `Reconnected, but the server no longer has ${after} (it restarted, or its history moved on): the page refetched its state.`
        : replayedCount === 0
          ? `Reconnected: nothing was missed after ${after}.`
          : `Reconnected: ${replayedCount} event${replayedCount === 1 ? '' : 's'} sent after ${after} while this page was away, replayed from the server's history (Last-Event-ID).`;
      summary.dataset.count = String(replayedCount);
    }
    log(meta, undefined, 'live from here');
    refreshPresence();
  });
  next.onReset((data, meta) => {
    historyGap = true;
    log(meta, data, 'history gap: state refetched');
    refreshPresence();
  });

  next.on('notification', (data, meta) => {
    log(meta, data);
    addFeed(
      'notification',
      String(field(data, 'title') ?? 'Notification'),
      field(data, 'content') ?? data,
      meta,
    );
  });
  next.on('system', (data, meta) => {
    log(meta, data);
    addFeed('system', 'System', field(data, 'message') ?? data, meta);
  });
  next.on('message', (data, meta) => {
    log(meta, data);
    addFeed('message', 'Message', data, meta);
  });
  next.on('task_progress', (data, meta) => {
    log(meta, data);
    showProgress(data);
  });
  next.on('rank_update', (data, meta) => {
    log(meta, data);
    showRanking(data);
  });
  next.on('challenge_update', (data, meta) => {
    log(meta, data);
    const ticker = $('challenge-ticker');
    ticker.textContent = `Round ${field(data, 'round') ?? '?'}: ${field(data, 'message') ?? preview(data)}`;
  });
  // The hub's presence events: a client's first connection opened, its last one closed.
  next.on('join', (data, meta) => {
    log(meta, data);
    const who = field(data, 'id');
    if (typeof who === 'string' && field(data, 'group') === me.group) presence.add(who);
    showPresence();
  });
  next.on('leave', (data, meta) => {
    log(meta, data);
    const who = field(data, 'id');
    if (typeof who === 'string' && field(data, 'group') === me.group) presence.delete(who);
    showPresence();
  });
}

// ---------------------------------------------------------------- panels

function resetPanels() {
  $('notifications').replaceChildren(
    el('li', 'empty', 'Nothing yet. Send yourself one from the send panel.'),
  );
  $('log').replaceChildren();
  $('leaderboard').replaceChildren();
  $('challenge-ticker').textContent = /^challenge_/.test(me.group)
    ? 'Waiting for the next round…'
    : 'Join a challenge_… group to play.';
  $('replay-summary').hidden = true;
  presence.clear();
  $('presence-group').textContent = me.group;
  showPresence();
  showProgress({ taskId: '', percent: 0, step: 'No task yet', done: false });
}

const QUIET_IDS = new Set(['connected', 'live']);
/** What the hub writes itself on a (re)connection: never a replay. */
const NOT_REPLAYS = new Set(['connected', 'reset', 'live']);

/**
 * @param {EventMeta} meta
 * @param {unknown} data
 * @param {string} [note]
 */
function log(meta, data, note) {
  const replayed = replaying && !NOT_REPLAYS.has(meta.type);
  if (replayed) replayedCount++;
  const row = el('li', `log-row type-${meta.type}${replayed ? ' replayed' : ''}`);
  row.dataset.type = meta.type;
  row.dataset.replayed = String(replayed);
  row.dataset.id = meta.id;
  row.dataset.at = String(Date.now());
  row.append(
    el('time', 'log-time', clock()),
    el('span', 'log-type', meta.type),
    // `connected` and `live` carry no id (meta.id repeats the last one): show none.
    el(
      'span',
      'log-id',
      meta.id && !QUIET_IDS.has(meta.type) ? `#${meta.id.split('-').pop()}` : '',
    ),
    el('code', 'log-data', note ?? preview(data)),
  );
  row.title = meta.id ? `id ${meta.id}` : '';
  if (replayed) row.append(el('span', 'tag', 'replayed'));
  const list = $('log');
  list.prepend(row);
  while (list.children.length > 150) list.lastElementChild?.remove();
}

/**
 * @param {string} kind
 * @param {string} title
 * @param {unknown} content
 * @param {EventMeta} meta
 */
function addFeed(kind, title, content, meta) {
  const list = $('notifications');
  list.querySelector('.empty')?.remove();
  const item = el('li', `feed-item ${kind}${replaying ? ' replayed' : ''}`);
  item.dataset.type = meta.type;
  const head = el('div', 'feed-head');
  head.append(el('strong', '', title), el('time', '', clock()));
  if (replaying) head.append(el('span', 'tag', 'replayed'));
  item.append(head, el('p', '', preview(content)));
  list.prepend(item);
  while (list.children.length > 30) list.lastElementChild?.remove();
}

/** @param {unknown} data */
function showProgress(data) {
  const raw = Number(field(data, 'percent'));
  const percent = Number.isFinite(raw) ? Math.max(0, Math.min(100, raw)) : 0;
  const bar = $('progress');
  bar.setAttribute('aria-valuenow', String(percent));
  bar.dataset.done = String(percent >= 100);
  const fill = /** @type {HTMLElement} */ (bar.firstElementChild);
  fill.style.width = `${percent}%`;
  $('progress-text').textContent = `${percent} %`;
  const taskId = field(data, 'taskId');
  const step = field(data, 'step');
  $('task-label').textContent = taskId ? `${taskId}: ${step ?? ''}` : String(step ?? '');
}

/** @param {unknown} data */
function showRanking(data) {
  const ranking = field(data, 'ranking');
  if (!Array.isArray(ranking)) return;
  const rows = /** @type {Standing[]} */ (ranking)
    .slice(0, 8)
    .map((standing) => {
      const row = el('tr', standing.id === me.id ? 'me' : '');
      row.dataset.player = String(standing.id);
      const name = el('td', 'player');
      name.append(
        el('span', `dot ${standing.online ? 'on' : 'off'}`),
        document.createTextNode(String(standing.id)),
      );
      if (standing.bot) name.append(el('span', 'tag subtle', 'bot'));
      if (standing.id === me.id) name.append(el('span', 'tag', 'you'));
      row.append(
        el('td', 'rank', String(standing.rank)),
        name,
        el('td', 'num', String(standing.score)),
      );
      return row;
    });
  $('leaderboard').replaceChildren(...rows);
}

/** Ids online in my group. */
const presence = new Set();

function showPresence() {
  const chips = [...presence].sort().map((id) => {
    const chip = el('li', id === me.id ? 'chip me' : 'chip', id);
    chip.dataset.user = id;
    return chip;
  });
  $('presence').replaceChildren(...(chips.length ? chips : [el('li', 'empty', 'nobody')]));
}

async function refreshPresence() {
  const group = me.group;
  try {
    // The hub's presence route (GET {base}/presence/:group), through the demo's admin proxy.
    const response = await fetch(`/demo/admin/presence/${encodeURIComponent(group)}`);
    const answer = await response.json();
    const clients = answer?.data?.clients;
    if (group !== me.group || !Array.isArray(clients)) return;
    presence.clear();
    for (const client of clients) presence.add(client.id);
    showPresence();
  } catch {
    // The next join / leave fixes the list.
  }
}

// ---------------------------------------------------------------- send panel

const PAYLOADS = /** @type {Record<string, unknown>} */ ({
  notification: { title: 'Hello', content: 'A message for you', level: 'info' },
  system: { message: 'Maintenance at 02:00 UTC', level: 'maintenance' },
  challenge_update: {
    challenge: 'challenge_42',
    round: 0,
    solver: 'admin',
    points: 0,
    solves: 0,
    message: 'Challenge paused',
  },
  rank_update: {
    challenge: 'challenge_42',
    ranking: [{ id: 'alice', score: 100, rank: 1, online: true, bot: false }],
  },
  task_progress: { taskId: 'manual', percent: 50, step: 'Halfway', done: false },
  join: { group: 'challenge_42', id: 'someone' },
  leave: { group: 'challenge_42', id: 'someone' },
  '': 'plain text or any JSON',
});

const sendEvent = /** @type {HTMLSelectElement} */ ($('send-event'));
const sendData = /** @type {HTMLTextAreaElement} */ ($('send-data'));
const sendGroup = /** @type {HTMLInputElement} */ ($('send-group'));
const sendId = /** @type {HTMLInputElement} */ ($('send-id'));

function updateSendFields() {
  const mode = new FormData(sendForm).get('mode');
  sendGroup.disabled = mode === 'broadcast';
  sendId.disabled = mode !== 'unicast';
}

sendEvent.addEventListener('change', () => {
  sendData.value = JSON.stringify(PAYLOADS[sendEvent.value] ?? {}, null, 2);
});
sendForm.addEventListener('change', updateSendFields);
sendForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(sendForm);
  const mode = form.get('mode');
  const result = $('send-result');
  let data;
  try {
    data = JSON.parse(sendData.value);
  } catch {
    result.textContent = 'The payload is not valid JSON.';
    result.dataset.state = 'error';
    return;
  }
  /** @type {Record<string, unknown>} */
  const body = { data };
  if (sendEvent.value) body.event = sendEvent.value;
  if (mode !== 'broadcast') body.group = sendGroup.value.trim();
  if (mode === 'unicast') body.id = sendId.value.trim();
  try {
    const answer = await call('/demo/admin/publish', body);
    const delivered = answer.data?.delivered ?? 0;
    result.textContent = `${mode}: delivered to ${delivered} connection${delivered === 1 ? '' : 's'}`;
    result.dataset.state = 'ok';
  } catch (error) {
    result.textContent = `Failed: ${error instanceof Error ? error.message : error}`;
    result.dataset.state = 'error';
  }
});

// ---------------------------------------------------------------- task and kick

$('start-task').addEventListener('click', async () => {
  showProgress({ taskId: '', percent: 0, step: 'Starting…', done: false });
  try {
    await call('/demo/task', me);
  } catch (error) {
    $('task-label').textContent = `Failed: ${error instanceof Error ? error.message : error}`;
  }
});

$('kick').addEventListener('click', async () => {
  try {
    await call(
      `/demo/admin/disconnect/${encodeURIComponent(me.group)}/${encodeURIComponent(me.id)}`,
    );
  } catch (error) {
    notice(`Disconnect failed: ${error instanceof Error ? error.message : error}`);
  }
});

// ---------------------------------------------------------------- stats

/** Events per second over the last 60 polls. */
const rates = /** @type {number[]} */ ([]);
/** @type {{ at: number, sent: number, delivered: number } | undefined} */
let previous;

async function pollStats() {
  try {
    const response = await fetch('/demo/admin/info');
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    const info = (await response.json()).data;
    const now = performance.now();
    $('stat-clients').textContent = String(info.clientCount);
    $('stat-groups').textContent = String(info.groupCount);
    $('stat-connections').textContent = String(info.connectionCount);
    $('stat-replayed').textContent = String(info.counters.eventsReplayed);
    const sample = {
      at: now,
      sent: info.counters.eventsSent,
      delivered: info.counters.eventsDelivered,
    };
    if (previous) {
      const seconds = Math.max(0.001, (now - previous.at) / 1000);
      const rate = (sample.sent - previous.sent) / seconds;
      rates.push(rate);
      if (rates.length > 60) rates.shift();
      $('stat-rate').textContent = rate.toFixed(1);
      $('stat-delivered').textContent = ((sample.delivered - previous.delivered) / seconds).toFixed(
        1,
      );
      $('stat-peak').textContent = Math.max(...rates).toFixed(1);
      drawChart();
    }
    previous = sample;
  } catch {
    $('stat-rate').textContent = '–';
  }
}

function drawChart() {
  const chart = $('chart');
  const width = 300;
  const height = 90;
  const top = Math.max(4, ...rates) * 1.15;
  // Left to right as samples come in; squeezed once more than 20 seconds are shown.
  const step = width / (Math.max(rates.length, 20) - 1);
  const points = rates.map(
    (rate, i) => `${(i * step).toFixed(1)},${(height - (rate / top) * (height - 4)).toFixed(1)}`,
  );
  const [area, line] = chart.querySelectorAll('polyline');
  line?.setAttribute('points', points.join(' '));
  const last = ((rates.length - 1) * step).toFixed(1);
  if (points.length)
    area?.setAttribute('points', `0,${height} ${points.join(' ')} ${last},${height}`);
  $('chart-top').textContent = `${Math.round(top)}/s`;
}

// ---------------------------------------------------------------- start

identityForm.addEventListener('submit', (event) => {
  event.preventDefault();
  void connect();
});

async function start() {
  try {
    config = await (await fetch('/demo/config')).json();
  } catch {
    notice('Could not reach the demo server.');
  }
  const idInput = /** @type {HTMLInputElement} */ ($('id-input'));
  /** @type {HTMLInputElement} */ (groupInput).value = pageParams.get('group') ?? 'challenge_42';
  idInput.value = pageParams.get('id') ?? `user-${Math.random().toString(36).slice(2, 6)}`;
  sendGroup.value = /** @type {HTMLInputElement} */ (groupInput).value;
  sendId.value = idInput.value;
  sendData.value = JSON.stringify(PAYLOADS.notification, null, 2);
  updateSendFields();
  for (const element of document.querySelectorAll('small')) {
    element.textContent = (element.textContent ?? '').replace('{base}', config.base);
  }
  await connect();
  void pollStats();
  setInterval(pollStats, 1000);
}

void start();
