// Login latency on loopback: `--mode sdk` times TIM login() call to resolve with SDK_READY seen;
// `--mode raw` is the floor: a raw `ws` connect + login frame + ack. Prints {"samples_us": [...]}.
'use strict';

const { freshTIM, createQuietTim, nextEvent, RawClient, within, runSamples, now } = require('./common.cjs');

const WARMUP = 100;

async function sdk(a, count) {
  const TIM = freshTIM();
  const tim = createQuietTim(TIM, a);
  const samples = [];
  for (let i = 0; i < WARMUP + count; i++) {
    const ready = nextEvent(tim, TIM.EVENT.SDK_READY);
    const t0 = now();
    await within(10000, Promise.all([tim.login({ userID: a.user, userSig: a.sig }), ready]), 'login');
    const t1 = now();
    if (i >= WARMUP) samples.push((t1 - t0) * 1000);
    await within(10000, tim.logout(), 'logout');
    await within(10000, tim.lastSocketClosed(), 'close after logout');
  }
  if (typeof tim.destroy === 'function') await tim.destroy();
  return samples;
}

async function raw(a, count) {
  const samples = [];
  const logout = JSON.stringify({ type: 'logout', id: 2 });
  for (let i = 0; i < WARMUP + count; i++) {
    const t0 = now();
    const c = new RawClient(a.url);
    await within(10000, c.opened, 'connect');
    const ack = JSON.parse(await within(10000, c.request(a['login-frame']), 'login'));
    const t1 = now();
    if (ack.type !== 'loginAck') throw new Error(`login refused: ${JSON.stringify(ack)}`);
    if (i >= WARMUP) samples.push((t1 - t0) * 1000);
    await within(10000, c.request(logout), 'logout');
    await within(10000, c.close(), 'close');
  }
  return samples;
}

runSamples({ sdk, raw });
