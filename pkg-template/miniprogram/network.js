/**
 * Network hints from a mini-program runtime: `onNetworkStatusChange` (`res.isConnected`) gives `online` /
 * `offline`; `onAppShow` gives `online`, because a runtime may have suspended the socket while the app was
 * in the background and a pending reconnect should be tried at once. `onAppHide` gives no hint: a hidden app
 * still has its network, and a socket the runtime closes is seen as a close.
 */
'use strict';

/**
 * Registers the runtime callbacks once and calls `onHint('online' | 'offline')`. Returns a function that
 * unregisters them where the runtime can (`offNetworkStatusChange` / `offAppShow`).
 */
function watchNetwork(api, onHint) {
  function onStatus(res) {
    onHint(res && res.isConnected === false ? 'offline' : 'online');
  }
  function onShow() {
    onHint('online');
  }
  if (typeof api.onNetworkStatusChange === 'function') api.onNetworkStatusChange(onStatus);
  if (typeof api.onAppShow === 'function') api.onAppShow(onShow);
  return function unwatch() {
    if (typeof api.offNetworkStatusChange === 'function') api.offNetworkStatusChange(onStatus);
    if (typeof api.offAppShow === 'function') api.offAppShow(onShow);
  };
}

module.exports = { watchNetwork: watchNetwork };
