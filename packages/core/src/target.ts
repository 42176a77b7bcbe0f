/** A client of the hub: every connection belongs to one (group, id). */
export interface ClientRef {
  readonly group: string;
  readonly id: string;
}

/** What the app knows of a connected client when it filters recipients. */
export interface ClientInfo extends ClientRef {
  /** Whatever the authorize hook attached (claims, roles, ...). */
  readonly meta: Readonly<Record<string, unknown>>;
}

/** Whom an event is for. Stored with the event, so replay gives each client exactly its own. */
export type Target =
  | { readonly kind: 'all' }
  | { readonly kind: 'group'; readonly group: string }
  | { readonly kind: 'client'; readonly group: string; readonly id: string }
  | { readonly kind: 'clients'; readonly clients: readonly ClientRef[] }
  | { readonly kind: 'where'; readonly predicate: (client: ClientInfo) => boolean }
  /** A filter registered by name on every hub (`HubOptions.filters`), so it can cross nodes. */
  | { readonly kind: 'filter'; readonly filter: string; readonly args: unknown };

/** A named filter: decides per client whether an event with these arguments is for it. */
export type ClientFilter = (client: ClientInfo, args: unknown) => boolean;

/**
 * Whether an event for `target` is meant for `client`. `filters` resolves named filters; an
 * unknown name matches nobody.
 */
export function targets(
  target: Target,
  client: ClientInfo,
  filters: Readonly<Record<string, ClientFilter>> = {},
): boolean {
  switch (target.kind) {
    case 'all':
      return true;
    case 'group':
      return target.group === client.group;
    case 'client':
      return target.group === client.group && target.id === client.id;
    case 'clients':
      return target.clients.some((c) => c.group === client.group && c.id === client.id);
    case 'where':
      return target.predicate(client);
    case 'filter': {
      const filter = filters[target.filter];
      return filter?.(client, target.args) === true;
    }
  }
}
