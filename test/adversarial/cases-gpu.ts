/**
 * Outsider cases (GPU isolation: the device plugin, the GPU node class and pool, the toolkit's settings, the pods that ask for GPUs):
 * written from DESIGN.md's security model, the README's claims and the program, without reading the pack's rules.
 * test/adversarial/cases.ts adds them to CASES.
 */
import type { Case } from "./cases";

export const GPU_CASES: Case[] = [];
