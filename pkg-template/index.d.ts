// Types of the npm package tim-wasm (hand-written; the tests check them with `tsc --strict` under the
// `bundler`, `node16` ESM and `node16` CommonJS resolutions, and with arethetypeswrong and publint).
//
// This file types the CommonJS entry (`require('tim-wasm')`, `module.exports = TIM`); `index.d.mts`
// re-exports it for the ES module entries. Everything lives in the `TIM` namespace, so that
// `TIM.TYPES.CONV_C2C` and `TIM.EVENT.SDK_READY` are values AND types, as in the official SDK's types.

declare namespace TIM {
  // ---- statics ------------------------------------------------------------------------------------

  /**
   * The instance of this SDKAppID (the same one until `destroy()`). Throws a TimError (2000 for a bad
   * SDKAppID, 8003 for a bad server URL, 8002 for an option of the wrong type).
   */
  function create(options: CreateOptions): ChatSDK;
  /** Event names (the string values of the official SDK). */
  const EVENT: TimEvents;
  /** Kick types, network states, message and conversation types. */
  const TYPES: TimTypes;
  /** The SDK version. */
  const VERSION: string;
  /**
   * Mini-program entry only (`miniprogram/index.js`): loads the wasm with `WXWebAssembly.instantiate`; await
   * it once before `TIM.create`. Absent from the browser and Node entries, which need no init call.
   */
  const init: ((options?: MiniProgramInitOptions) => Promise<void>) | undefined;
  /** @internal Loaders: a network change for every live instance. */
  function __networkHintAll(hint: 'online' | 'offline'): void;

  // ---- constants as types: `TIM.EVENT.KICKED_OUT`, `TIM.TYPES.CONV_C2C`, `TIM.TYPES` ------------------

  /** `TIM.EVENT`: event names. */
  interface TimEvents {
    readonly SDK_READY: 'sdkStateReady';
    readonly SDK_NOT_READY: 'sdkStateNotReady';
    readonly KICKED_OUT: 'kickedOut';
    readonly NET_STATE_CHANGE: 'netStateChange';
    readonly ERROR: 'error';
    readonly SDK_DESTROY: 'sdkDestroy';
    readonly MESSAGE_RECEIVED: 'onMessageReceived';
  }

  /** `TIM.TYPES`: kick types, network states, and the message and conversation types of text chat. */
  interface TimTypes {
    readonly KICKED_OUT_MULT_ACCOUNT: 'multipleAccount';
    readonly KICKED_OUT_MULT_DEVICE: 'multipleDevice';
    readonly KICKED_OUT_USERSIG_EXPIRED: 'userSigExpired';
    readonly KICKED_OUT_REST_API: 'REST_API_Kick';
    readonly NET_STATE_CONNECTED: 'connected';
    readonly NET_STATE_CONNECTING: 'connecting';
    readonly NET_STATE_DISCONNECTED: 'disconnected';
    readonly MSG_TEXT: 'TIMTextElem';
    readonly CONV_C2C: 'C2C';
  }

  /** Any event name; `TIM.EVENT.X` is the type of one. */
  type EVENT = TimEvents[keyof TimEvents];
  namespace EVENT {
    type SDK_READY = TimEvents['SDK_READY'];
    type SDK_NOT_READY = TimEvents['SDK_NOT_READY'];
    type KICKED_OUT = TimEvents['KICKED_OUT'];
    type NET_STATE_CHANGE = TimEvents['NET_STATE_CHANGE'];
    type ERROR = TimEvents['ERROR'];
    type SDK_DESTROY = TimEvents['SDK_DESTROY'];
    type MESSAGE_RECEIVED = TimEvents['MESSAGE_RECEIVED'];
  }

