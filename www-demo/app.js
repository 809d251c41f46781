// The tim-wasm demo page: one TIM instance per tab, every SDK event in the log, the live state beside it,
// and the dev server's admin call for "Online Web Instances". `cargo xtask demo` serves this folder, the
// built package under /pkg/ and /config.json (where tim-server is, and the package's browser entry).

const $ = (id) => document.getElementById(id);

/** The page's view of the session: 'logged-out' | 'logging-in' | 'ready' | 'logging-out'. */
const view = { phase: 'logged-out', net: null, lastKick: null, seq: 0 };
let TIM = null;
let tim = null;
let config = null;
let adminSig = null;

main().catch((e) => {
  showBanner('error', e.message || String(e));
  document.body.dataset.phase = 'failed';
});

async function main() {
  config = await getJson('/config.json');
  $('server-url').textContent = config.serverUrl;
  $('sdkappid').textContent = String(config.SDKAppID);
  $('admin-id').textContent = config.admin;
  if (!config.sdkModule) {
    throw new Error('The SDK package is not built (pkg/ is empty): run `cargo xtask build`, then reload.');
  }
  ({ default: TIM } = await import(config.sdkModule));
  $('sdk-version').textContent = TIM.VERSION;
  tim = TIM.create({ SDKAppID: config.SDKAppID, serverUrl: config.serverUrl });
  for (const [key, value] of Object.entries(TIM.EVENT)) {
    tim.on(value, (event) => onEvent(key, event));
  }
  $('login-form').addEventListener('submit', (e) => { e.preventDefault(); login(); });
  $('logout').addEventListener('click', logout);
  $('owi-form').addEventListener('submit', (e) => { e.preventDefault(); applyOnlineWebInstances(); });
  $('rest-kick').addEventListener('click', restKick);
  $('chat-form').addEventListener('submit', (e) => { e.preventDefault(); chatSend(); });
  setInterval(() => document.visibilityState === 'visible' && instancesRefresh(), 4000);
  setInterval(() => document.visibilityState === 'visible' && kicksUser() && kicksRefresh(), 4000);
  $('log-clear').addEventListener('click', () => { $('log').replaceChildren(); render(); });
  // Another tab may change the setting: keep the shown value fresh while this tab is visible.
  const refresh = () => refreshOnlineWebInstances().catch(() => {});
  window.addEventListener('focus', refresh);
  document.addEventListener('visibilitychange', () => document.visibilityState === 'visible' && refresh());
  setInterval(() => document.visibilityState === 'visible' && refresh(), 4000);
  render();
  await refreshOnlineWebInstances().catch((e) => addLog('call', 'get_app_config', { error: e.message }, 'fail'));
  document.body.dataset.phase = 'ready';
}

// ---- SDK events -------------------------------------------------------------------------------------

function onEvent(key, event) {
  const data = event ? event.data : undefined;
  addLog('event', key, data, kindOf(key), event && event.name);
  switch (key) {
    case 'SDK_READY':
      view.phase = 'ready';
      hideBanner();
      instancesRefresh();
      kicksRefresh();
      break;
    case 'SDK_NOT_READY':
      view.phase = 'logged-out';
      instancesShow([]);
      break;
    case 'KICKED_OUT': {
      const type = data && data.type;
      view.lastKick = { type, at: new Date() };
      view.phase = 'logged-out';
      showBanner('kicked', kickExplanation(data || {}));
      kicksRefresh();
      break;
    }
    case 'NET_STATE_CHANGE':
      view.net = data && data.state;
      break;
    case 'MESSAGE_RECEIVED':
      for (const message of data || []) chatShow(message);
      break;
    default:
      break;
  }
  render();
}

function kindOf(key) {
  if (key === 'SDK_READY') return 'good';
  if (key === 'KICKED_OUT' || key === 'ERROR') return 'bad';
  if (key === 'NET_STATE_CHANGE') return 'info';
  return 'neutral';
}

