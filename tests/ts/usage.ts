// Uses every method of the package's types; `tsc --noEmit --strict -p tests/ts` must accept it.
import TIM, { type TimError, type TimEvent, type KickType } from 'tim-wasm';

const tim = TIM.create({ SDKAppID: 1400000000, serverUrl: 'ws://127.0.0.1:9000/ws' });
TIM.create({ SDKAppID: '1400000000', serverUrl: 'wss://im.example.com/ws', WebSocket: class {
  constructor(public url: string) {}
} });
const version: string = TIM.VERSION;

const onKickedOut = function (event: TimEvent<'kickedOut'>): void {
  const type: KickType = event.data.type;
  if (type === TIM.TYPES.KICKED_OUT_MULT_ACCOUNT) console.log('kicked by another page');
};
tim.on(TIM.EVENT.KICKED_OUT, onKickedOut);
tim.once(TIM.EVENT.SDK_READY, (event) => console.log(event.name, tim.isReady(), tim.getLoginUser()));
tim.on(TIM.EVENT.NET_STATE_CHANGE, (event) => console.log(event.data.state === TIM.TYPES.NET_STATE_CONNECTED));
tim.on(TIM.EVENT.ERROR, (event) => console.log(event.data.code, event.data.message), { some: 'context' });
tim.on(TIM.EVENT.SDK_DESTROY, (event) => console.log(event.data.SDKAppID));
tim.on(TIM.EVENT.MESSAGE_RECEIVED, (event) => event.data.forEach((m) => console.log(m.from, m.payload.text)));
tim.on(TIM.EVENT.SDK_NOT_READY, () => undefined);
tim.off(TIM.EVENT.KICKED_OUT, onKickedOut);
tim.setLogLevel(1);

async function main(): Promise<void> {
  try {
    const imResponse = await tim.login({ userID: 'user1', userSig: 'sig' });
    const repeat: boolean = imResponse.data.repeatLogin === true;
    console.log(imResponse.code, imResponse.data.actionStatus, repeat);
    const sent = await tim.sendMessage({ to: 'user2', text: 'hi' });
    console.log(sent.data.sequence);
    const out = await tim.logout();
    console.log(out.data);
  } catch (e) {
    const imError = e as TimError;
    console.warn(imError.code, imError.codeName, imError.message, imError.data);
  }
  const counts = tim.__debugCounts();
  console.log(counts.liveClosures, version);
  await tim.destroy();
}

void main();

// Mini-program entry: `init` exists there (optional in the shared type), awaited once before create.
async function miniProgramStart(): Promise<void> {
  if (TIM.init) await TIM.init({ wasmPath: '/miniprogram_npm/tim-wasm/tim_wasm_bg.wasm' });
}
void miniProgramStart;
