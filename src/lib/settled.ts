/** A promise's outcome held as a value: its own answer or its own error. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** A promise's outcome as a value: a promise asked for early never rejects unhandled when nobody awaits it. */
export function settled<T>(promise: Promise<T>): Promise<Settled<T>> {
  return promise.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

/** The value of an outcome once settled, or its error thrown. */
export async function valueOf<T>(outcome: Promise<Settled<T>>): Promise<T> {
  const o = await outcome;
  if (!o.ok) throw o.error;
  return o.value;
}
