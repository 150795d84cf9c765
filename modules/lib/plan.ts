// Plan-then-apply, the core of every module: a module inspects the current state and builds an
// ordered list of steps, each saying in words what it changes and showing the exact commands and
// SQL it runs (secrets already masked). Idempotency is "the plan is empty", check mode is
// "report the plan", and the result's changes/commands/queries are the plan itself.
export interface Step {
  /** One line a person can read: "create instance 15/main". */
  change: string;
  commands?: string[];
  queries?: string[];
  /** Whether this step alters the instance (false for, e.g., a temporary start). */
  counts?: boolean;
  apply(): Promise<void>;
}

export interface PlanReport {
  changed: boolean;
  changes: string[];
  commands: string[];
  queries: string[];
}

export function report(steps: Step[]): PlanReport {
  const counted = steps.filter((s) => s.counts !== false);
  return {
    changed: counted.length > 0,
    changes: counted.map((s) => s.change),
    commands: steps.flatMap((s) => s.commands ?? []),
    queries: steps.flatMap((s) => s.queries ?? []),
  };
}

/**
 * Applies steps in order. On failure, `undo` callbacks registered by the steps that did run are
 * called in reverse order (a creation rolls back to nothing), then the error is rethrown.
 */
export async function applySteps(steps: Step[], undo: Array<() => Promise<void>> = []): Promise<void> {
  try {
    for (const step of steps) {
      stepListener?.(step.change);
      await step.apply();
      if (step.counts !== false) journal.push(step.change);
    }
  } catch (err) {
    for (const u of [...undo].reverse()) {
      try {
        await u();
      } catch {
        /* best effort: the original error is what the user needs to see */
      }
    }
    throw err;
  }
}

/**
 * What the task has applied so far (the changes of counted steps), whatever happens next: a task
 * that fails after committing part of its work reports it (changed=true, so handlers fire).
 * A creation that rolls back to nothing forgets what it undid (forgetAppliedSince).
 */
const journal: string[] = [];

export function appliedChanges(): string[] {
  return [...journal];
}

export function journalMark(): number {
  return journal.length;
}

export function forgetAppliedSince(mark: number): void {
  journal.length = Math.min(journal.length, mark);
}

/** Told each step as it starts (the `socle` command shows progress with it); modules set none. */
let stepListener: ((change: string) => void) | null = null;

export function onStepStart(listener: ((change: string) => void) | null): void {
  stepListener = listener;
}
