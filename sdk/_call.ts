import { KagziError } from "./errors.ts";

/** A builder that runs its request when awaited (once), like a lazy promise. */
export abstract class Call<T> implements Promise<T> {
  #promise?: Promise<T>;
  #namespace: string;
  /** Reported by `Object.prototype.toString`. */
  readonly [Symbol.toStringTag]: string = "KagziCall";

  /** A call in `namespace` unless `.namespace()` says otherwise. */
  constructor(namespace: string) {
    this.#namespace = namespace;
  }

  /** The namespace the request is made in. */
  namespace(ns: string): this {
    this.#namespace = ns;
    return this;
  }

  /** The namespace set on this call. */
  protected get ns(): string {
    return this.#namespace;
  }

  /** Sends the request. */
  protected abstract execute(): Promise<T>;

  /** Runs the request (once) and settles with its result. */
  then<A = T, B = never>(
    onfulfilled?: ((value: T) => A | PromiseLike<A>) | null,
    onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null,
  ): Promise<A | B> {
    this.#promise ??= this.execute().catch((err) => {
      throw KagziError.from(err);
    });
    return this.#promise.then(onfulfilled, onrejected);
  }

  /** Like `Promise#catch`. */
  catch<B = never>(onrejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<T | B> {
    return this.then(undefined, onrejected);
  }

  /** Like `Promise#finally`. */
  finally(onfinally?: (() => void) | null): Promise<T> {
    return this.then((v) => {
      onfinally?.();
      return v;
    }, (e) => {
      onfinally?.();
      throw e;
    });
  }
}
