/**
 * Client bookkeeping for servers whose library has no registry of its own (raw floors, h3, Hono):
 * all clients, by id, and by group. Libraries that bring their own (ssehub, better-sse channels)
 * use theirs instead.
 */
/** A client as every bench server names it, the way ssehub's hub does. */
export interface ClientRef {
  readonly group: string;
  readonly id: string;
}

export class Registry<T> {
  readonly all = new Set<T>();
  readonly byId = new Map<string, T>();
  readonly byGroup = new Map<string, Set<T>>();

  add({ group, id }: ClientRef, client: T): void {
    this.all.add(client);
    this.byId.set(id, client);
    let members = this.byGroup.get(group);
    if (!members) this.byGroup.set(group, (members = new Set()));
    members.add(client);
  }

  remove({ group, id }: ClientRef, client: T): void {
    this.all.delete(client);
    if (this.byId.get(id) === client) this.byId.delete(id);
    const members = this.byGroup.get(group);
    members?.delete(client);
    if (members?.size === 0) this.byGroup.delete(group);
  }
}
