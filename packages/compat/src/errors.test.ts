import { AppError, invalidRequest } from '@openvesper/shared'
import { describe, expect, it } from 'vitest'
import { errorParam, pointerToParam, unsupported } from './errors.js'

describe('compat errors', () => {
  it('writes JSON pointers in the dotted notation of OpenAI param', () => {
    expect(pointerToParam('/messages/0/content')).toBe('messages[0].content')
    expect(pointerToParam('/tools/2/function/name')).toBe('tools[2].function.name')
    expect(pointerToParam('/a~1b/c~0d')).toBe('a/b.c~d')
    expect(pointerToParam('messages[1]')).toBe('messages[1]')
  })

  it('makes refusals ordinary invalid_request errors that name the field', () => {
    const err = unsupported('n', 'only n: 1 is supported')
    expect(err).toBeInstanceOf(AppError)
    expect(err.code).toBe('invalid_request')
    expect(errorParam(err)).toBe('n')
  })

  it('takes the param of a validation error from its first field path, and null when there is none', () => {
    expect(errorParam(invalidRequest('body is invalid', [{ path: '/messages/0/role', message: 'must be one of …' }]))).toBe('messages[0].role')
    expect(errorParam(new AppError('not_found', 'no such model'))).toBeNull()
  })
})
