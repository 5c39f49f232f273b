/** Why an executor stopped before the run ended on its own. */
export type StopCause =
  | { kind: 'cancelled' } // abort requested (the run row is already cancelled)
  | { kind: 'client_gone' } // the sync caller disconnected: cancel the run
  | { kind: 'shutdown' } // this process is stopping: hand the run back to the queue
  | { kind: 'lease_lost' } // the fence no longer holds: stop without writing

/** The abort reason (and thrown error) that stops an executor; `stop` says why. */
export class RunStopped extends Error {
  constructor(readonly stop: StopCause) {
    super(`run stopped: ${stop.kind}`)
  }
}
