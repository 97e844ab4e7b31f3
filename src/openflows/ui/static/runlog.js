// What a run did, read from its log entries (already redacted by the API): the visits of each state (start,
// end, input, output, status), the status of each state for colouring the graph (done, running, failed,
// canceled; absent = not reached), and the latest transfer progress an action reported
// (details.files_transferred / files / bytes_transferred of ActionPolled / ActionCompleted entries), the
// run's input (FlowStarted), the transitions taken ([from, to] pairs of consecutive visits), and the retry
// under way, if any: the last `…Retrying` entry (a Retry rule, or an action provider the engine could not
// reach: ActionProviderRetrying) of a state that has not finished since.

export function analyseLog(entries) {
  const visits = [];
  const open = new Map();
  const statuses = {};
  let transfer = null;
  let retrying = null;
  let input;
  for (const entry of entries) {
    const details = entry.details || {};
    const name = details.state_name;
    const code = entry.code || "";
    if (code.endsWith("Retrying")) {
      retrying = { state: name, time: entry.time, code, description: entry.description || "" };
    } else if (retrying && (code.startsWith("Flow") || name === retrying.state)) {
      retrying = null; // the state moved on (or the run ended)
    }
    if (code === "FlowStarted") input = details.input;
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
  const taken = visits.slice(1).map((visit, index) => [visits[index].name, visit.name]);
  return { visits, statuses, transfer, input, taken, retrying };
}

// The analysis as shown for a run in `runStatus`: while the run is INACTIVE, the state it stopped at is
// "waiting" (for a person: a consent, a resume), not "running".
export function shownAnalysis(analysis, runStatus) {
  if (runStatus !== "INACTIVE") return analysis;
  const waiting = (status) => (status === "running" ? "waiting" : status);
  const statuses = Object.fromEntries(Object.entries(analysis.statuses).map(([name, status]) => [name, waiting(status)]));
  const visits = analysis.visits.map((visit) => ({ ...visit, status: waiting(visit.status) }));
  return { ...analysis, statuses, visits };
}

