// Public surface of @sierra-exec/create-execenv: the generator that `sierra new execenv`
// and `pnpm create @sierra-exec/execenv` share.
export {
  type CreatedExecEnv,
  type CreateExecEnvInput,
  corePeerRange,
  createExecEnvPackage,
  namesFor,
} from "./create-package.js";
export { nextSteps } from "./next-steps.js";
