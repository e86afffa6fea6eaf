/** A page of a keyset-paged list: the items, and the key to pass as `after` for the next page. */
export interface Page<T, K> {
  items: T[];
  next: K | null;
}

/**
 * Cuts a page from `rows` fetched with `LIMIT limit + 1` in key order: the extra row only says
 * that a next page exists, so `next` is null exactly on the last page.
 */
export function pageOf<T, K>(rows: T[], limit: number, key: (t: T) => K): Page<T, K> {
  if (rows.length <= limit) return { items: rows, next: null };
  const items = rows.slice(0, limit);
  return { items, next: key(items[items.length - 1]!) };
}
