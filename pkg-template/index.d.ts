// Types of the npm package tim-wasm (hand-written; `tsc --noEmit --strict` checks them in the tests).

/** `TIM.EVENT`: event names (the string values of the official SDK). */
export interface TimEvents {
  readonly SDK_READY: 'sdkStateReady';
  readonly SDK_NOT_READY: 'sdkStateNotReady';
  readonly KICKED_OUT: 'kickedOut';
  readonly NET_STATE_CHANGE: 'netStateChange';
  readonly ERROR: 'error';
  readonly SDK_DESTROY: 'sdkDestroy';
  readonly MESSAGE_RECEIVED: 'onMessageReceived';
}

/** `TIM.TYPES`: kick types and network states. */
export interface TimTypes {
  readonly KICKED_OUT_MULT_ACCOUNT: 'multipleAccount';
  readonly KICKED_OUT_MULT_DEVICE: 'multipleDevice';
  readonly KICKED_OUT_USERSIG_EXPIRED: 'userSigExpired';
  readonly KICKED_OUT_REST_API: 'REST_API_Kick';
  readonly NET_STATE_CONNECTED: 'connected';
  readonly NET_STATE_CONNECTING: 'connecting';
  readonly NET_STATE_DISCONNECTED: 'disconnected';
}

export type EventName = TimEvents[keyof TimEvents];
export type KickType = 'multipleAccount' | 'multipleDevice' | 'userSigExpired' | 'REST_API_Kick';
export type NetState = 'connected' | 'connecting' | 'disconnected';

/** A received text message. */
export interface Message {
  from: string;
  to: string;
  type: 'TIMTextElem';
  text: string;
  payload: { text: string };
  sequence: number;
  /** Unix seconds. */
  time: number;
  timeMs: number;
}

/** The `data` of each event. */
export interface EventData {
  sdkStateReady: undefined;
  sdkStateNotReady: undefined;
  kickedOut: { type: KickType };
  netStateChange: { state: NetState };
  error: { code: number; message: string };
  sdkDestroy: { SDKAppID: number };
  onMessageReceived: Message[];
}

/** What a listener receives. */
export interface TimEvent<N extends EventName = EventName> {
  name: N;
  data: EventData[N];
}

export type Listener<N extends EventName = EventName> = (event: TimEvent<N>) => void;

/** `imResponse`. */
export interface ImResponse<D> {
  code: 0;
  data: D;
}

export interface LoginData {
  actionStatus: 'OK';
  errorCode: 0;
  errorInfo: '';
  /** Present (true) when this instance was already logged in as that user. */
  repeatLogin?: true;
}

export interface SendMessageData {
  sequence: number;
  time: number;
  timeMs: number;
}

/** `imError`: every rejection and every thrown error of the SDK. */
export interface TimError extends Error {
  name: 'TimError';
  /** The numeric code (see docs/error-codes.md). */
  code: number;
  /** The table's constant name, e.g. `USER_NOT_LOGGED_IN`; `UNKNOWN` for codes of a newer server. */
  codeName: string;
  data: Record<string, never>;
}

/** A constructor with the W3C WebSocket shape (the browser's, the `ws` package, an adapter). */
export type WebSocketConstructor = new (url: string) => unknown;

export interface CreateOptions {
  /** A positive integer, as a number or a numeric string. */
  SDKAppID: number | string;
  /** The server's WebSocket URL, e.g. `ws://127.0.0.1:9000/ws` as tim-server prints it. */
  serverUrl: string;
  /** The WebSocket constructor; default: the global `WebSocket`, or `ws` in Node. */
  WebSocket?: WebSocketConstructor;
}

export interface LoginOptions {
  userID: string;
  userSig: string;
}

export interface SendMessageOptions {
  to: string;
  text: string;
}

/** Internal counters for leak tests; not a stable API. */
export interface DebugCounts {
  listeners: number;
  pendingPromises: number;
  sockets: number;
  liveSockets: number;
  liveClosures: number;
}

/** An SDK instance. */
export interface TimInstance {
  login(options: LoginOptions): Promise<ImResponse<LoginData>>;
  logout(): Promise<ImResponse<Record<string, never>>>;
  sendMessage(options: SendMessageOptions): Promise<ImResponse<SendMessageData>>;
  on<N extends EventName>(name: N, listener: Listener<N>, context?: unknown): void;
  once<N extends EventName>(name: N, listener: Listener<N>, context?: unknown): void;
  off<N extends EventName>(name: N, listener: Listener<N>, context?: unknown, once?: boolean): void;
  isReady(): boolean;
  getLoginUser(): string;
  /** 0 log (default), 1 info, 2 warn, 3 error, 4 none. */
  setLogLevel(level: 0 | 1 | 2 | 3 | 4): void;
  destroy(): Promise<ImResponse<Record<string, never>>>;
  /** @internal Runtime adapters: a network change. */
  networkHint(hint: 'online' | 'offline'): void;
  /** @internal Leak-test counters. */
  __debugCounts(): DebugCounts;
}

export interface TimStatic {
  /** The instance of this SDKAppID (the same one until `destroy()`). Throws a TimError (2000, 8002, 8003). */
  create(options: CreateOptions): TimInstance;
  readonly EVENT: TimEvents;
  readonly TYPES: TimTypes;
  readonly VERSION: string;
  /**
   * Mini-program entry only (`miniprogram/index.js`): loads the wasm with `WXWebAssembly.instantiate`; await
   * it once before `TIM.create`. Absent from the browser and Node entries, which need no init call.
   */
  init?(options?: MiniProgramInitOptions): Promise<void>;
  /** @internal Loaders: a network change for every live instance. */
  __networkHintAll(hint: 'online' | 'offline'): void;
}

/** Options of `TIM.init` in mini programs. */
export interface MiniProgramInitOptions {
  /** Package path of the wasm; default `/miniprogram_npm/tim-wasm/tim_wasm_bg.wasm` (`.wasm.br` allowed). */
  wasmPath?: string;
  /** A loader with WXWebAssembly's shape, for runtimes that name it differently. */
  wasmLoader?: { instantiate(path: string, imports: object): Promise<unknown> };
}

declare const TIM: TimStatic;
export default TIM;
export { TIM };
