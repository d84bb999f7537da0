#!/usr/bin/env bash
# Put the generic role template behind the onboarding page's Launch Stack
# link into the stack's RoleTemplatesBucket: CloudFormation's quick-create
# reads templates from S3 only. Run after every `sam deploy` that changes
# the vendor principal or the role name (the template carries both).
#
#   dev/publish-role-template.sh <stack-name>
set -euo pipefail
stack=${1:?usage: dev/publish-role-template.sh <stack-name>}
output() {
  aws cloudformation describe-stacks --stack-name "$stack" \
    --query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue" --output text
}
api=$(output ApiUrl)
bucket=$(output RoleTemplatesBucketName)
template=$(mktemp)
trap 'rm -f "$template"' EXIT
# The API serves the template it links to (public: it holds no secret).
curl -fsS "$api/v1/aws/role-template.yaml" -o "$template"
aws s3 cp "$template" "s3://$bucket/role-templates/role.yaml" \
  --content-type application/yaml --only-show-errors
echo "published https://$bucket.s3.amazonaws.com/role-templates/role.yaml"
