#!/usr/bin/env node
// npm run help: every command of this project in one screen (each also takes --help).
console.log(`archaeo-workbench commands (each takes --help for its options):

  npm run plan -- --stack <name>   the offline plan: resources, policies, API rules, cost, quotas (no cloud)
  npm run prereqs                  install the Debian packages the tests run for real (progress per package)
  npm test                         prereqs, typecheck, lint, then the whole mocha suite (extra arguments go to mocha)
  npm run test:unit                the mocha suite only (npm run test:unit -- --help: mocha's options)
  npm run typecheck                tsc --noEmit
  npm run lint                     eslint
  npm run bench                    timings of the plan, the pack and 10/50/200-researcher stacks
  npm run gen:config               regenerate Pulumi.yaml's config: block from infra/config/schema.ts
  npm run gen:api-rules            regenerate the AWS API rules table from botocore
  npm run gen:replace-rules        regenerate the providers' replace-on-change table from their source (git mirrors)
  npm run gen:regions              refresh infra/data/regions.json (-- --from-aws asks AWS for GPU offerings)
  npm run restore -- workspace|home|prefix --stack <name> --researcher <id>
                                   restore a workspace (EBS snapshot), a home (AWS Backup) or an S3 area (versions): docs/runbooks.md
  npm run report -- --stack <name>  stopped workstations, parked researchers, month-to-date spend per researcher (AWS CLI)
  npx tsx tools/preflight.ts       before pulumi up: EKS API reachability, --quotas against this account
  npx tsx tools/check-hub-values.ts <chart dir>   the hub's values against the z2jh chart schema
  npx tsx tools/ttn.ts [--readme]  the time-to-notebook model (README's table; the plan prints it per stack)`);
