/**
 * A promise together with its `resolve`, for tests that hold a request at a point and release it
 * later. `Promise.withResolvers` does this from Node 22; Berth still supports Node 20.
 */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => undefined;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}