/** What the platform names of `KICKED_OUT`'s `data.platform` mean. */
const PLATFORM_NAMES = {
  web: 'a web page',
  node: 'Node.js',
  wx: 'WeChat',
  qq: 'QQ',
  tt: 'ByteDance',
  swan: 'Baidu',
  my: 'Alipay',
};

function platformName(platform) {
  return `${PLATFORM_NAMES[platform] || 'another platform'} (${platform})`;
}

/** The banner text of a kick; a multi-instance kick names the login that took the slot (platform, time). */
function kickExplanation({ type, platform, time }) {
  if (platform && typeof time === 'number') {
    return `This tab was kicked out (${type}): signed out because this account signed in on ` +
      `${platformName(platform)} at ${clock(new Date(time))}.`;
  }
  const T = TIM.TYPES;
  const why = {
    [T.KICKED_OUT_MULT_ACCOUNT]: 'another tab or page logged in as this user, beyond the Online Web Instances limit',
    [T.KICKED_OUT_MULT_DEVICE]: 'a login on another device',
    [T.KICKED_OUT_USERSIG_EXPIRED]: 'the UserSig expired',
    [T.KICKED_OUT_REST_API]: 'an administrator kicked the user through the REST API',
  }[type] || 'the server ended the session';
  return `This tab was kicked out (${type}): ${why}.`;
}

// ---- calls ------------------------------------------------------------------------------------------

async function login() {
  const userID = $('user-id').value.trim();
  if (!userID) return;
  view.phase = 'logging-in';
  render();
  try {
    const sig = await getJson(`${config.httpUrl}/dev/usersig?userID=${encodeURIComponent(userID)}`);
    $('usersig').textContent = sig.userSig;
    $('usersig').title = `valid for ${sig.expire} s`;
    const res = await tim.login({ userID, userSig: sig.userSig });
    addLog('call', 'login()', res, 'call');
  } catch (e) {
    addLog('call', 'login()', errorData(e), 'fail');
  } finally {
    settle('logging-in');
    refreshOnlineWebInstances().catch(() => {});
  }
}

async function logout() {
  view.phase = 'logging-out';
  render();
  try {
    addLog('call', 'logout()', await tim.logout(), 'call');
  } catch (e) {
    addLog('call', 'logout()', errorData(e), 'fail');
  } finally {
    settle('logging-out');
  }
}

/** After a call: the SDK's own state wins over the phase the call set. */
function settle(busyPhase) {
  if (tim.isReady()) view.phase = 'ready';
  else if (view.phase === busyPhase) view.phase = 'logged-out';
  render();
}

function errorData(e) {
  return e && typeof e === 'object' && 'code' in e ? { code: e.code, message: e.message } : { error: String(e) };
}

// ---- admin API (dev mode) ---------------------------------------------------------------------------

