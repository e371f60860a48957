# The two commands: `make run` (local stack) and `make test` (everything CI runs).
# Both bootstrap first, so they work on a fresh Debian machine.
PYTHON := .venv/bin/python
PYTEST_ARGS ?=
# Test workers (pytest-xdist): one per core; each starts its own DynamoDB Local.
TEST_WORKERS ?= auto

.PHONY: run test bench sim load clean-data

run:
	bash scripts/bootstrap.sh && $(PYTHON) scripts/run_local.py

test:
	bash scripts/bootstrap.sh && $(PYTHON) -m pytest -n $(TEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

bench:
	bash scripts/bootstrap.sh && $(PYTHON) -m bench

# Against a running `make run` (another shell): 100 tx/min for 10 minutes, then two bursts of
# 1,000 concurrent spends; figures and the books as JSON. LOAD_ARGS="--minutes 1 --burst 200".
LOAD_ARGS ?=
load:
	bash scripts/bootstrap.sh && $(PYTHON) -m scripts.load $(LOAD_ARGS)

# The seeded simulation (sim/, README "Reliability"): `make sim SEED=7 OPS=5000` replays a run exactly.
sim:
	bash scripts/bootstrap.sh && $(PYTHON) -m sim $(if $(SEED),--seed $(SEED)) --ops $(or $(OPS),20000)

# Local engine data kept by `make run` between runs.
clean-data:
	rm -rf .local/dynamodb-data

# --- AWS (infra/) -------------------------------------------------------------
# `make synth`: every stage's CloudFormation into infra/cdk.out/<stage> (git-ignored),
# offline and without AWS credentials, then cfn-lint over it.
# `make deploy STAGE=dev [SYNTH_ARGS='-c alarm_email=ops@example.com']`: synthesize that
# stage and deploy it with the CDK CLI (needs credentials and a bootstrapped account;
# README "Deploying to AWS").
STAGES := dev prod
STAGE ?= dev
SYNTH_ARGS ?=
CDK_ARGS ?=
CDK_CLI_VERSION := 2.1148.1
CDK := .local/cdk-cli/node_modules/.bin/cdk

.PHONY: synth deploy cdk-bootstrap

synth:
	bash scripts/bootstrap.sh
	for stage in $(STAGES); do rm -rf infra/cdk.out/$$stage && $(PYTHON) infra/app.py --stage $$stage $(SYNTH_ARGS) || exit 1; done
	$(PYTHON) -c 'import sys; from cfnlint.runner import main; sys.exit(main())' $(foreach s,$(STAGES),infra/cdk.out/$(s)/$(s).template.json)

deploy: $(CDK)
	bash scripts/bootstrap.sh
	rm -rf infra/cdk.out/$(STAGE) && $(PYTHON) infra/app.py --stage $(STAGE) $(SYNTH_ARGS)
	$(CDK) deploy --app infra/cdk.out/$(STAGE) --require-approval broadening $(CDK_ARGS)

# Once per AWS account and region: the bucket and roles `cdk deploy` uploads with.
cdk-bootstrap: $(CDK)
	$(CDK) bootstrap $(CDK_ARGS)

# The CDK CLI (npm), pinned and local to this checkout.
$(CDK):
	npm install --prefix .local/cdk-cli --no-fund --no-audit --loglevel=error aws-cdk@$(CDK_CLI_VERSION)
