// The ETL Control Center (seeds 000 and 003): connectivity, automatic and manual ETL with the
// gaps table and the live log, the execution history with its detail, and the statistics.
// Plain DOM, no framework: every element is built with `h()`, which never parses HTML, so
// nothing the server returns (store names, error messages) can become markup.
//
// One module per panel: connectivity.js, scheduler.js (automatic ETL), gaps.js (the gaps table
// and the run form), logs.js (the live log), history.js, detail.js, stats.js; shell.js signs
// in, switches tabs and languages, runs the timers and wires the controls; errors.js, dom.js,
// badges.js and state.js are what they share.

import { start } from "./shell.js";

start();
