-- Argo CD health of a jobwarden ScheduledJob: Active and Completed are Healthy,
-- Suspended is Suspended, Cancelled or an invalid schedule is Degraded.
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
if obj.status.conditions ~= nil then
  for _, condition in ipairs(obj.status.conditions) do
    if condition.type == "Stalled" and condition.status == "True" then
      hs.status = "Degraded"
      hs.message = condition.reason .. ": " .. (condition.message or "")
      return hs
    end
  end
end
local phase = obj.status.phase
if phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = "paused (spec.suspend)"
elseif phase == "Cancelled" then
  hs.status = "Degraded"
  hs.message = "cancelled: the schedule has ended"
else
  hs.status = "Healthy"
  if obj.status.nextScheduleTime ~= nil then
    hs.message = phase .. "; next run " .. obj.status.nextScheduleTime
  else
    hs.message = phase
  end
end
return hs
