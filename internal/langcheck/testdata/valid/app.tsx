import { createContext, useContext, useMemo, type ReactNode } from "react";

export interface User {
  id: string;
  name: string;
  roles?: readonly ("admin" | "editor")[];
}

type Props<T> = {
  items: T[];
  render: (item: T, index: number) => ReactNode;
  keyOf?: (item: T) => string;
};

export enum Status {
  Idle = "idle",
  Loading = "loading",
}

const UserContext = createContext<User | null>(null);

export function List<T extends { id: string }>({ items, render, keyOf = (i) => i.id }: Props<T>) {
  return <ul>{items.map((item, i) => <li key={keyOf(item)}>{render(item, i)}</li>)}</ul>;
}

export const identity = <T,>(x: T): T => x;

function assertUser(u: unknown): asserts u is User {
  if (typeof u !== "object" || u === null || !("id" in u)) throw new Error("not a user");
}

abstract class Repo<K, V> {
  protected readonly cache = new Map<K, V>();
  abstract load(key: K): Promise<V>;
  async get(key: K): Promise<V> {
    return this.cache.get(key) ?? (await this.load(key));
  }
}

export default function App({ user }: { user: User }) {
  const admin = useMemo(() => user.roles?.includes("admin") ?? false, [user]);
  const ctx = useContext(UserContext);
  const status = Status.Idle satisfies Status;
  return (
    <UserContext.Provider value={user}>
      <List<User> items={[user]} render={(u) => <b>{u.name}</b>} />
      {admin ? <span>admin</span> : null}
      {ctx?.name}
      {status as string}
    </UserContext.Provider>
  );
}
