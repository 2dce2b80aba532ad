/**
 * aws-local-stepfunctions 3.0.0 declares Node >= 22 for one API: every Task state calls
 * Promise.withResolvers (Node 22). CI also runs the suite on Node 20, so the standard function is
 * provided here when the runtime lacks it; on Node 22 nothing changes.
 */
interface Resolvers<T> {
  promise: Promise<T>;
  resolve: (value: T | PromiseLike<T>) => void;
  reject: (reason?: unknown) => void;
}

const PromiseWithResolvers = Promise as PromiseConstructor & { withResolvers?: <T>() => Resolvers<T> };

PromiseWithResolvers.withResolvers ??= <T>(): Resolvers<T> => {
  let resolve!: Resolvers<T>['resolve'];
  let reject!: Resolvers<T>['reject'];
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};
