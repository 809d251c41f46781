// Uses every method of the package's types as an ES module; `tsc --strict` must accept it under the
// `bundler` and `node16` (ESM) resolutions against the package installed by name (types.test.mjs).
import TIM, {
  type ChatSDK, type Message, type TimError, type TimEvent, type KickType, type KickedOutData, type Platform,
} from 'tim-wasm';

// The official SDK's setup lines, typed.
const options = { SDKAppID: 1400000000, proxyServer: 'ws://127.0.0.1:9000/ws' };
const tim: ChatSDK = TIM.create(options);
const level: number = 0;
tim.setLogLevel(level);
tim.registerPlugin({ 'tim-upload-plugin': {} });
TIM.create({ SDKAppID: '1400000000', serverUrl: 'wss://im.example.com/ws', WebSocket: class {
  constructor(public url: string) {}
} });
// The log level from the start (before the "instance created" line).
TIM.create({ SDKAppID: 1400000003, serverUrl: 'ws://127.0.0.1:9000/ws', logLevel: 4 });
// @ts-expect-error a level is 0 to 4
TIM.create({ SDKAppID: 1400000004, serverUrl: 'ws://127.0.0.1:9000/ws', logLevel: 5 });
// Several nodes of one deployment, under either name.
TIM.create({ SDKAppID: 1400000001, serverUrl: ['wss://a.example.com/ws', 'wss://b.example.com/ws'] });
const nodes: string[] = ['ws://127.0.0.1:9001/ws', 'ws://127.0.0.1:9002/ws'];
TIM.create({ SDKAppID: 1400000002, proxyServer: nodes });
// @ts-expect-error the entries are URL strings
TIM.create({ SDKAppID: 1400000003, serverUrl: [9001] });
const version: string = TIM.VERSION;
const statics: string[] = Object.keys(TIM);

// TIM.EVENT / TIM.TYPES values used as types, as the official types allow.
const kickType: TIM.TYPES.KICKED_OUT_MULT_ACCOUNT = TIM.TYPES.KICKED_OUT_MULT_ACCOUNT;
const anyType: TIM.TYPES = TIM.TYPES.CONV_C2C;
const eventName: TIM.EVENT = TIM.EVENT.SDK_READY;
const ready: TIM.EVENT.SDK_READY = 'sdkStateReady';
function conversationOf(type: TIM.TYPES.CONV_C2C): string {
  return type;
}

const onKickedOut = function (event: TimEvent<'kickedOut'>): void {
  const type: KickType = event.data.type;
  if (type === TIM.TYPES.KICKED_OUT_MULT_ACCOUNT) console.log('kicked by another page');
  // Who took the slot, when the server said (optional: absent for other kicks).
  const data: KickedOutData = event.data;
  const platform: Platform | undefined = data.platform;
  const at: number | undefined = data.time;
  if (platform !== undefined && at !== undefined) console.log(`signed in on ${platform} at ${new Date(at)}`);
};
tim.on(TIM.EVENT.KICKED_OUT, onKickedOut);
tim.once(TIM.EVENT.SDK_READY, (event) => console.log(event.name, tim.isReady(), tim.getLoginUser()));
tim.on(TIM.EVENT.NET_STATE_CHANGE, (event) => console.log(event.data.state === TIM.TYPES.NET_STATE_CONNECTED));
tim.on(TIM.EVENT.ERROR, (event) => console.log(event.data.code, event.data.message), { some: 'context' });
tim.on(TIM.EVENT.SDK_DESTROY, (event) => console.log(event.data.SDKAppID));
tim.on(TIM.EVENT.MESSAGE_RECEIVED, (event) => {
  event.data.forEach((m: Message) => {
    const flow: 'in' | 'out' = m.flow;
    console.log(m.ID, m.from, m.to, m.payload.text, m.conversationID, m.conversationType, m.time, flow, m.status);
  });
});
tim.on(TIM.EVENT.SDK_NOT_READY, () => undefined);
tim.off(TIM.EVENT.KICKED_OUT, onKickedOut);

async function main(): Promise<void> {
  try {
    const imResponse = await tim.login({ userID: 'user1', userSig: 'sig' });
    const repeat: boolean = imResponse.data.repeatLogin === true;
    console.log(imResponse.code, imResponse.data.actionStatus, repeat);
    const message: Message = tim.createTextMessage({
      to: 'user2',
      conversationType: TIM.TYPES.CONV_C2C,
      payload: { text: 'Hello world!' },
    });
    const type: TIM.TYPES.MSG_TEXT = message.type;
    const status: 'unSend' | 'success' | 'fail' = message.status;
    console.log(type, status, conversationOf(message.conversationType));
    const sent = await tim.sendMessage(message);
    console.log(sent.data.message.ID, sent.data.message.status);
    const short = await tim.sendMessage({ to: 'user2', text: 'hi' });
    console.log(short.data.sequence, short.data.message.payload.text);
    const out = await tim.logout();
    console.log(out.data);
  } catch (e) {
    const imError = e as TimError;
    console.warn(imError.code, imError.codeName, imError.message, imError.data.message?.status);
  }
  const counts = tim.__debugCounts();
  console.log(counts.liveClosures, version, statics, kickType, anyType, eventName, ready);
  await tim.destroy();
}

void main();

// Mini-program entry: `init` exists there (optional in the shared type), awaited once before create.
async function miniProgramStart(): Promise<void> {
  if (TIM.init) await TIM.init({ wasmPath: '/miniprogram_npm/tim-wasm/tim_wasm_bg.wasm' });
}
void miniProgramStart;
