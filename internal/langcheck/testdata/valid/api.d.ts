declare module "api-client" {
  export interface Options {
    baseUrl: string;
    timeoutMs?: number;
    headers?: Record<string, string>;
  }
  export function create(opts: Options): Client;
  export interface Client {
    get<T = unknown>(path: string): Promise<T>;
  }
}
declare const VERSION: string;
export declare function helper(x: number): void;
