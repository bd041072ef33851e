// timers.js ROUNDS INTERVAL_MS
//
// Node.js: a setInterval timer drives rounds; each round the client sends a line to a local TCP
// server, which acknowledges the bytes it has had so far, and the round is printed once the
// answer is in. libuv holds an epoll instance, eventfds, pipes, a listening socket and a
// connection; a checkpoint catches them mid-run, and the output must equal an uninterrupted run's.
const net = require('net');
const rounds = Number(process.argv[2]);
const interval = Number(process.argv[3]);
let received = 0;
const server = net.createServer(socket => {
  socket.on('data', data => {
    received += data.length;
    socket.write(`ack ${received}\n`);
  });
});
server.listen(0, '127.0.0.1', () => {
  const client = net.connect(server.address().port, '127.0.0.1');
  let round = 0, waiting = false, pending = '';
  client.on('data', data => {
    pending += data.toString();
    if (!pending.endsWith('\n')) return;
    console.log(`round ${round}: ${pending.trim()}`);
    pending = '';
    waiting = false;
    if (round >= rounds) {
      clearInterval(timer);
      client.end();
      server.close();
      console.log('done');
    }
  });
  const timer = setInterval(() => {
    if (waiting || round >= rounds) return;
    round++;
    waiting = true;
    client.write(`round ${round}\n`);
  }, interval);
});
