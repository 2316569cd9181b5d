# LocalStack (pinned localstack-core 4.14.0, host mode, EC2 only) for the AWS provider's integration tests,
# and Amazon's EC2 metadata mock (AEMM) to check the IMDSv2 client against. Idempotent; quick when present.
bash "$ROOT/localstack/install.sh"
export GOBIN="${GOBIN:-$ROOT/.cache/gobin}"
mkdir -p "$GOBIN"
if [ ! -x "$GOBIN/ec2-metadata-mock" ]; then
  log "go install ec2-metadata-mock@v1.13.0"
  (cd /tmp && GOFLAGS=-mod=mod go install github.com/aws/amazon-ec2-metadata-mock/cmd/ec2-metadata-mock@v1.13.0)
fi
