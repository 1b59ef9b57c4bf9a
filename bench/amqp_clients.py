"""Casts per second over loopback RabbitMQ with pika, kombu and aio-pika (the choice in README, "Messaging").

Not part of the package: run it in a scratch virtualenv that has the three libraries,
    python -m venv /tmp/mq && /tmp/mq/bin/pip install pika kombu aio-pika
    for lib in pika kombu aio-pika; do /tmp/mq/bin/python bench/amqp_clients.py $lib 20000; done
Each publishes N persistent ~110-byte messages to a durable queue, then consumes and acks them
(prefetch 100) on a second connection, and prints both rates.
"""
import asyncio
import os
import sys
import time
N = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
URL = os.environ.get("ALLOTMENT_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/%2F")
body = b'{"method":"build","payload":{"instance":"8c1b6d1e-0000-4000-8000-000000000000","attempt":1},"id":"x","sent_at":1.0}'

def pika_bench():
    import pika
    params = pika.URLParameters(URL)
    c = pika.BlockingConnection(params); ch = c.channel()
    ch.queue_declare("mqb.pika", durable=True); ch.queue_purge("mqb.pika")
    props = pika.BasicProperties(delivery_mode=2)
    t = time.perf_counter()
    for _ in range(N):
        ch.basic_publish("", "mqb.pika", body, props)
    pub = time.perf_counter() - t
    c2 = pika.BlockingConnection(params); ch2 = c2.channel(); ch2.basic_qos(prefetch_count=100)
    got = 0; t = time.perf_counter()
    for m, p, b in ch2.consume("mqb.pika"):
        ch2.basic_ack(m.delivery_tag); got += 1
        if got == N: break
    con = time.perf_counter() - t
    ch2.cancel(); c2.close(); c.close()
    return pub, con

def kombu_bench():
    from kombu import Connection, Queue, Exchange
    with Connection(URL) as c:
        q = Queue("mqb.kombu", exchange=Exchange("", type="direct"), routing_key="mqb.kombu", durable=True)
        ch = c.channel(); q(ch).declare(); q(ch).purge()
        prod = c.Producer(serializer=None)
        t = time.perf_counter()
        for _ in range(N):
            prod.publish(body, routing_key="mqb.kombu", delivery_mode=2, content_type="application/json", content_encoding="binary")
        pub = time.perf_counter() - t
    with Connection(URL) as c:
        got = [0]
        def cb(b, m):
            m.ack(); got[0] += 1
        with c.Consumer(q, callbacks=[cb], prefetch_count=100, accept=["application/json"]):
            t = time.perf_counter()
            while got[0] < N:
                c.drain_events(timeout=10)
            con = time.perf_counter() - t
    return pub, con

def aiopika_bench():
    import aio_pika
    async def main():
        c = await aio_pika.connect(URL); ch = await c.channel(publisher_confirms=False)
        q = await ch.declare_queue("mqb.aio", durable=True); await q.purge()
        t = time.perf_counter()
        for _ in range(N):
            await ch.default_exchange.publish(aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), routing_key="mqb.aio")
        pub = time.perf_counter() - t
        c2 = await aio_pika.connect(URL); ch2 = await c2.channel(); await ch2.set_qos(prefetch_count=100)
        q2 = await ch2.declare_queue("mqb.aio", durable=True)
        got = 0; t = time.perf_counter()
        async with q2.iterator() as it:
            async for m in it:
                await m.ack(); got += 1
                if got == N: break
        con = time.perf_counter() - t
        await c2.close(); await c.close()
        return pub, con
    return asyncio.run(main())

fn = {"pika": pika_bench, "kombu": kombu_bench, "aio-pika": aiopika_bench}[sys.argv[1]]
pub, con = fn()
print(f"{sys.argv[1]}: publish {N/pub:,.0f}/s  consume+ack {N/con:,.0f}/s")
