import type { Command } from "commander";

/** Adds one subcommand (with its options, help and action) to the `vigil` program. */
export type CommandRegistration = (program: Command) => void;
