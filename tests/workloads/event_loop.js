// node event_loop.js OUTFILE TICKS INTERVAL_MS
//
// Node.js's event loop (libuv: epoll instances, eventfds, pipes, a thread pool): a timer ticks
// into OUTFILE (the checkpoint lands there), each tick also passing through the thread pool (a
// file read) and a promise; then "done".
'use strict';
const fs = require('fs');
const [output, ticks, interval] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const out = fs.openSync(output, 'a');
let i = 0;
const timer = setInterval(() => {
    i++;
    fs.readFile(__filename, (err, text) => {
        if (err || text.length === 0) { fs.writeSync(out, `tick ${i} FAILED to read\n`); process.exit(1); }
    });
    Promise.resolve(i).then((n) => {
        fs.writeSync(out, `tick ${n}\n`);
        if (n === ticks) {
            clearInterval(timer);
            setImmediate(() => fs.writeSync(out, 'done\n'));
        }
    });
}, interval);
