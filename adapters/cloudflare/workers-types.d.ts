// The slice of the Workers runtime types Kortex uses (the full
// @cloudflare/workers-types would replace the DOM lib the core compiles with).
declare module 'cloudflare:workers' {
  export interface SqlCursor<T> extends Iterable<T> {
    toArray(): T[]
    one(): T
    readonly rowsWritten: number
  }
  export interface SqlStorage {
    exec<T = Record<string, SqlStorageValue>>(query: string, ...bindings: unknown[]): SqlCursor<T>
  }
  export type SqlStorageValue = ArrayBuffer | string | number | null
  export interface DurableObjectStorage {
    readonly sql: SqlStorage
    transactionSync<T>(fn: () => T): T
    setAlarm(when: number | Date): Promise<void>
    getAlarm(): Promise<number | null>
    deleteAlarm(): Promise<void>
  }
  export interface DurableObjectState {
    readonly storage: DurableObjectStorage
    blockConcurrencyWhile<T>(fn: () => Promise<T>): Promise<T>
    readonly id: DurableObjectId
  }
  export interface DurableObjectId {
    toString(): string
    readonly name?: string
  }
  export abstract class DurableObject<Env = unknown> {
    protected ctx: DurableObjectState
    protected env: Env
    constructor(ctx: DurableObjectState, env: Env)
    alarm?(): void | Promise<void>
  }
  export abstract class WorkerEntrypoint<Env = unknown> {
    protected ctx: { waitUntil(p: Promise<unknown>): void }
    protected env: Env
  }
}
