#!/usr/bin/env bash
# Create or update greenlight's demo environment stack without undoing greenlight's work.
#
#   environment/deploy.sh STACK [ParameterKey=value ...]
#
# Parameters you do not pass keep their current values (aws cloudformation deploy).
#
# Once the service exists, greenlight owns its image: every push registers a task
# definition revision (cloned from the service's current one, image pinned to the pushed
# digest) and updates the service. A stack update that registered the stack's own task
# definition with an older ImageUri would deploy that older image back. So unless you pass
# ImageUri=... yourself, this script looks up the image the service runs now and passes
# that: a stack update that changes the task definition (CPU, memory, ...) then deploys the
# same image with the new settings, through the same blue/green checks as any deployment.
#
# Needs the AWS CLI with credentials and a region (AWS_REGION or aws configure).
set -euo pipefail

usage() {
	echo "usage: $0 STACK [ParameterKey=value ...]   (docs/walkthrough.md)" >&2
	exit 2
}
[[ $# -ge 1 && $1 != -* ]] || usage
stack=$1
shift
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

overrides=("$@")
pinned=false
for kv in "${overrides[@]+"${overrides[@]}"}"; do
	[[ $kv == [A-Za-z]*=* ]] || {
		echo "deploy.sh: \"$kv\": write parameters as ParameterKey=value" >&2
		exit 2
	}
	[[ $kv == ImageUri=* ]] && pinned=true
done

# output NAME prints one of the stack's outputs, or nothing when the stack or the output
# does not exist (yet).
output() {
	local v
	v=$(aws cloudformation describe-stacks --stack-name "$stack" \
		--query "Stacks[0].Outputs[?OutputKey=='$1'].OutputValue | [0]" --output text 2>/dev/null) || return 0
	[[ $v == None ]] || printf '%s' "$v"
}

if ! $pinned; then
	cluster=$(output ClusterName)
	service=$(output ServiceName)
	container=$(output ContainerName)
	if [[ -n $cluster && -n $service && -n $container ]]; then
		described=$(aws ecs describe-services --cluster "$cluster" --services "$service" \
			--query "services[0].[status, length(deployments), deployments[?status=='PRIMARY'].rolloutState | [0], taskDefinition]" \
			--output text)
		read -r status count rollout taskdef <<<"$described"
		if [[ $status == ACTIVE ]]; then
			if [[ $count != 1 || $rollout == IN_PROGRESS ]]; then
				echo "deploy.sh: $cluster/$service is deploying; a stack update now would stop that deployment." >&2
				echo "deploy.sh: run again when it has ended (greenlight status, or the ECS console's Deployments tab)." >&2
				exit 1
			fi
			image=$(aws ecs describe-task-definition --task-definition "$taskdef" \
				--query "taskDefinition.containerDefinitions[?name=='$container'].image | [0]" --output text)
			if [[ -z $image || $image == None ]]; then
				echo "deploy.sh: $taskdef has no container named $container; pass ImageUri=... yourself" >&2
				exit 1
			fi
			echo "deploy.sh: keeping the image $cluster/$service runs now: $image" >&2
			overrides+=("ImageUri=$image")
		fi
	fi
fi

args=(cloudformation deploy --stack-name "$stack" --template-file "$here/template.yaml"
	--capabilities CAPABILITY_IAM --no-fail-on-empty-changeset)
if [[ ${#overrides[@]} -gt 0 ]]; then
	args+=(--parameter-overrides "${overrides[@]}")
fi
exec aws "${args[@]}"
