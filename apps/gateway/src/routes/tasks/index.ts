import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { parseSessionKey } from '@openvesper/sessions'
import { Type } from 'typebox'
import { ref } from '../../http/components.js'
import { defineFeature } from '../../http/feature.js'
import type { Services } from '../../services.js'
import {
  CreateTaskBody,
  ListTasksQuery,
  TaskDetailSchema,
  TaskFireSchema,
  TaskListSchema,
  TaskParams,
  TaskSchema,
  UpdateTaskBody,
  taskComponents,
  toTask,
  toTaskDetail,
  toTaskFire,
} from './schemas.js'

const TAG = 'Tasks'

/** Scheduled tasks of the caller's principal: another principal's task is a 404 on every route. */
const tasksRoutes: FastifyPluginAsyncTypebox<{ services: Pick<Services, 'tasks'> }> = async (app, { services }) => {
  const { tasks } = services

  app.get(
    '/tasks',
    {
      schema: {
        operationId: 'listTasks',
        summary: 'List scheduled tasks',
        description: "The caller's tasks, oldest first, a page at a time (follow `nextCursor`).",
        tags: [TAG],
        querystring: ListTasksQuery,
        response: { 200: ref(TaskListSchema) },
      },
      config: { auth: { scopes: ['runs:read'] } },
    },
    async (request) => {
      const page = await tasks.list(request.principal, request.query)
      return { items: page.items.map(toTask), nextCursor: page.nextCursor }
    },
  )

  app.post(
    '/tasks',
    {
      schema: {
        operationId: 'createTask',
        summary: 'Schedule a task',
        description:
          'An agent run on a schedule: a cron expression (5 or 6 fields) in an IANA time zone, a fixed interval, or a single time. A pattern that never fires (`0 0 31 2 *`), an unknown time zone, an interval below the minimum (OPENVESPER_SCHEDULER_MIN_INTERVAL_MS) or an unknown agent is a 400 with the reason. Each tick starts one async run, whichever gateway or worker fires it.',
        tags: [TAG],
        body: CreateTaskBody,
        response: { 201: ref(TaskSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request, reply) => {
      const body = request.body
      const sessionKey = body.sessionKey === undefined ? undefined : parseSessionKey(body.sessionKey)
      const task = await tasks.create(request.principal, { ...body, ...(sessionKey === undefined ? {} : { sessionKey }) })
      return reply.code(201).send(toTask(task))
    },
  )

  app.get(
    '/tasks/:id',
    {
      schema: {
        operationId: 'getTask',
        summary: 'Get a task',
        description: 'The task, its next five fire times and its run history (fired at, tick time, run id, outcome), newest first.',
        tags: [TAG],
        params: TaskParams,
        response: { 200: ref(TaskDetailSchema) },
      },
      config: { auth: { scopes: ['runs:read'] } },
    },
    async (request) => toTaskDetail(await tasks.detail(request.principal, request.params.id)),
  )

  app.patch(
    '/tasks/:id',
    {
      schema: {
        operationId: 'updateTask',
        summary: 'Edit a task',
        description: 'Changes the schedule, message, name, overlap policy or enabled flag. A new schedule fires only on its own times, from now on.',
        tags: [TAG],
        params: TaskParams,
        body: UpdateTaskBody,
        response: { 200: ref(TaskSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request) => toTask(await tasks.update(request.principal, request.params.id, request.body)),
  )

  app.delete(
    '/tasks/:id',
    {
      schema: {
        operationId: 'deleteTask',
        summary: 'Delete a task',
        description: 'The task and its history go; runs it started stay.',
        tags: [TAG],
        params: TaskParams,
        response: { 204: Type.Null({ description: 'Deleted.' }) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request, reply) => {
      await tasks.delete(request.principal, request.params.id)
      return reply.code(204).send(null)
    },
  )

  app.post(
    '/tasks/:id/pause',
    {
      schema: {
        operationId: 'pauseTask',
        summary: 'Pause a task',
        description: 'No tick fires while paused; the ticks it misses are not fired later.',
        tags: [TAG],
        params: TaskParams,
        response: { 200: ref(TaskSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request) => toTask(await tasks.pause(request.principal, request.params.id)),
  )

  app.post(
    '/tasks/:id/resume',
    {
      schema: {
        operationId: 'resumeTask',
        summary: 'Resume a task',
        description: 'Fires again from the first tick after now: no burst of the ticks missed while paused.',
        tags: [TAG],
        params: TaskParams,
        response: { 200: ref(TaskSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request) => toTask(await tasks.resume(request.principal, request.params.id)),
  )

  app.post(
    '/tasks/:id/fire',
    {
      schema: {
        operationId: 'fireTask',
        summary: 'Run a task now',
        description: 'Starts one run of the task now (also when paused). The next scheduled fire time does not move.',
        tags: [TAG],
        params: TaskParams,
        response: { 202: ref(TaskFireSchema) },
      },
      config: { auth: { scopes: ['runs:write'] } },
    },
    async (request, reply) => {
      const fire = await tasks.fireNow(request.principal, request.params.id)
      return reply.code(202).send(toTaskFire(fire))
    },
  )
}

/** `/tasks`: agents on a schedule. */
export const tasksFeature = defineFeature({
  tag: { name: TAG, description: 'Agent runs on a schedule (cron with a time zone, fixed interval, single time), exactly once per tick across instances.' },
  components: taskComponents,
  needs: ['tasks'],
  plugin: tasksRoutes,
})
