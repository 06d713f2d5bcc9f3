// Preloaded into every app process when BENCH_PROFILE_DIR is set (NODE_OPTIONS=--require ...; Node 20 does not
// allow --cpu-prof there): profiles the whole process life and writes <dir>/<script>-<pid>.cpuprofile at exit.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const inspector = require('node:inspector');

const dir = process.env.BENCH_PROFILE_DIR;
if (dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.setSamplingInterval', { interval: 500 });
  session.post('Profiler.start');
  const name =
    path.basename(path.dirname(path.dirname(process.argv[1] || 'node'))) +
    '-' +
    path.basename(process.argv[1] || 'node', '.js');
  process.on('exit', () => {
    // The in-process inspector session answers synchronously, so this completes inside the exit handler.
    session.post('Profiler.stop', (err, result) => {
      if (!err)
        fs.writeFileSync(path.join(dir, `${name}-${process.pid}.cpuprofile`), JSON.stringify(result.profile));
    });
  });
}
