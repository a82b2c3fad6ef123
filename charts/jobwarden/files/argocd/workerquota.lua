-- Argo CD health of a jobwarden WorkerQuota: Healthy once the operator applies it.
local hs = {}
if obj.status ~= nil and obj.status.observedGeneration ~= nil
    and obj.metadata.generation ~= nil
    and obj.status.observedGeneration >= obj.metadata.generation then
  hs.status = "Healthy"
  hs.message = string.format("%d/%d running, %d queued",
    obj.status.running or 0, obj.spec.maxRunning or 0, obj.status.queued or 0)
  return hs
end
hs.status = "Progressing"
hs.message = "waiting for the jobwarden operator to apply the quota"
return hs
