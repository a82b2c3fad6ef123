-- Argo CD health of a jobwarden JobRun or Export: Succeeded is Healthy, Failed and
-- Cancelled are Degraded (the run ended without doing its work), anything else is
-- Progressing. A status the operator has not caught up with yet is Progressing too.
local hs = {}
if obj.status == nil or obj.status.phase == nil then
  hs.status = "Progressing"
  hs.message = "waiting for the jobwarden operator"
  return hs
end
if obj.metadata.generation ~= nil and obj.status.observedGeneration ~= nil
    and obj.status.observedGeneration < obj.metadata.generation then
  hs.status = "Progressing"
  hs.message = "the operator has not yet seen the latest change"
  return hs
end
local phase = obj.status.phase
local detail = obj.status.message or ""
if phase == "Succeeded" then
  hs.status = "Healthy"
elseif phase == "Failed" or phase == "Cancelled" then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
if detail ~= "" then
  hs.message = phase .. ": " .. detail
else
  hs.message = phase
end
return hs
