// Login latency on loopback, the SDK beside its floor in one process, sample by sample: `login()` call to
// resolve with SDK_READY seen, and a raw `ws` client's connect + login frame + ack (another user, so that
// neither side's instance touches the other's). Prints {"sdk_us": [...], "raw_us": [...]}.
'use strict';

const { freshTIM, createQuietTim, nextEvent, RawClient, within, runPaired, now } = require('./common.cjs');

const LOGOUT = JSON.stringify({ type: 'logout', id: 2 });

/** One sample of each side, as functions that resolve with the sample in µs. */
function sides(a) {
  const TIM = freshTIM();
  const tim = createQuietTim(TIM, a);
  const sdk = async () => {
    const ready = nextEvent(tim, TIM.EVENT.SDK_READY);
    const t0 = now();
    await within(10000, Promise.all([tim.login({ userID: a.user, userSig: a.sig }), ready]), 'login');
    const t1 = now();
    await within(10000, tim.logout(), 'logout');
    await within(10000, tim.lastSocketClosed(), 'close after logout');
    return (t1 - t0) * 1000;
  };
  const raw = async () => {
    const t0 = now();
    const c = new RawClient(a.url);
    await within(10000, c.opened, 'connect');
    const ack = JSON.parse(await within(10000, c.request(a['raw-frame']), 'login'));
    const t1 = now();
    if (ack.type !== 'loginAck') throw new Error(`login refused: ${JSON.stringify(ack)}`);
    await within(10000, c.request(LOGOUT), 'logout');
    await within(10000, c.close(), 'close');
    return (t1 - t0) * 1000;
  };
  return { sdk, raw };
}

runPaired(sides);
