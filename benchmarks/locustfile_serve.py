"""Locust users for benchmarks/serve_load.py: each posts one image to /v1/predict.

Settings come from the environment (serve_load.py sets them):
    SERVE_LOAD_IMAGE   the image file to send (raw body)
    SERVE_LOAD_RATE    requests per second per user; 0 = no wait (closed loop, capacity)

A 200 counts under "predict"; a 503 (shed by the server's bounded queue) is reported
under its own name, "shed 503", as a success: shedding is the intended answer to
overload. Anything else (other statuses, timeouts, refused connections) is a failure.

Run by hand:
    SERVE_LOAD_IMAGE=cat.png SERVE_LOAD_RATE=10 locust -f benchmarks/locustfile_serve.py \
        --headless -u 10 -r 10 -t 30s --host http://127.0.0.1:8000
"""

import os

from locust import FastHttpUser, constant, constant_throughput, task

IMAGE = open(os.environ["SERVE_LOAD_IMAGE"], "rb").read()  # noqa: SIM115
RATE = float(os.environ.get("SERVE_LOAD_RATE", "0"))
CONTENT_TYPE = "image/jpeg" if IMAGE[:2] == b"\xff\xd8" else "image/png"


class ImageClient(FastHttpUser):
    wait_time = constant_throughput(RATE) if RATE > 0 else constant(0)
    connection_timeout = 10.0
    network_timeout = 10.0

    @task
    def predict(self) -> None:
        with self.client.post(
            "/v1/predict",
            data=IMAGE,
            headers={"Content-Type": CONTENT_TYPE},
            catch_response=True,
            name="predict",
        ) as response:
            if response.status_code == 200:
                response.success()
            elif response.status_code == 503:
                response.request_meta["name"] = "shed 503"
                response.success()
            else:
                response.failure(f"HTTP {response.status_code}")
