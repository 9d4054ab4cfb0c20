/**
 * Ports the workbench may expose to a public address: SSH only (the workbench's sshd listens on 2222,
 * infra/constants.ts PORTS.ssh; test/policies-ports.test.ts keeps the two equal). Jupyter (8888) and
 * TensorBoard (6006, behind Jupyter) listen on loopback and are reached through SSM or an SSH tunnel.
 */
export const PUBLIC_PORTS: readonly number[] = Object.freeze([2222]);
