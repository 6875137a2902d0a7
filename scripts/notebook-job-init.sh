# The initialization script of a SageMaker notebook job that runs an endpoint-runbook notebook (00_scan or any
# step). The job sources it in its own shell before the notebook runs, so it never exits and never sets -e.
#
# It installs the runbook from the wheel `endpoint-runbook schedule` uploads beside the notebook (pip leaves every
# dependency the image already satisfies as it is: nothing the image ships is upgraded) and registers the kernel
# the job asks for, `endpoint-runbook`, on the image's own Python.
_erb_input="${SM_EXECUTION_INPUT_PATH:-/opt/ml/input/data/sagemaker_headless_execution_pipelinestep}"
_erb_wheel="$(ls "$_erb_input"/endpoint_runbook-*.whl 2>/dev/null | head -n 1)"
if [ -z "$_erb_wheel" ]; then
    echo "endpoint-runbook: no endpoint_runbook-*.whl in $_erb_input; the notebook job cannot import the runbook" >&2
else
    python3 -m pip install --quiet --no-input "$_erb_wheel" \
        && python3 -m ipykernel install --sys-prefix --name endpoint-runbook --display-name endpoint-runbook \
        && echo "endpoint-runbook: installed $(basename "$_erb_wheel") and its kernel"
fi
unset _erb_input _erb_wheel
