/**
 * The adapter statechart as plain data for drawing: its states and the
 * transitions between them, read from the machine definition itself, so the
 * picture cannot drift from the code.
 */
import type { AnyStateMachine } from 'xstate';

export interface StatechartState {
  readonly id: string;
  readonly tags: readonly string[];
  readonly initial: boolean;
  readonly final: boolean;
}

export interface StatechartTransition {
  /** A state id, or `*` for a transition the machine takes from any state. */
  readonly from: string;
  readonly to: string;
  /** Events (with their guard, if any) that take it; several when they share an edge. */
  readonly events: readonly string[];
}

export interface Statechart {
  readonly id: string;
  readonly states: readonly StatechartState[];
  readonly transitions: readonly StatechartTransition[];
}

/** Any state, for transitions declared on the machine's root. */
export const ANY_STATE = '*';

interface TransitionLike {
  readonly eventType: string;
  readonly target?: readonly { readonly key: string }[] | undefined;
  readonly guard?: unknown;
}

function label(transition: TransitionLike): string {
  const delayed = /^xstate\.after\.([^.]+)\./.exec(transition.eventType);
  const event = delayed ? `after ${delayed[1]}` : transition.eventType;
  const guardName = describeGuard(transition.guard);
  // An eventless (`always`) transition is its guard alone.
  if (event === '') return guardName ? `[${guardName}]` : 'always';
  return guardName ? `${event} [${guardName}]` : event;
}

// A guard is a name, or a combinator such as `and([...])` holding names.
function describeGuard(guard: unknown): string | undefined {
  if (typeof guard === 'string') return guard;
  const combined = guard as { name?: string; guards?: unknown[] } | undefined;
  if (typeof guard === 'function' && Array.isArray(combined?.guards)) {
    const op = combined.name === 'or' ? ' || ' : ' && ';
    const parts = combined.guards.map(describeGuard);
    return combined.name === 'not' ? `!${parts[0]}` : parts.join(op);
  }
  return undefined;
}

/**
 * The states and targeted transitions of a flat machine (one level of states).
 *
 * @example
 * ```ts
 * const chart = statechartOf(adapterMachine);
 * chart.states.map((s) => s.id); // ['starting', 'up', 'degraded', 'down', 'stopping', 'stopped']
 * ```
 */
export function statechartOf(machine: AnyStateMachine): Statechart {
  const root = machine.root;
  const initial = root.definition.initial?.target?.[0]?.key;
  const states: StatechartState[] = Object.entries(root.states).map(([id, node]) => ({
    id,
    tags: [...node.tags],
    initial: id === initial,
    final: node.type === 'final',
  }));
  const edges = new Map<string, { from: string; to: string; events: string[] }>();
  const add = (from: string, transitions: readonly TransitionLike[]) => {
    for (const transition of transitions) {
      for (const target of transition.target ?? []) {
        const key = `${from}→${target.key}`;
        const edge = edges.get(key) ?? { from, to: target.key, events: [] };
        const text = label(transition);
        if (!edge.events.includes(text)) edge.events.push(text);
        edges.set(key, edge);
      }
    }
  };
  add(ANY_STATE, root.definition.transitions as readonly TransitionLike[]);
  for (const [id, node] of Object.entries(root.states)) {
    add(id, node.definition.transitions as readonly TransitionLike[]);
    add(id, (node.always ?? []) as readonly TransitionLike[]);
  }
  return { id: root.id, states, transitions: [...edges.values()] };
}
