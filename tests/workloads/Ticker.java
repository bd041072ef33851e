// java Ticker.java ROUNDS INTERVAL_MS
//
// A Java program run straight from its source, as users do: a non-blocking server on a NIO
// Selector (epoll underneath) in one thread, a blocking client in the main thread. Each round the
// client sends a number and prints the server's running total; the JVM's own threads, its Unix
// socket and its perf-data file come along. The output must equal an uninterrupted run's.
import java.io.*;
import java.net.*;
import java.nio.ByteBuffer;
import java.nio.channels.*;
import java.nio.charset.StandardCharsets;

public class Ticker {
    public static void main(String[] args) throws Exception {
        int rounds = Integer.parseInt(args[0]), interval = Integer.parseInt(args[1]);
        Selector selector = Selector.open();
        ServerSocketChannel server = ServerSocketChannel.open();
        server.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
        server.configureBlocking(false);
        server.register(selector, SelectionKey.OP_ACCEPT);
        int port = ((InetSocketAddress) server.getLocalAddress()).getPort();
        Thread serving = new Thread(() -> serve(selector));
        serving.setDaemon(true);
        serving.start();
        try (Socket client = new Socket(InetAddress.getLoopbackAddress(), port)) {
            Writer out = new OutputStreamWriter(client.getOutputStream(), StandardCharsets.US_ASCII);
            BufferedReader in = new BufferedReader(new InputStreamReader(client.getInputStream(), StandardCharsets.US_ASCII));
            for (int n = 1; n <= rounds; n++) {
                out.write(n + "\n");
                out.flush();
                System.out.println("round " + n + ": " + in.readLine());
                Thread.sleep(interval);
            }
        }
        System.out.println("done");
    }

    private static void serve(Selector selector) {
        long total = 0;
        StringBuilder pending = new StringBuilder();
        ByteBuffer buffer = ByteBuffer.allocate(4096);
        try {
            while (true) {
                selector.select();
                for (SelectionKey key : selector.selectedKeys()) {
                    if (key.isAcceptable()) {
                        SocketChannel c = ((ServerSocketChannel) key.channel()).accept();
                        c.configureBlocking(false);
                        c.register(selector, SelectionKey.OP_READ);
                    } else if (key.isReadable()) {
                        SocketChannel c = (SocketChannel) key.channel();
                        buffer.clear();
                        if (c.read(buffer) < 0) { c.close(); continue; }
                        pending.append(new String(buffer.array(), 0, buffer.position(), StandardCharsets.US_ASCII));
                        int nl;
                        while ((nl = pending.indexOf("\n")) >= 0) {
                            total += Long.parseLong(pending.substring(0, nl));
                            pending.delete(0, nl + 1);
                            c.write(ByteBuffer.wrap(("total " + total + "\n").getBytes(StandardCharsets.US_ASCII)));
                        }
                    }
                }
                selector.selectedKeys().clear();
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
