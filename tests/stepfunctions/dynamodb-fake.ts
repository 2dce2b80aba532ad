/**
 * One DynamoDB table in memory, for the hand-off claims and the validation tallies. It evaluates
 * the expressions the definition sends (not a stand-in per state), so a wrong ConditionExpression
 * or UpdateExpression in the ASL fails the tests; anything outside the small grammar it knows throws.
 */
import { StatesError } from './states-error.js';

export interface AttributeValue {
  S?: string;
  N?: string;
}
export type Item = Record<string, AttributeValue>;

interface Expr {
  ConditionExpression?: string;
  ExpressionAttributeNames?: Record<string, string>;
  ExpressionAttributeValues?: Record<string, AttributeValue>;
}

/** Request shapes of the optimized DynamoDB integration, as the definition sends them. */
export type PutItemRequest = Expr & { TableName: string; Item: Item };
export type KeyRequest = Expr & { TableName: string; Key: Item };
export type UpdateItemRequest = KeyRequest & { UpdateExpression: string };

export class FakeTable {
  readonly items = new Map<string, Item>();

  constructor(readonly name: string) {}

  private check(table: unknown): void {
    if (table !== this.name) throw new StatesError('DynamoDB.ResourceNotFoundException', `Requested resource not found: Table: ${String(table)} not found`);
  }

  private condition(item: Item | undefined, req: Expr): void {
    if (!req.ConditionExpression) return;
    if (!evaluate(req.ConditionExpression, item ?? {}, req)) {
      throw new StatesError(
        'DynamoDB.ConditionalCheckFailedException',
        'The conditional request failed (Service: AmazonDynamoDBv2; Status Code: 400; Error Code: ConditionalCheckFailedException)',
      );
    }
  }

  putItem(req: PutItemRequest): Record<string, never> {
    this.check(req.TableName);
    const pk = keyOf(req.Item);
    this.condition(this.items.get(pk), req);
    this.items.set(pk, structuredClone(req.Item));
    return {};
  }

  getItem(req: KeyRequest): { Item?: Item } {
    this.check(req.TableName);
    const item = this.items.get(keyOf(req.Key));
    return item ? { Item: structuredClone(item) } : {};
  }

  deleteItem(req: KeyRequest): Record<string, never> {
    this.check(req.TableName);
    const pk = keyOf(req.Key);
    this.condition(this.items.get(pk), req);
    this.items.delete(pk);
    return {};
  }

  updateItem(req: UpdateItemRequest): Record<string, never> {
    this.check(req.TableName);
    const pk = keyOf(req.Key);
    const current = this.items.get(pk);
    this.condition(current, req);
    const item: Item = structuredClone(current ?? req.Key);
    applyUpdate(req.UpdateExpression, item, req);
    this.items.set(pk, item);
    return {};
  }
}

function keyOf(item: Item): string {
  const pk = item.pk?.S;
  if (pk === undefined) throw new StatesError('DynamoDB.AmazonDynamoDBException', 'One of the required keys was not given a value');
  return pk;
}

function nameOf(token: string, req: Expr): string {
  if (!token.startsWith('#')) return token;
  const name = req.ExpressionAttributeNames?.[token];
  if (name === undefined) throw new Error(`expression uses ${token}, which ExpressionAttributeNames does not define`);
  return name;
}

function valueOf(token: string, req: Expr): AttributeValue {
  const value = req.ExpressionAttributeValues?.[token];
  if (value === undefined) throw new Error(`expression uses ${token}, which ExpressionAttributeValues does not define`);
  return value;
}

const same = (a: AttributeValue | undefined, b: AttributeValue) => a !== undefined && a.S === b.S && a.N === b.N;

/** `A OR B`, `A AND B`, `attribute_not_exists(x)`, `x = :v` (AND binds tighter than OR). */
function evaluate(expression: string, item: Item, req: Expr): boolean {
  return expression.split(/\s+OR\s+/).some((conj) =>
    conj.split(/\s+AND\s+/).every((term) => {
      const t = term.trim().replace(/^\((.*)\)$/, '$1');
      const notExists = /^attribute_not_exists\(\s*([#\w]+)\s*\)$/.exec(t);
      if (notExists) return item[nameOf(notExists[1] as string, req)] === undefined;
      const eq = /^([#\w]+)\s*=\s*(:\w+)$/.exec(t);
      if (eq) return same(item[nameOf(eq[1] as string, req)], valueOf(eq[2] as string, req));
      throw new Error(`the fake table does not understand the condition "${t}"`);
    }),
  );
}

/** `SET a = :v, b = if_not_exists(b, :v)` and `ADD n :n` clauses. */
function applyUpdate(expression: string, item: Item, req: Expr): void {
  for (const clause of expression.split(/\s+(?=SET\s|ADD\s)/)) {
    const [verb, ...rest] = clause.trim().split(/\s+/);
    // Commas between actions, not the ones inside if_not_exists(…, …).
    const actions = rest.join(' ').split(/\s*,\s*(?![^()]*\))/);
    for (const action of actions) {
      if (verb === 'SET') {
        const ifNotExists = /^([#\w]+)\s*=\s*if_not_exists\(\s*([#\w]+)\s*,\s*(:\w+)\s*\)$/.exec(action);
        const plain = /^([#\w]+)\s*=\s*(:\w+)$/.exec(action);
        if (ifNotExists) {
          const name = nameOf(ifNotExists[1] as string, req);
          item[name] = item[nameOf(ifNotExists[2] as string, req)] ?? valueOf(ifNotExists[3] as string, req);
        } else if (plain) {
          item[nameOf(plain[1] as string, req)] = valueOf(plain[2] as string, req);
        } else throw new Error(`the fake table does not understand "SET ${action}"`);
      } else if (verb === 'ADD') {
        const add = /^([#\w]+)\s+(:\w+)$/.exec(action);
        if (!add) throw new Error(`the fake table does not understand "ADD ${action}"`);
        const name = nameOf(add[1] as string, req);
        const by = Number(valueOf(add[2] as string, req).N);
        item[name] = { N: String(Number(item[name]?.N ?? '0') + by) };
      } else throw new Error(`the fake table does not understand the clause "${clause}"`);
    }
  }
}
