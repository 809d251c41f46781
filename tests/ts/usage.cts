// The CommonJS entry's types: `require('tim-wasm')` under `node16` resolution in a CommonJS project;
// `tsc --strict` must accept it (types.test.mjs).
import TIM = require('tim-wasm');

const tim: TIM.ChatSDK = TIM.create({ SDKAppID: 1400000000, serverUrl: 'ws://127.0.0.1:9000/ws' });
TIM.create({ SDKAppID: 1400000001, serverUrl: ['ws://127.0.0.1:9001/ws', 'ws://127.0.0.1:9002/ws'] });
tim.setLogLevel(Number('1'));
tim.registerPlugin({});
const kick: TIM.TYPES.KICKED_OUT_MULT_ACCOUNT = TIM.TYPES.KICKED_OUT_MULT_ACCOUNT;
const event: TIM.EVENT = TIM.EVENT.KICKED_OUT;
tim.on(TIM.EVENT.KICKED_OUT, (e: TIM.TimEvent<'kickedOut'>) => console.log(e.data.type === kick, event));
tim.on(TIM.EVENT.KICKED_OUT, (e: TIM.TimEvent<'kickedOut'>) => {
  const by: TIM.Platform | undefined = e.data.platform;
  const at: number | undefined = e.data.time;
  console.log(by ?? 'unknown', at ?? 0);
});
tim.on(TIM.EVENT.MESSAGE_RECEIVED, (e) => e.data.forEach((m: TIM.Message) => console.log(m.ID, m.flow)));

async function main(): Promise<void> {
  await tim.login({ userID: 'user1', userSig: 'sig' });
  const message: TIM.Message = tim.createTextMessage({
    to: 'user2',
    conversationType: TIM.TYPES.CONV_C2C,
    payload: { text: 'hi' },
  });
  const sent = await tim.sendMessage(message);
  console.log(sent.code, sent.data.message.status, TIM.VERSION);
  await tim.logout().catch((e: TIM.TimError) => console.warn(e.code, e.codeName));
}
void main();
