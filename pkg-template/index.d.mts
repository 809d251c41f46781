// Types of the ES module entries of tim-wasm (`import TIM from 'tim-wasm'`: browsers, bundlers, Node
// ESM). The declarations live in `index.d.ts` (the CommonJS entry's types), in the `TIM` namespace.
import TIM from './index.js';

export default TIM;
export { TIM };

export type ChatSDK = TIM.ChatSDK;
export type TimInstance = TIM.ChatSDK;
export type TimStatic = TIM.TimStatic;
export type Message = TIM.Message;
export type CreateTextMessageOptions = TIM.CreateTextMessageOptions;
export type SendMessageOptions = TIM.SendMessageOptions;
export type SendMessageData = TIM.SendMessageData;
export type TimEvents = TIM.TimEvents;
export type TimTypes = TIM.TimTypes;
export type EventName = TIM.EventName;
export type KickType = TIM.KickType;
export type NetState = TIM.NetState;
export type Platform = TIM.Platform;
export type KickedOutData = TIM.KickedOutData;
export type EventData = TIM.EventData;
export type TimEvent<N extends TIM.EventName = TIM.EventName> = TIM.TimEvent<N>;
export type Listener<N extends TIM.EventName = TIM.EventName> = TIM.Listener<N>;
export type ImResponse<D> = TIM.ImResponse<D>;
export type LoginData = TIM.LoginData;
export type TimError = TIM.TimError;
export type WebSocketConstructor = TIM.WebSocketConstructor;
export type CreateOptions = TIM.CreateOptions;
export type LoginOptions = TIM.LoginOptions;
export type DebugCounts = TIM.DebugCounts;
export type MiniProgramInitOptions = TIM.MiniProgramInitOptions;
