// asl-validator 4 ships no type declarations; this is the one call the runner makes.
declare module 'asl-validator' {
  const aslValidator: (
    definition: unknown,
    options?: { checkArn?: boolean; checkPaths?: boolean },
  ) => { isValid: boolean; errorsText: (separator?: string) => string };
  export default aslValidator;
}