  /** Any `TIM.TYPES` value; `TIM.TYPES.X` is the type of one. */
  type TYPES = TimTypes[keyof TimTypes];
  namespace TYPES {
    type KICKED_OUT_MULT_ACCOUNT = TimTypes['KICKED_OUT_MULT_ACCOUNT'];
    type KICKED_OUT_MULT_DEVICE = TimTypes['KICKED_OUT_MULT_DEVICE'];
    type KICKED_OUT_USERSIG_EXPIRED = TimTypes['KICKED_OUT_USERSIG_EXPIRED'];
    type KICKED_OUT_REST_API = TimTypes['KICKED_OUT_REST_API'];
    type NET_STATE_CONNECTED = TimTypes['NET_STATE_CONNECTED'];
    type NET_STATE_CONNECTING = TimTypes['NET_STATE_CONNECTING'];
    type NET_STATE_DISCONNECTED = TimTypes['NET_STATE_DISCONNECTED'];
    type MSG_TEXT = TimTypes['MSG_TEXT'];
    type CONV_C2C = TimTypes['CONV_C2C'];
  }

  type EventName = EVENT;
  type KickType = 'multipleAccount' | 'multipleDevice' | 'userSigExpired' | 'REST_API_Kick';
  type NetState = 'connected' | 'connecting' | 'disconnected';
  /** The runtime an instance runs in, as the server records it. */
  type Platform = 'web' | 'node' | 'wx' | 'qq' | 'tt' | 'swan' | 'my';

  /** `KICKED_OUT`'s `data`. */
  interface KickedOutData {
    type: KickType;
    /**
     * `multipleAccount` kicks: the platform of the instance whose login took this one's slot. Absent
     * for other kicks (and from servers that do not say).
     */
    platform?: Platform;
    /** `multipleAccount` kicks: when that login happened, Unix milliseconds. Absent with `platform`. */
    time?: number;
  }

  // ---- messages -----------------------------------------------------------------------------------

  /**
   * A C2C text message: made by `createTextMessage`, settled by `sendMessage`, delivered by
   * `MESSAGE_RECEIVED`. The same `ID` on every side.
   */
  interface Message {
    /** Unique message id, made by the sender's SDK. */
    ID: string;
    type: TYPES.MSG_TEXT;
    payload: { text: string };
    /** The sender's userID. */
    from: string;
    /** The receiver's userID. */
    to: string;
    /** `C2C` + the other party's userID. */
    conversationID: string;
    conversationType: TYPES.CONV_C2C;
    /** Unix seconds: when created, then the server's time once sent. */
    time: number;
    /** `out` for messages this account sent (on any of its instances), `in` for received ones. */
    flow: 'in' | 'out';
    status: 'unSend' | 'success' | 'fail';
    /** The server's sequence number (0 until sent). */
    sequence: number;
    /** Same as `payload.text`. */
    text: string;
    /** `time` in Unix milliseconds. */
    timeMs: number;
  }

  /** `tim.createTextMessage(options)`. */
  interface CreateTextMessageOptions {
    /** The receiver's userID. */
    to: string;
    conversationType: TYPES.CONV_C2C;
    payload: { text: string };
  }

  /** `tim.sendMessage({to, text})`: the short form of this SDK. */
  interface SendMessageOptions {
    to: string;
    text: string;
  }

  /** `imResponse.data` of `sendMessage`. */
  interface SendMessageData {
    /** The message, `status: 'success'` (the object given to `sendMessage`, updated). */
    message: Message;
    sequence: number;
    /** Unix seconds. */
    time: number;
    timeMs: number;
  }

  // ---- events -------------------------------------------------------------------------------------

  /** The `data` of each event. */
  interface EventData {
    sdkStateReady: undefined;
    sdkStateNotReady: undefined;
    kickedOut: KickedOutData;
    netStateChange: { state: NetState };
    error: { code: number; message: string };
    sdkDestroy: { SDKAppID: number };
    onMessageReceived: Message[];
  }

  /** What a listener receives. */
  interface TimEvent<N extends EventName = EventName> {
    name: N;
    data: EventData[N];
  }

  type Listener<N extends EventName = EventName> = (event: TimEvent<N>) => void;

  // ---- calls --------------------------------------------------------------------------------------

  /** `imResponse`. */
  interface ImResponse<D> {
    code: 0;
    data: D;
  }

  interface LoginData {
    actionStatus: 'OK';
    errorCode: 0;
    errorInfo: '';
    /** Present (true) when this instance was already logged in as that user. */
    repeatLogin?: true;
  }

