# Tukilinja gateway image.
#   docker build -t tukilinja .
#   docker run --rm -p 8080:8080 tukilinja
# See docs/operations.md for TLS, TURN and UDP media.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TUKILINJA_SECRET_KEY_FILE=/var/lib/tukilinja/signing.key \
    TUKILINJA_PUBLIC_URL=http://localhost:8080 \
    TUKILINJA_DEMO_LINE=false

WORKDIR /src
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY signaling ./signaling
COPY media ./media
COPY rooms ./rooms
COPY web ./web
RUN pip install --no-cache-dir . \
    && rm -rf /src

RUN groupadd --system --gid 10001 tukilinja \
    && useradd --system --uid 10001 --gid tukilinja --home-dir /var/lib/tukilinja \
        --shell /usr/sbin/nologin tukilinja \
    && install -d -o tukilinja -g tukilinja -m 0700 /var/lib/tukilinja \
    && install -d -m 0755 /etc/tukilinja
COPY gateway/sample-config.toml /etc/tukilinja/config.toml

USER tukilinja:tukilinja
WORKDIR /var/lib/tukilinja
VOLUME ["/var/lib/tukilinja"]

EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status == 200 else 1)"]

CMD ["python", "-m", "gateway", "--config", "/etc/tukilinja/config.toml", "serve", "--host", "0.0.0.0"]
