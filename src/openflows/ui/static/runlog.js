// What a run did, read from its log entries (already redacted by the API): the visits of each state (start,
// end, input, output, status), the status of each state for colouring the graph (done, running, failed,
// canceled; absent = not reached), and the latest transfer progress an action reported
// (details.files_transferred / files / bytes_transferred of ActionPolled / ActionCompleted entries).

export function analyseLog(entries) {
  const visits = [];
  const open = new Map();
  const statuses = {};
  let transfer = null;
  for (const entry of entries) {
    const details = entry.details || {};
    const name = details.state_name;
    const code = entry.code || "";
    if (name && code.endsWith("Started") && code !== "FlowStarted") {
      const visit = { name, type: details.state_type, start: entry.time, end: null, input: details.input, output: undefined, status: "running" };
      visits.push(visit);
      open.set(name, visit);
      statuses[name] = "running";
    } else if (name && code.endsWith("Completed")) {
      const visit = open.get(name);
      if (visit) {
        visit.end = entry.time;
        visit.output = details.output;
        visit.status = "done";
        open.delete(name);
      }
      statuses[name] = "done";
    } else if (name && (code === "ActionFailed" || code === "ExceptionCaught" || code === "FlowFailed")) {
      const visit = open.get(name);
      if (visit) {
        visit.end = entry.time;
        visit.output = details.output ?? details.cause ?? details.error;
        visit.status = "failed";
        open.delete(name);
      }
      statuses[name] = "failed";
    }
    if (code === "ActionPolled" || code === "ActionCompleted") {
      const info = details.output && details.output.details;
      if (info && (info.files_transferred !== undefined || info.bytes_transferred !== undefined)) {
        transfer = { state: name, time: entry.time, ...info };
      }
    }
    if (code === "FlowCanceled" || code === "FlowFailed") {
      for (const [stateName, visit] of open) {
        visit.end = entry.time;
        visit.status = code === "FlowCanceled" ? "canceled" : "failed";
        statuses[stateName] = visit.status;
      }
      open.clear();
    }
  }
  return { visits, statuses, transfer };
}

