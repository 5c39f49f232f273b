import { AppError } from '@openvesper/shared'

/**
 * A request the schema accepted but the gateway cannot serve as asked (`n: 2`, an image for a text-only
 * contract, a tool result without its call…). It is an ordinary `invalid_request` AppError whose
 * `details.param` names the offending field in the wire format's own notation (`messages[2].content[0]`), so
 * each surface's error handler can fill OpenAI's `param`.
 */
export function unsupported(param: string, message: string): AppError {
  return new AppError('invalid_request', message, { details: { param, errors: [{ path: param, message }] } })
}

/** The wire `param` an AppError names, if any (`details.param`, else the first field error's path). */
export function errorParam(err: AppError): string | null {
  const param = err.details?.param
  if (typeof param === 'string') return param
  const first = err.details?.errors?.[0]?.path
  return first === undefined || first === '' ? null : pointerToParam(first)
}

/**
 * A JSON pointer (`/messages/0/content`, as validation reports it) in the dotted notation OpenAI uses for
 * `param` (`messages[0].content`). A string already in that notation is returned unchanged.
 */
export function pointerToParam(pointer: string): string {
  if (!pointer.startsWith('/')) return pointer
  let out = ''
  for (const raw of pointer.slice(1).split('/')) {
    const segment = raw.replaceAll('~1', '/').replaceAll('~0', '~')
    if (/^\d+$/.test(segment)) out += `[${segment}]`
    else out += out === '' ? segment : `.${segment}`
  }
  return out
}

/** A gateway problem as the surface's error handler sees it: the HTTP status its code table chose, and the code. */
export interface GatewayProblem {
  status: number
  /** The gateway's error code (`invalid_request`, `not_found`, …) or a provider failure reason. */
  code?: string
  message: string
  /** The offending request field in the wire notation (`messages[0].content`), if known. */
  param?: string | null
}

/**
 * The status a failed model call or run reports on the compat surfaces, from its failure reason (core's
 * `ProviderFailure`s and the run failure reasons), so a pass-through error and a `run.failed` met mid-stream
 * get the same error type the SDKs retry on: rate limits 429, an unavailable or overloaded upstream 503, a
 * timeout 504, a request the upstream refused 400, anything else 502 (the gateway is fine, the upstream is not)
 * or, for the gateway's own failures, 500.
 */
export function failureStatus(reason: string): number {
  switch (reason) {
    case 'upstream_rate_limited':
      return 429
    case 'upstream_unavailable':
      return 503
    case 'upstream_timeout':
      return 504
    case 'upstream_bad_request':
      return 400
    case 'upstream_auth':
    case 'upstream_bad_response':
    case 'upstream_stream_interrupted':
      return 502
    case 'agent_not_found':
      return 404
    default:
      return 500
  }
}
