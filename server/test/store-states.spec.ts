import { describe, expect, it } from 'vitest';

import {
  FLOW_RUN_STATES,
  TASK_RUN_STATES,
  TransitionRefusedError,
  assertFlowRunTransition,
  assertTaskRunTransition,
  canTransitionFlowRun,
  canTransitionTaskRun,
  isTerminalFlowRunState,
  isTerminalTaskRunState,
  type FlowRunState,
  type TaskRunState
} from '../src/store/states.js';

// The whole allowed set, written out: any change to the rules has to change this list too.
const FLOW_ALLOWED = [
  'Scheduled>Pending',
  'Scheduled>Late',
  'Scheduled>Cancelled',
  'Scheduled>Skipped',
  'Late>Pending',
  'Late>Cancelled',
  'Late>Skipped',
  'Pending>Running',
  'Pending>Cancelled',
  'Running>Completed',
  'Running>Failed',
  'Running>Crashed',
  'Running>Cancelled'
];

const TASK_ALLOWED = [
  'Pending>Running',
  'Pending>Cancelled',
  'Pending>Completed',
  'Running>Completed',
  'Running>Failed',
  'Running>Crashed',
  'Running>Cancelled',
  'Running>AwaitingRetry',
  'AwaitingRetry>Retrying',
  'AwaitingRetry>Cancelled',
  'AwaitingRetry>Crashed',
  'Retrying>Completed',
  'Retrying>Failed',
  'Retrying>Crashed',
  'Retrying>Cancelled',
  'Retrying>AwaitingRetry'
];

describe('flow-run states', () => {
  it('allows exactly the listed transitions', () => {
    const allowed = FLOW_RUN_STATES.flatMap(from =>
      FLOW_RUN_STATES.filter(to => canTransitionFlowRun(from, to)).map(
        to => `${from}>${to}`
      )
    );
    expect(allowed.sort()).toEqual([...FLOW_ALLOWED].sort());
  });

  it('has Completed, Failed, Crashed, Cancelled and Skipped as terminal', () => {
    expect(FLOW_RUN_STATES.filter(isTerminalFlowRunState)).toEqual([
      'Completed',
      'Failed',
      'Crashed',
      'Cancelled',
      'Skipped'
    ] satisfies FlowRunState[]);
  });

  it('refuses with an error naming the run and both states', () => {
    expect(() => assertFlowRunTransition('r1', 'Completed', 'Running')).toThrow(
      new TransitionRefusedError('flow_run', 'r1', 'Completed', 'Running')
    );
    const error = (() => {
      try {
        assertFlowRunTransition('r1', 'Scheduled', 'Bogus');
      } catch (e) {
        return e as TransitionRefusedError;
      }
    })();
    expect(error).toMatchObject({
      kind: 'flow_run',
      id: 'r1',
      from: 'Scheduled',
      to: 'Bogus'
    });
    expect(error?.message).toBe(
      'Flow run r1: transition Scheduled → Bogus is not allowed'
    );
    expect(() =>
      assertFlowRunTransition('r1', 'Pending', 'Running')
    ).not.toThrow();
  });
});

describe('task-run states', () => {
  it('allows exactly the listed transitions', () => {
    const allowed = TASK_RUN_STATES.flatMap(from =>
      TASK_RUN_STATES.filter(to => canTransitionTaskRun(from, to)).map(
        to => `${from}>${to}`
      )
    );
    expect(allowed.sort()).toEqual([...TASK_ALLOWED].sort());
  });

  it('has Completed, Failed, Crashed and Cancelled as terminal', () => {
    expect(TASK_RUN_STATES.filter(isTerminalTaskRunState)).toEqual([
      'Completed',
      'Failed',
      'Crashed',
      'Cancelled'
    ] satisfies TaskRunState[]);
  });

  it('refuses with a task-run error', () => {
    expect(() => assertTaskRunTransition('t1', 'Pending', 'Retrying')).toThrow(
      'Task run t1: transition Pending → Retrying is not allowed'
    );
    expect(() =>
      assertTaskRunTransition('t1', 'AwaitingRetry', 'Retrying')
    ).not.toThrow();
  });
});
