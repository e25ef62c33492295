// `node --import ./log-loads.mjs`: every module URL the process resolves is
// appended to the file KORTEX_TEST_LOADS names (what a test says was loaded).
import { register } from 'node:module'

register(new URL('./log-loads-hooks.mjs', import.meta.url))
