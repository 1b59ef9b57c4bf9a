"""The other process of the two-process RabbitMQ tests.

``python -m tests.servers.rabbit_peer publish URL TOPIC COUNT``: casts COUNT messages {"i": n}.
``python -m tests.servers.rabbit_peer consume URL TOPIC SECONDS_PER_MESSAGE``: prints ``ready``,
then one line ``handled <i> <redelivered-id?>`` per message after handling it, until killed.
"""

from __future__ import annotations

import sys
import time

from allotment.servers.transport import Message, open_transport


def main(argv: list[str]) -> int:
    mode, url, topic, arg = argv
    transport = open_transport(url)
    if mode == "publish":
        for i in range(int(arg)):
            transport.cast(topic, Message("m", {"i": i}))
        transport.close()
        return 0
    pause = float(arg)

    def handle(message: Message) -> None:
        print(f"started {message.payload['i']}", flush=True)
        time.sleep(pause)
        print(f"handled {message.payload['i']}", flush=True)

    transport.subscribe(topic, handle)
    print("ready", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
