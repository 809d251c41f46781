// 32 random bits for an instance's seed: Web Crypto where the runtime has it (browsers, Node 20), else
// the top 32 bits of one `Math.random()` (mini-program runtimes have no `crypto`). Never low bits of a
// `Math.random()` product: V8 draws 52 bits, so `Math.random() * (2 ** 53 - 1)` is always odd.
export const random32 = () => {
  try {
    return crypto.getRandomValues(new Uint32Array(1))[0];
  } catch {
    return (Math.random() * 4294967296) >>> 0;
  }
};
