// TypeScript without JSX: generics, overloads, decorators, namespaces,
// mapped and conditional types, the angle-bracket assertion.
export type DeepPartial<T> = { [K in keyof T]?: T[K] extends object ? DeepPartial<T[K]> : T[K] };
type ElementOf<T> = T extends readonly (infer E)[] ? E : never;

function logged(target: unknown, context: ClassMethodDecoratorContext) {
  return target;
}

export class Store<S extends Record<string, unknown>> {
  private listeners: Array<(s: S) => void> = [];
  constructor(private state: S) {}

  @logged
  set<K extends keyof S>(key: K, value: S[K]): void {
    this.state = { ...this.state, [key]: value };
    this.listeners.forEach((l) => l(this.state));
  }

  subscribe(fn: (s: S) => void): () => void {
    this.listeners.push(fn);
    return () => void (this.listeners = this.listeners.filter((l) => l !== fn));
  }
}

export function parse(input: string): number;
export function parse(input: number): string;
export function parse(input: string | number): string | number {
  return typeof input === "string" ? Number(input) : String(input);
}

export namespace Util {
  export const clamp = (n: number, lo = 0, hi = 1) => Math.min(hi, Math.max(lo, n));
}

declare global {
  interface Window {
    __STORE__?: Store<Record<string, unknown>>;
  }
}

const raw: unknown = "42";
const n = <string>raw;
let first: ElementOf<[1, 2]> | undefined;
const tuple = [1, "a"] as const;
export const enum Flag {
  A = 1 << 0,
  B = 1 << 1,
}
console.log(n!, first, tuple, Flag.A | Flag.B);
