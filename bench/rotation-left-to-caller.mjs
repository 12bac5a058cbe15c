// The bench sandbox's rotation function: RotateSecret creates the pending version and this fails the first
// step, so a measured process can run createSecret itself, as Secrets Manager would invoke it.
export const handler = async () => {
  throw new Error("left to the measured process");
};
