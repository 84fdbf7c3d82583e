/** Placeholder: filled in by the wasm training-kernel work. */
export function registerWasmTrainingKernels(): void {}
