import { Option } from "commander";
import type { Stream } from "./output.js";

export interface CliContext {
  stdout: Stream;
  stderr: Stream;
  exitCode: number;
}

export function repoOption(): Option {
  return new Option("--repo <dir>", "the git repository holding tenants/ and integrations/").default(".");
}

export function formatOption(formats: string[]): Option {
  return new Option("--format <format>", "output format").choices(formats).default("text");
}
