// Kick latency on loopback, the SDK beside its floor in one process, sample by sample. With N = 1, an
// account's newest login kicks the earlier instance. SDK: two TIM instances (two module loads) take
// turns; a sample is the time from one instance's login() call to the other's KICKED_OUT. Floor: raw
// `ws` clients of another user: a new client's connect + login frame until the old client receives
// its kick frame. Prints {"sdk_us": [...], "raw_us": [...]}.
'use strict';

const { freshTIM, createQuietTim, nextEvent, RawClient, within, runPaired, now } = require('./common.cjs');

async function sdkSide(a) {
  const make = () => {
    const TIM = freshTIM();
    return { TIM, tim: createQuietTim(TIM, a) };
  };
  const pair = [make(), make()];
  if (pair[0].tim === pair[1].tim) throw new Error('a second module load gave the same TIM instance');
  const login = (x) => x.tim.login({ userID: a.user, userSig: a.sig });
  await within(10000, Promise.all([login(pair[0]), nextEvent(pair[0].tim, pair[0].TIM.EVENT.SDK_READY)]), 'login');
  let turn = 0;
  return async () => {
    const [old, fresh] = turn++ % 2 === 0 ? pair : [pair[1], pair[0]];
    const kicked = nextEvent(old.tim, old.TIM.EVENT.KICKED_OUT);
    const t0 = now();
    const loggedIn = login(fresh);
    await within(10000, kicked, 'kick');
    const t1 = now();
    await within(10000, loggedIn, 'login');
    // As the raw floor: the next sample starts once the kicked connection has closed.
    await within(10000, old.tim.lastSocketClosed(), 'close after kick');
    return (t1 - t0) * 1000;
  };
}

async function rawSide(a) {
  const login = async () => {
    const c = new RawClient(a.url);
    await within(10000, c.opened, 'connect');
    c.ws.send(a['raw-frame']);
    return c;
  };
  let old = await login();
  const ack = JSON.parse(await within(10000, old.next(), 'login'));
  if (ack.type !== 'loginAck') throw new Error(`login refused: ${JSON.stringify(ack)}`);
  return async () => {
    const t0 = now();
    const kicked = (async () => {
      for (;;) {
        const f = JSON.parse(await old.next());
        if (f.type === 'kicked') return;
      }
    })();
    const fresh = await login();
    await within(10000, kicked, 'kick');
    const t1 = now();
    const reply = JSON.parse(await within(10000, fresh.next(), 'login'));
    if (reply.type !== 'loginAck') throw new Error(`login refused: ${JSON.stringify(reply)}`);
    await within(10000, old.closed, 'close after kick');
    old = fresh;
    return (t1 - t0) * 1000;
  };
}

runPaired(async (a) => ({ sdk: await sdkSide(a), raw: await rawSide(a) }));
