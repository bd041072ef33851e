"""asyncio_echo.py ROUNDS INTERVAL_MS

An asyncio TCP server and a client in one process: every INTERVAL_MS the client sends a line,
the server answers with a transformed line, and the client prints "round N: ANSWER". The event
loop holds an epoll instance, a self-pipe socket pair, a listening socket and a connection, so a
checkpoint catches all of them mid-conversation; the output must equal an uninterrupted run's.
"""
import asyncio
import sys


async def handle(reader, writer):
    total = 0
    while True:
        line = await reader.readline()
        if not line:
            break
        n = int(line.split()[1])
        total += n
        writer.write(f"ack {n} total {total}\n".encode())
        await writer.drain()
    writer.close()


async def main(rounds, interval):
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for n in range(1, rounds + 1):
        writer.write(f"value {n}\n".encode())
        await writer.drain()
        answer = (await reader.readline()).decode().strip()
        print(f"round {n}: {answer}", flush=True)
        await asyncio.sleep(interval / 1000)
    writer.close()
    await writer.wait_closed()
    server.close()
    await server.wait_closed()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2])))
