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
