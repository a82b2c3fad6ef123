"""jobwarden's API: pydantic models of the four kinds, the single source of the CRDs.

Import the models from their modules (`from jobwarden.api.jobrun import JobRun`):
this package imports nothing itself, so the kubectl plugin can use the vocabulary in
`constants` and `enums` without pydantic (the plugin's install has none of the
operator's dependencies). Parse what the API server stored with
`ScheduledJobSpec.model_validate(body["spec"])` and write status with
`status.to_k8s()`. `python -m jobwarden.api.crdgen` turns these models into crds/.
"""
