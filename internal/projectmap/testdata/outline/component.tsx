import React from "react";

/*
export function commentedOut() {}
*/
export const API_URL = "https://example.com";
export default function App(props: Props) {
  return <div />;
}

export async function* stream(n: number) {}

export interface Props {
  title: string;
}

export type Mode = "a" | "b";
export enum Color { Red, Green }
declare module "foo" {
  export function inModule(): void;
}

export class Store<T> extends Base {
  private items: T[] = [];
  static create(): Store<number> {
    return new Store();
  }
  constructor(private readonly name: string) {
    super();
  }
  async load(id: string): Promise<T> {
    if (id) {
      return this.items[0];
    }
  }
  get size() {
    return 0;
  }
}

const helper = (x) => x * 2;
let counter = 0;
module.exports.legacy = function () {};
exports.other = 1;
function plain() {}