async function adminCall(service, command, body) {
  if (!adminSig) {
    const sig = await getJson(`${config.httpUrl}/dev/usersig?userID=${encodeURIComponent(config.admin)}`);
    adminSig = sig.userSig;
  }
  const query = new URLSearchParams({
    sdkappid: String(config.SDKAppID),
    identifier: config.admin,
    usersig: adminSig,
    random: String(Math.floor(Math.random() * 4294967295)),
    contenttype: 'json',
  });
  const reply = await getJson(`${config.httpUrl}/v4/${service}/${command}?${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (reply.ActionStatus !== 'OK') {
    throw new Error(`${command}: ${reply.ErrorCode} ${reply.ErrorInfo}`);
  }
  return reply;
}

async function refreshOnlineWebInstances() {
  const reply = await adminCall('tim_wasm_admin', 'get_app_config', {});
  showOnlineWebInstances(reply.OnlineWebInstances);
}

async function applyOnlineWebInstances() {
  const n = Number($('owi-input').value);
  try {
    const reply = await adminCall('tim_wasm_admin', 'set_app_config', { OnlineWebInstances: n });
    showOnlineWebInstances(reply.OnlineWebInstances);
    addLog('call', 'set_app_config', { OnlineWebInstances: reply.OnlineWebInstances }, 'call');
  } catch (e) {
    addLog('call', 'set_app_config', { error: e.message }, 'fail');
  }
}

function showOnlineWebInstances(n) {
  $('owi-current').textContent = String(n);
  if (document.activeElement !== $('owi-input')) $('owi-input').value = String(n);
}

async function restKick() {
  const userID = $('user-id').value.trim();
  if (!userID) return;
  try {
    await adminCall('im_open_login_svc', 'kick', { UserID: userID });
    addLog('call', 'REST kick', { UserID: userID }, 'call');
    kicksRefresh();
  } catch (e) {
    addLog('call', 'REST kick', { error: e.message }, 'fail');
  }
}

// ---- chat: createTextMessage, sendMessage, MESSAGE_RECEIVED ---------------------------------------

async function chatSend() {
  const to = $('chat-to').value.trim();
  const text = $('chat-text').value;
  if (!to || !text) return;
  let message;
  try {
    message = tim.createTextMessage({ to, conversationType: TIM.TYPES.CONV_C2C, payload: { text } });
  } catch (e) {
    addLog('call', 'createTextMessage()', errorData(e), 'fail');
    return;
  }
  const item = chatShow(message);
  try {
    const res = await tim.sendMessage(message);
    addLog('call', 'sendMessage()', { ID: res.data.message.ID, status: res.data.message.status }, 'call');
    $('chat-text').value = '';
  } catch (e) {
    addLog('call', 'sendMessage()', errorData(e), 'fail');
  }
  chatUpdate(item, message);
}

/** One message in the chat log (sent here, or received: from another user or another tab of this one). */
function chatShow(message) {
  const li = document.createElement('li');
  const who = document.createElement('span');
  who.className = 'who';
  const body = document.createElement('span');
  body.className = 'text';
  li.append(who, body);
  chatUpdate(li, message);
  $('chat-log').append(li);
  return li;
}

function chatUpdate(li, message) {
  li.dataset.id = message.ID;
  li.dataset.flow = message.flow;
  li.dataset.status = message.status;
  li.dataset.from = message.from;
  li.dataset.to = message.to;
  li.querySelector('.who').textContent =
    message.flow === 'out' ? `to ${message.to} · ${message.status}` : `${message.from}`;
  li.querySelector('.text').textContent = message.payload.text;
}

// ---- instances: the account's live instances (admin API, dev mode) --------------------------------

async function instancesRefresh() {
  const user = tim ? tim.getLoginUser() : '';
  if (!user) return instancesShow([]);
  try {
    const reply = await adminCall('tim_wasm_admin', 'query_online_instances', { UserID: user });
    instancesShow(reply.Instances || []);
  } catch (e) {
    addLog('call', 'query_online_instances', { error: e.message }, 'fail');
  }
}

function instancesShow(instances) {
  const list = $('instances');
  list.replaceChildren(
    ...instances.map((i) => {
      const li = document.createElement('li');
      li.dataset.platform = i.Platform;
      li.dataset.state = i.State;
      li.textContent = `${i.Platform} · since ${clock(new Date(i.LoginTimeMs))} · ${i.State} · ${i.InstanceID.slice(0, 8)}`;
      return li;
    }),
  );
  $('instances-empty').hidden = instances.length > 0;
}

// ---- kicks: the account's recent kicks (admin API, dev mode) ---------------------------------------

/** The userID whose kicks are shown: the logged-in one, else the one in the login field (after a kick). */
function kicksUser() {
  return (tim && tim.getLoginUser()) || $('user-id').value.trim();
}

async function kicksRefresh() {
  const user = kicksUser();
  if (!user) return kicksShow([]);
  try {
    const reply = await adminCall('tim_wasm_admin', 'query_recent_kicks', { UserID: user });
    kicksShow(reply.Kicks || []);
  } catch (e) {
    addLog('call', 'query_recent_kicks', { error: e.message }, 'fail');
  }
}

/** Newest first, at most 10: when, which instance, why, by which login. */
function kicksShow(kicks) {
  const short = (id) => (id ? id.slice(0, 8) : '');
  $('kicks').replaceChildren(
    ...kicks.slice(-10).reverse().map((k) => {
      const li = document.createElement('li');
      li.dataset.type = k.Type;
      li.dataset.platform = k.Platform;
      li.dataset.byPlatform = k.ByPlatform || '';
      const by = k.ByPlatform ? ` · by ${k.ByPlatform} ${short(k.ByInstanceID)}`.trimEnd() : '';
      li.textContent = `${clock(new Date(k.TimeMs))} · ${k.Platform} ${short(k.InstanceID)} · ${k.Type}${by}`;
      return li;
    }),
  );
  $('kicks-empty').hidden = kicks.length > 0;
}

// ---- rendering --------------------------------------------------------------------------------------

const STATUS_TEXT = {
  'logged-out': 'Logged out',
  'logging-in': 'Logging in…',
  ready: 'Ready',
  'logging-out': 'Logging out…',
};

function render() {
  const ready = tim ? tim.isReady() : false;
  const user = tim ? tim.getLoginUser() : '';
  const status = $('state-status');
  status.dataset.status = view.phase;
  status.textContent = STATUS_TEXT[view.phase];
  $('state-ready').textContent = String(ready);
  $('state-user').textContent = user || '—';
  const net = $('state-net');
  net.dataset.net = view.net || 'unknown';
  net.textContent = view.net || 'not connected yet';
  $('state-kick').textContent = view.lastKick ? `${view.lastKick.type} at ${clock(view.lastKick.at)}` : '—';
  const busy = view.phase === 'logging-in' || view.phase === 'logging-out';
  $('login').disabled = !tim || busy || view.phase === 'ready';
  $('logout').disabled = !tim || busy || view.phase !== 'ready';
  $('owi-apply').disabled = !tim;
  $('rest-kick').disabled = !tim;
  $('chat-send').disabled = !tim || view.phase !== 'ready';
  $('log-empty').hidden = $('log').children.length > 0;
  const mark = { ready: '●', 'logged-out': '○' }[view.phase] || '◌';
  document.title = `${mark} ${user || STATUS_TEXT[view.phase]} · tim-wasm demo`;
}

function addLog(kind, name, data, tone, wireName) {
  const li = document.createElement('li');
  li.dataset.kind = kind;
  li.dataset.event = name;
  li.dataset.seq = String(++view.seq);
  li.dataset.tone = tone;
  const json = data === undefined ? '' : JSON.stringify(data);
  li.dataset.data = json;
  const time = document.createElement('time');
  time.textContent = clock(new Date());
  const label = document.createElement('span');
  label.className = 'name';
  label.textContent = name;
  if (wireName) label.title = `"${wireName}"`;
  const body = document.createElement('code');
  body.className = 'data';
  body.textContent = json || '—';
  li.append(time, label, body);
  const log = $('log');
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(li);
  if (atBottom) log.scrollTop = log.scrollHeight;
  render();
}

function clock(d) {
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function showBanner(tone, text) {
  const b = $('banner');
  b.dataset.tone = tone;
  b.textContent = text;
  b.hidden = false;
}

function hideBanner() {
  $('banner').hidden = true;
}

async function getJson(url, init) {
  let response;
  try {
    response = await fetch(url, init);
  } catch (e) {
    throw new Error(`cannot reach ${url.split('?')[0]}: is the demo still running? (${e.message})`);
  }
  const text = await response.text();
  let value;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${url.split('?')[0]} answered ${response.status} with no JSON`);
  }
  if (!response.ok) throw new Error(`${url.split('?')[0]}: ${response.status} ${value.error || text}`);
  return value;
}
