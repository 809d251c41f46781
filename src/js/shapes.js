// The objects the SDK hands to apps on its hot paths, built here as literals: one call from the wasm
// per object instead of one per key (each key a string decoded and a `Reflect.set`), and own data
// properties whatever setters `Object.prototype` may carry.
export const response = (data) => ({ code: 0, data });
export const loginData = (repeat) =>
  repeat
    ? { actionStatus: 'OK', errorCode: 0, errorInfo: '', repeatLogin: true }
    : { actionStatus: 'OK', errorCode: 0, errorInfo: '' };
export const listenerEvent = (name, data) => ({ name, data });
// `KICKED_OUT`'s data: `platform` and `time` only when the server named them.
export const kickData = (type, platform, time) => {
  const data = { type };
  if (platform !== undefined) data.platform = platform;
  if (time !== undefined) data.time = time;
  return data;
};
