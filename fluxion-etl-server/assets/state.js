// What the panels share: the last answers they drew and the log viewer's position.

export const state = {
  scheduler: null,
  gaps: [],
  connectivity: null,
  historyOffset: 0,
  historyLimit: 50,
  historyRows: [],
  stats: null,
  logCursor: 0,
  logCount: 0,
  logExecution: null,
  logMode: "polling",
  logAbort: null,
  running: false,
};