  /** `imError`: every rejection and every thrown error of the SDK. */
  interface TimError extends Error {
    name: 'TimError';
    /** The numeric code (see docs/error-codes.md). */
    code: number;
    /** The table's constant name, e.g. `USER_NOT_LOGGED_IN`; `UNKNOWN` for codes of a newer server. */
    codeName: string;
    /** `{}`; a failed `sendMessage(message)` gives `{message}` with `status: 'fail'`. */
    data: { message?: Message };
  }

  /** A constructor with the W3C WebSocket shape (the browser's, the `ws` package, an adapter). */
  type WebSocketConstructor = new (url: string) => unknown;

  interface CreateOptions {
    /** A positive integer, as a number or a numeric string. */
    SDKAppID: number | string;
    /**
     * The server's WebSocket URL, e.g. `ws://127.0.0.1:9000/ws` as tim-server prints it, or an array of
     * 1 to 16 URLs of one deployment's nodes: the SDK starts at a random one (instances spread evenly)
     * and moves on to the next when a connect fails (each URL at most once per reconnect backoff delay).
     * An `http://` or `https://` URL throws 8003, naming the `ws://` or `wss://` one to use.
     */
    serverUrl?: string | string[];
    /** The official SDK's name for the server URL (the same shapes); `serverUrl` wins when both are given. */
    proxyServer?: string | string[];
    /** The WebSocket constructor; default: the global `WebSocket`, or `ws` in Node. */
    WebSocket?: WebSocketConstructor;
    /**
     * `setLogLevel`'s level, set before the instance logs its first line ("instance created"): 0 log
     * (default), 1 info, 2 warn, 3 error, 4 none; shared by all instances.
     */
    logLevel?: 0 | 1 | 2 | 3 | 4;
  }

  interface LoginOptions {
    userID: string;
    userSig: string;
  }

  /** Internal counters for leak tests; not a stable API. */
  interface DebugCounts {
    listeners: number;
    pendingPromises: number;
    sockets: number;
    liveSockets: number;
    liveClosures: number;
    /** The instance's next timer (`Date.now()` ms), `null` when nothing is scheduled (no reconnect can follow). */
    nextDeadline: number | null;
  }

  /** An SDK instance (`TIM.create(...)`); the official type name. */
  interface ChatSDK {
    login(options: LoginOptions): Promise<ImResponse<LoginData>>;
    logout(): Promise<ImResponse<Record<string, never>>>;
    /** A C2C text message to send with `sendMessage`; `status: 'unSend'`. */
    createTextMessage(options: CreateTextMessageOptions): Message;
    /** Sends a message from `createTextMessage` (or `{to, text}`); needs the ready state. */
    sendMessage(message: Message | SendMessageOptions): Promise<ImResponse<SendMessageData>>;
    on<N extends EventName>(name: N, listener: Listener<N>, context?: unknown): void;
    once<N extends EventName>(name: N, listener: Listener<N>, context?: unknown): void;
    off<N extends EventName>(name: N, listener: Listener<N>, context?: unknown, once?: boolean): void;
    isReady(): boolean;
    getLoginUser(): string;
    /** 0 log (default), 1 info, 2 warn, 3 error, 4 none. */
    setLogLevel(level: number): void;
    /** Accepted for compatibility (e.g. `tim-upload-plugin`); this SDK uses no plugin. */
    registerPlugin(plugins: Record<string, unknown>): void;
    destroy(): Promise<ImResponse<Record<string, never>>>;
    /** @internal Runtime adapters: a network change. */
    networkHint(hint: 'online' | 'offline'): void;
    /** @internal Leak-test counters. */
    __debugCounts(): DebugCounts;
  }

  /** Earlier name of {@link ChatSDK}. */
  type TimInstance = ChatSDK;

  /** The type of `TIM` itself. */
  type TimStatic = typeof TIM;

  /** Options of `TIM.init` in mini programs. */
  interface MiniProgramInitOptions {
    /** Package path of the wasm; default `/miniprogram_npm/tim-wasm/tim_wasm_bg.wasm` (`.wasm.br` allowed). */
    wasmPath?: string;
    /** A loader with WXWebAssembly's shape, for runtimes that name it differently. */
    wasmLoader?: { instantiate(path: string, imports: object): Promise<unknown> };
  }
}

export = TIM;
